"""Every notebook in notebooks/ and solutions/ runs top to bottom, headless, without an
error and without writing to stderr (a warning in a lecture is a defect too)."""

import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(REPO.glob("notebooks/*.ipynb")) + sorted(REPO.glob("solutions/*/*.ipynb"))
TIMEOUT = int(os.environ.get("COURSE_NOTEBOOK_TIMEOUT", "900"))


def run_notebook(path):
    """Execute a copy of the notebook in its own folder; returns (executed notebook, seconds)."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - t0


def test_there_are_notebooks():
    assert any(p.parent.name == "notebooks" for p in NOTEBOOKS)
    assert any(p.parent.parent.name == "solutions" for p in NOTEBOOKS)


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(REPO)) for p in NOTEBOOKS])
def test_notebook_runs_clean(path):
    nb, _ = run_notebook(path)
    problems = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                problems.append(f"cell {cell.get('id')}: {out.ename}: {out.evalue}")
            elif out.output_type == "stream" and out.name == "stderr":
                problems.append(f"cell {cell.get('id')} wrote to stderr: {out.text[:300]}")
    assert not problems, "\n".join(problems)
