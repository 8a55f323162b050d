"""Shared fixtures. Tests never touch the home folder: HOME and every Jupyter, IPython and
matplotlib state folder point into a temporary folder for the whole session, and every
subprocess (kernels, nbgrader, JupyterLab) inherits that."""

import os
import tempfile

import numpy as np
import pytest

_STATE = tempfile.mkdtemp(prefix="course-test-state-")
for _var, _sub in [
    ("HOME", "home"),
    ("JUPYTER_CONFIG_DIR", "jupyter-config"),
    ("JUPYTER_DATA_DIR", "jupyter-data"),
    ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
    ("IPYTHONDIR", "ipython"),
    ("MPLCONFIGDIR", "matplotlib"),
]:
    os.environ[_var] = os.path.join(_STATE, _sub)
    os.makedirs(os.environ[_var], exist_ok=True)
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


@pytest.fixture
def rng():
    """A fresh, seeded generator per test: tests are independent and repeatable."""
    return np.random.default_rng(0)
