"""Shared fixtures. Tests never touch the home folder: Jupyter, IPython and matplotlib
state goes to a per-session temporary folder."""

import os
import tempfile

import numpy as np
import pytest

_STATE = tempfile.mkdtemp(prefix="course-test-state-")
for _var, _sub in [
    ("JUPYTER_CONFIG_DIR", "jupyter-config"),
    ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
    ("IPYTHONDIR", "ipython"),
    ("MPLCONFIGDIR", "matplotlib"),
]:
    os.environ.setdefault(_var, os.path.join(_STATE, _sub))
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def rng():
    """A fresh, seeded generator per test: tests are independent and repeatable."""
    return np.random.default_rng(0)
