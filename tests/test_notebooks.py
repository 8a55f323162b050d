"""Every notebook in notebooks/ and solutions/ runs top to bottom, headless, without an
error and without writing to stderr (a warning in a lecture is a defect too).

Lectures are executed through the website's cache (course_lib.site.executed) with
fresh_since=RUN_START: every run executes each lecture anew (with matplotlib's inline backend,
as in JupyterLab), and the website test of the same run (tests/test_site.py) shows those
executions instead of running every lecture twice."""

import os
import time
from pathlib import Path

import pytest

from course_lib.course import execute_notebook, notebook_problems
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
