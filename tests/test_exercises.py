"""The exercises that close every lecture (course_lib.exercises), run cell by cell.

For each lecture and each exercise k, the lecture's own cells `ex<k>-stub` and `ex<k>-check`
are executed in a fresh namespace:
- untouched, the check says "not attempted yet" and does not fail;
- with the reference solution from tests/exercise_solutions/<lecture>.py in place of the stub,
  it passes;
- with each typical wrong answer listed there, it fails with a GradingError (a check that
  cannot fail is a defect).
"""

import contextlib
import importlib
import io
import re
from pathlib import Path

import nbformat
import pytest

from course_lib.grading import GradingError

REPO = Path(__file__).resolve().parents[1]
LECTURES = sorted(REPO.glob("notebooks/*.ipynb"))
CELL = re.compile(r"ex(\d+)-(stub|check)$")


def exercise_cells(path):
    """{k: {"stub": source, "check": source}} from a lecture's cell ids."""
    found = {}
    for cell in nbformat.read(path, as_version=4).cells:
        m = CELL.match(cell.get("id", ""))
        if m:
            found.setdefault(int(m.group(1)), {})[m.group(2)] = cell.source
    return found


def solutions(path):
    return importlib.import_module(f"exercise_solutions.l{path.stem[:2]}").EXERCISES


def run_check(check_source, namespace):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(check_source, "<check>", "exec"), namespace)
    return out.getvalue()


@pytest.mark.parametrize("path", LECTURES, ids=[p.stem for p in LECTURES])
def test_every_lecture_ends_with_two_to_four_exercises(path):
    cells = exercise_cells(path)
    assert 2 <= len(cells) <= 4, f"{path.name}: {len(cells)} exercises"
    assert sorted(cells) == list(range(1, len(cells) + 1))
    for k, pair in cells.items():
        assert set(pair) == {"stub", "check"}, f"{path.name} exercise {k}: {sorted(pair)}"
        assert "NotImplementedError" in pair["stub"]
    assert set(solutions(path)) == set(cells), "one reference solution per exercise"


CASES = [(p, k) for p in LECTURES for k in sorted(exercise_cells(p))]


@pytest.mark.parametrize("path,k", CASES, ids=[f"{p.stem}-ex{k}" for p, k in CASES])
def test_exercise_check(path, k):
    cells = exercise_cells(path)[k]
    ref = solutions(path)[k]
    stub_ns = {}
    exec(compile(cells["stub"], "<stub>", "exec"), stub_ns)
    out = run_check(cells["check"], stub_ns)
    assert "not attempted yet" in out, out

    name = ref["solution"].__name__
    assert name in stub_ns, f"the stub defines no {name}"
    out = run_check(cells["check"], {name: ref["solution"]})
    assert "\u2714" in out and "correct" in out, out

    assert ref["wrong"], "each exercise lists at least one typical wrong answer"
    for wrong in ref["wrong"]:
        with pytest.raises(GradingError) as err:
            run_check(cells["check"], {name: wrong})
        assert f"Exercise {k}" in str(err.value)
