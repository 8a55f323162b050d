"""Every notebook in notebooks/ and solutions/ runs top to bottom, headless, without an
error and without writing to stderr (a warning in a lecture is a defect too).

Lectures are executed through the website's cache (course_lib.site.executed) with
fresh_since=RUN_START: every run executes each lecture anew (with matplotlib's inline backend,
as in JupyterLab), and the website test of the same run (tests/test_site.py) shows those
executions instead of running every lecture twice.

Notebooks run in warm kernels (execute_notebook's default), forked from a process with NumPy,
SciPy and torch loaded; the test below holds such a kernel to what a cold kernel gives."""

import os
import re
import time
from pathlib import Path

import pytest

from course_lib.execution import execute_notebook, notebook_problems
from course_lib.site import executed

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(REPO.glob("notebooks/*.ipynb")) + sorted(REPO.glob("solutions/*/*.ipynb"))
TIMEOUT = int(os.environ.get("COURSE_NOTEBOOK_TIMEOUT", "900"))
# When this run collected its tests. Every xdist worker imports this module while collecting,
# and no test starts before all workers have collected, so an execution started at or after
# RUN_START (in any process) belongs to this run; cache entries of earlier runs are older.
RUN_START = time.time()


def test_there_are_notebooks():
    assert any(p.parent.name == "notebooks" for p in NOTEBOOKS)
    assert any(p.parent.parent.name == "solutions" for p in NOTEBOOKS)


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(REPO)) for p in NOTEBOOKS])
def test_notebook_runs_clean(path):
    if path.parent.name == "notebooks":
        nb = executed(path, fresh_since=RUN_START, timeout=TIMEOUT)
    else:
        nb, _ = execute_notebook(path, timeout=TIMEOUT)
    problems = notebook_problems(nb)
    assert not problems, "\n".join(problems)


def test_problems_are_detected(tmp_path):
    """The check above can fail: a notebook with an error, a warning and a loop that left its
    progress bar short (drawn red, like a failure) is caught; a loop that stops on purpose and
    closes its bar at its total is not."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    broken_off = "from tqdm.auto import tqdm\nfor i in tqdm(range(10)):\n    if i == 3:\n        break"
    on_purpose = ("with tqdm(total=10) as bar:\n    for i in range(10):\n        bar.update(1)\n"
                  "        if i == 3:\n            bar.total = bar.n\n            break")
    nb = new_notebook(cells=[new_code_cell("import warnings; warnings.warn('careful')"),
                             new_code_cell(broken_off), new_code_cell(on_purpose),
                             new_code_cell("1 / 0")])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    for i, c in enumerate(nb.cells):
        c["id"] = f"c{i}"
    nbformat.write(nb, tmp_path / "bad.ipynb")
    executed, _ = execute_notebook(tmp_path / "bad.ipynb", timeout=60)
    problems = notebook_problems(executed)
    assert len(problems) == 3, problems
    assert "stderr" in problems[0] and "ZeroDivisionError" in problems[1]
    assert "progress bar ended red at 3 of 10" in problems[2]


# What a notebook sees of its kernel. The cold kernel (warm=False, an ordinary
# `python -m ipykernel_launcher`) is the oracle for the warm one the suite runs notebooks in.
PROBE = [
    "import json, os, sys, warnings\n"
    "first = {'torch loaded before any import': 'torch' in sys.modules,\n"
    "         'matplotlib loaded before any import': 'matplotlib' in sys.modules}",
    "import matplotlib, matplotlib.pyplot as plt\nfrom tqdm.auto import tqdm\nimport numpy as np, torch\n"
    "facts = {'cwd': os.getcwd(), 'path': sys.path, 'backend': matplotlib.get_backend(),\n"
    "         'tqdm': [c.__module__ for c in tqdm.__mro__], 'threads': [os.environ.get(v) for v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS')],\n"
    "         'torch threads': torch.get_num_threads(), 'uid': os.getuid(), 'home': os.environ.get('HOME'),\n"
    "         'name': __name__, 'argv0': os.path.basename(sys.argv[0]), 'pgid is pid': os.getpgid(0) == os.getpid()}\n"
    "print(json.dumps([first, facts]))",
    "plt.plot([1, 3, 2]); plt.show()",
    "warnings.warn('careful')",
]


def probe(tmp_path, warm):
    import json

    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from course_lib.site import _inline_plots

    (tmp_path / "here").mkdir(exist_ok=True)
    path = tmp_path / "here" / "probe.ipynb"
    nb = new_notebook(cells=[new_code_cell(src, id=f"c{i}") for i, src in enumerate(PROBE)])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(nb, path)
    with _inline_plots():                                # as the lectures run (course_lib.site)
        executed, _ = execute_notebook(path, timeout=120, warm=warm)
    outputs = [c.outputs for c in executed.cells]
    first, facts = json.loads(outputs[1][0]["text"])
    kinds = [sorted(k for o in out for k in (o.get("data") or {o["output_type"] + ":" + o.get("name", ""): 0}))
             for out in outputs]
    problems = [re.sub(r"ipykernel_\d+", "ipykernel_<pid>", p) for p in notebook_problems(executed)]
    return first, facts, kinds, problems


def test_a_warm_kernel_is_the_kernel_a_cold_start_gives(tmp_path):
    """The suite's notebooks run in kernels forked from a loaded one. They must see what a cold
    kernel sees: the notebook's folder, the same sys.path (not the server's folder), the inline
    backend, tqdm's widget bar, the threads the environment asks for, the same user and home,
    a plot shown and a warning on stderr; the only difference is that torch is loaded already."""
    first_warm, warm, kinds_warm, problems_warm = probe(tmp_path, warm=True)
    first_cold, cold, kinds_cold, problems_cold = probe(tmp_path, warm=False)
    assert first_cold == {"torch loaded before any import": False, "matplotlib loaded before any import": False}
    assert first_warm == {"torch loaded before any import": True, "matplotlib loaded before any import": False}, \
        "the kernel was not forked from the loaded server"
    assert warm == cold
    assert cold["cwd"] == str(tmp_path / "here") and cold["backend"].endswith("backend_inline")
    assert "tqdm.notebook" in cold["tqdm"] and cold["threads"] == [os.environ["OMP_NUM_THREADS"]] * 2
    assert kinds_warm == kinds_cold and ["image/png", "text/plain"] in kinds_cold
    assert problems_warm == problems_cold and len(problems_cold) == 1 and "careful" in problems_cold[0]


def test_the_warm_kernels_server_ends_with_the_process_that_started_it(tmp_path):
    """However the process that started it ends (here os._exit, which runs no clean-up), its
    server goes too: no process is left behind by a test worker or a site build."""
    import shutil
    import subprocess
    import sys

    import psutil

    script = ("import os, psutil\nfrom course_lib import execution\n"
              "assert execution._warm_kernel_manager() is not None\n"
              "print(*[p.pid for p in psutil.Process().children() if 'kernel_server' in ' '.join(p.cmdline())])\n"
              "print(os.path.dirname(execution._WARM['specs']))\n"
              "os._exit(0)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    pid, folder = out.stdout.split()
    deadline = time.time() + 30
    try:
        while psutil.pid_exists(int(pid)) and psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE:
            assert time.time() < deadline, "the server outlived the process that started it"
            time.sleep(0.1)
    finally:
        shutil.rmtree(folder, ignore_errors=True)            # what os._exit left undone
