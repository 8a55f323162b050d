"""Shared fixtures. Tests never touch the home folder: HOME and every Jupyter, IPython and
matplotlib state folder point into a temporary folder for the whole session, and every
subprocess (kernels, nbgrader, JupyterLab) inherits that. The folder is removed when the
process that made it ends.

The suite runs several processes at once (xdist workers, each with its kernels) on a machine
with few cores: every process gets one BLAS/OpenMP thread, so that threads of one process do
not spin while waiting for a core held by another."""

import atexit
import gc
import os
import shutil
import tempfile

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")             # before NumPy and torch are imported

import numpy as np  # noqa: E402
import pytest  # noqa: E402

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
# The private homes of sandboxed processes that tests start directly (a graded notebook's are
# removed by SplitExecute), in a folder of their own that `nobody` can traverse but not list.
from course_lib.grading.sandbox import homes_folder  # noqa: E402

os.environ["COURSE_SANDBOX_HOMES"] = homes_folder("course-test-homes-")
for _folder in (_STATE, os.environ["COURSE_SANDBOX_HOMES"]):     # nothing of the run stays in /tmp
    atexit.register(shutil.rmtree, _folder, ignore_errors=True)
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


@pytest.fixture
def rng():
    """A fresh, seeded generator per test: tests are independent and repeatable."""
    return np.random.default_rng(0)


def pytest_collection_finish(session):
    """What collecting imported (NumPy, torch, nbgrader, the course) stays for the whole run: out of
    the collector's sight, each full collection of this process does not walk it again."""
    gc.collect()
    gc.freeze()
