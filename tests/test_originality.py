"""course_lib.grading.originality: the instructor's own solutions are never flagged, copies of the
reference are, with or without their docstrings and comments, and so is any use of it."""

import inspect
import json
import re
from pathlib import Path

import pytest

from course_lib import hmm, language_model, lstm, markov, rnn, tasks
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


def near_copies():
    """Copies of reference functions with 0 to 6 of their tokens changed: similarities on both
    sides of the threshold."""
    for fn in (lstm.lstm_step_backward, tasks.adding_problem, language_model.stream_batch):
        src = strip_prose(inspect.getsource(fn)).replace(fn.__name__, "mine")
        opening = [m.end() for m in re.finditer(r"\(", src)]
        for edits in range(5):                           # two tokens more per edit
            out = src
            for at in sorted(opening[1:1 + edits], reverse=True):
                out = out[:at] + "0 + " + out[at:]
            yield out


def test_the_quick_bounds_change_no_verdict(monkeypatch):
    """reference_use skips the full similarity when difflib's quick upper bounds already fall
    short of the threshold. Oracle: the same answers with the bounds disabled (always 1)."""
    import difflib

    from course_lib.grading import originality

    sources = [source for _, source, _ in CELLS] + list(near_copies())
    quick = []
    for source in sources:
        originality._reference_use.cache_clear()
        quick.append(reference_use(source))
    monkeypatch.setattr(difflib.SequenceMatcher, "real_quick_ratio", lambda self: 1.0)
    monkeypatch.setattr(difflib.SequenceMatcher, "quick_ratio", lambda self: 1.0)
    full = []
    for source in sources:
        originality._reference_use.cache_clear()
        full.append(reference_use(source))
    originality._reference_use.cache_clear()
    assert quick == full
    copies = [any("is a copy" in r for r in reasons) for reasons in quick[len(CELLS):]]
    assert any(copies) and not all(copies), "the near copies fall on both sides of the threshold"


def test_a_remembered_verdict_is_a_new_list_each_time():
    src = inspect.getsource(hmm.viterbi)
    first = reference_use(src)
    first.append("changed by the caller")
    assert reference_use(src) == first[:-1] and first[:-1]


EDGE_CASES = [
    "def f(x):\r\n    return x\r\n",                                    # Windows line endings
    "def f(x):\r    return x\r",                                        # old Mac line endings
    "if True:\n\tdef g(\n\t\ty):\n\t\treturn 'é' + y  # ünïcode\n",  # tabs, non-ASCII, nested
    "x = 1\n\x0cdef h():\n    return [\n        1,\n    ]",               # form feed, no final newline
    "class C:\n    def m(self): return (1 +\n                          2)\n",
]


def all_sources():
    """(source, every node checked?): the reference modules (their functions and classes, what
    originality cuts out of them), the solutions' answer cells and the edge cases (every node)."""
    from course_lib.grading.originality import REFERENCE_MODULES
    for name in REFERENCE_MODULES:
        yield (REPO / "course_lib" / f"{name}.py").read_text(encoding="utf-8"), False
    yield from ((source, True) for _, source, _ in CELLS)
    yield from ((source, True) for source in EDGE_CASES)


def test_segments_are_those_of_the_standard_library():
    """originality.segment, from lines split once, against ast.get_source_segment(padded=True)
    and the parser's own line splitting, on the reference modules, the solutions' answer cells
    and awkward line endings, tabs, form feeds and non-ASCII text."""
    import ast

    from course_lib.grading.originality import segment, source_lines

    definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    nodes = 0
    for source, every_node in all_sources():
        lines = source_lines(source)
        assert lines == ast._splitlines_no_ff(source)
        for node in ast.walk(ast.parse(source)):
            if getattr(node, "end_lineno", None) is not None and (every_node or isinstance(node, definitions)):
                assert segment(lines, node) == ast.get_source_segment(source, node, padded=True)
                nodes += 1
    assert nodes > 2_000
