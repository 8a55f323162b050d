"""course_lib.grading.originality: the instructor's own solutions are never flagged, copies of the
reference are, with or without their docstrings and comments, and so is any use of it."""

import inspect
import json
import re
from pathlib import Path

import pytest

from course_lib import hmm, markov, rnn
from course_lib.grading.originality import reference_use

REPO = Path(__file__).resolve().parents[1]


def answer_cells():
    for src in sorted(REPO.glob("solutions/*/*.ipynb")):
        sol = json.loads(src.read_text())
        rel = json.loads((REPO / "assignments" / src.parent.name / src.name).read_text())
        given = {c["metadata"].get("nbgrader", {}).get("grade_id"): "".join(c["source"]) for c in rel["cells"]}
        for c in sol["cells"]:
            meta = c["metadata"].get("nbgrader", {})
            if meta.get("solution") and c["cell_type"] == "code":
                yield f"{src.parent.name}:{meta['grade_id']}", "".join(c["source"]), given[meta["grade_id"]]


CELLS = list(answer_cells())


@pytest.mark.parametrize("cell", CELLS, ids=[c[0] for c in CELLS])
def test_solutions_are_their_own_work(cell):
    _, source, given = cell
    assert reference_use(source, given) == []


def strip_prose(src):
    return re.sub(r"#.*", "", re.sub(r'"""[\s\S]*?"""', "", src))


@pytest.mark.parametrize("fn,new", [(hmm.forward_algorithm, "forward_log"), (hmm.viterbi, "viterbi_path"),
                                    (markov.estimate_transition_matrix, "estimate_transition_matrix")])
def test_copies_are_flagged_with_or_without_their_prose(fn, new):
    src = inspect.getsource(fn).replace(fn.__name__, new)
    assert reference_use(src)
    assert reference_use(strip_prose(src))


def test_a_short_copy_is_flagged_by_its_text():
    src = inspect.getsource(rnn.rnn_step_forward)
    assert any("copies the text" in r for r in reference_use(src))


@pytest.mark.parametrize("code", [
    "from course_lib.hmm import forward_algorithm as f",
    "import course_lib.hmm",
    "from course_lib import hmm",
    "m = __import__('importlib').import_module('course_lib.' + 'hmm')\nx = 'course_lib.hmm'",
])
def test_use_is_flagged(code):
    assert any("uses the course's reference" in r for r in reference_use(code))


def test_allowed_helpers_are_not_flagged():
    assert reference_use("from course_lib import grading as G\nfrom course_lib.data import load_text") == []


def test_given_text_is_not_held_against_the_student():
    doc = inspect.getsource(rnn.rnn_step_forward).split('"""')[1]
    given = f'def rnn_step_forward(x, h_prev, Wx, Wh, b):\n    """{doc}"""\n    raise NotImplementedError()'
    answer = given.replace("raise NotImplementedError()", "h = np.tanh(x @ Wx + h_prev @ Wh + b)\n    return h, (x, h_prev, Wx, Wh, h)")
    assert reference_use(answer, given) == []
    assert reference_use(answer) != []
