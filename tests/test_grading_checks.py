"""The helpers that the assignments' test cells call (course_lib.grading): what passes, what
fails, and what the student reads. Expected values come from NumPy computed independently in
each test (argmax of the error, exact equality, the derivative of a function known in closed form)."""

import re
from pathlib import Path

import numpy as np
import pytest

from course_lib import grading as G
from course_lib import rnn as reference_rnn


def test_check_array_reports_the_largest_error_where_it_is(rng):
    expected = rng.standard_normal((3, 4))
    got = expected.copy()
    got[1, 2] += 0.5
    got[2, 0] -= 0.1
    G.check_array("A", expected.copy(), expected)                      # equal: passes
    G.check_array("A", expected + 5e-7, expected)                      # inside atol + rtol|e|
    with pytest.raises(G.GradingError) as err:
        G.check_array("A", got, expected, case="T = 4", hint="Look at row 1.")
    idx = np.unravel_index(np.argmax(np.abs(got - expected)), got.shape)
    assert f"at [{idx[0]}, {idx[1]}]" in str(err.value)
    assert "2 of 12 entries are off" in str(err.value)
    assert "(case: T = 4)" in str(err.value) and str(err.value).endswith("Look at row 1.")
    with pytest.raises(G.GradingError, match=r"A has the wrong shape \(case: c\): expected \(3, 4\), got \(4, 3\)"):
        G.check_array("A", got.T, expected, case="c")
    with pytest.raises(G.GradingError, match="A is None"):
        G.check_array("A", None, expected)


def test_same_compares_shape_and_entries_and_never_raises():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert G.same(a + 1e-7, a)
    assert not G.same(a + 1e-3, a)
    assert not G.same(a.T, a)                 # same entries set, wrong layout
    assert not G.same(a.ravel(), a)           # same entries, wrong shape
    assert not G.same("not numbers", a)
    assert not G.same(None, a)


def test_check_output_names_the_typical_mistake_it_recognises():
    expected = np.array([1.0, 2.0, 3.0])
    mistakes = [("the bias left out", expected - 1.0), ("a transposed weight", expected[::-1].copy())]
    G.check_output("h", expected.copy(), expected, mistakes, "h = tanh(a).")     # right: passes
    with pytest.raises(G.GradingError, match=r"Your h is what you get with a transposed weight\.$"):
        G.check_output("h", expected[::-1], expected, mistakes, "h = tanh(a).")
    with pytest.raises(G.GradingError, match=r"h = tanh\(a\)\.$"):                 # unrecognised
        G.check_output("h", expected * 2, expected, mistakes, "h = tanh(a).")
    assert G.mistake_hint("h", expected - 1.0, mistakes) == "Your h equals the bias left out."
    assert G.mistake_hint("h", expected, mistakes) == ""


def test_check_all_says_which_outputs_are_wrong_and_which_are_right(rng):
    names = ("dx", "dW", "db")
    expected = [rng.standard_normal((2, 3)), rng.standard_normal((3, 3)), rng.standard_normal(3)]
    G.check_all(names, [e.copy() for e in expected], expected)
    got = [expected[0] * 2, expected[1].copy(), expected[2] + 1]
    with pytest.raises(G.GradingError) as err:
        G.check_all(names, got, expected, {"dx": "dx = da W^T."}, case="N = 2")
    message = str(err.value)
    assert message.startswith("dx is wrong (case: N = 2)") and "dx = da W^T." in message
    assert "Also wrong: db." in message and "These are right: dW." in message
    with pytest.raises(G.GradingError, match="Check the factor they share") as err:
        G.check_all(names, [g * 3 for g in expected], expected, all_wrong_hint="Check the factor they share.")
    assert "These are right" not in str(err.value) and str(err.value).endswith("Check the factor they share.")
    wrong_da = tuple(2 * e for e in expected)
    with pytest.raises(G.GradingError, match=r"Your dx is what you get with da doubled\."):
        G.check_all(names, wrong_da, expected, mistakes=[("da doubled", wrong_da)])


def test_call_turns_a_students_exception_into_a_message_with_the_case():
    def broken(x):
        return x[10]

    def unfinished(x):
        raise NotImplementedError()

    with pytest.raises(G.GradingError, match=r"^broken raised IndexError: .* \(case: N = 2\)$"):
        G.call(broken, np.zeros(3), case="N = 2")
    with pytest.raises(G.GradingError, match="unfinished is not implemented yet"):
        G.call(unfinished, np.zeros(3))
    x = np.ones(3)
    assert G.call(lambda a: a.sum(), x) == 3.0


def test_call_refuses_a_function_that_uses_the_reference():
    def rnn_step_forward(x, h_prev, Wx, Wh, b):
        return reference_rnn.rnn_step_forward(x, h_prev, Wx, Wh, b)

    args = (np.ones((1, 2)), np.ones((1, 3)), np.ones((2, 3)), np.ones((3, 3)), np.ones(3))
    with pytest.raises(G.GradingError, match="uses the course's reference implementation"):
        G.call(rnn_step_forward, *args, forbid=(reference_rnn,))


def test_returns_checks_the_returned_tuple():
    assert G.returns((1, 2), "f", ("h", "cache")) == (1, 2)
    with pytest.raises(G.GradingError, match=re.escape(
            "f must return a tuple of 2 values (h, cache), got a tuple of 3 values (case: c)")):
        G.returns((1, 2, 3), "f", ("h", "cache"), "c")
    with pytest.raises(G.GradingError, match=r"got ndarray"):
        G.returns(np.zeros(2), "f", ("h", "cache"))


def _square(x):
    return x**2, x                        # one output and the cache


def test_finite_difference_report_is_empty_for_the_true_gradient_only(rng):
    x = rng.standard_normal((3, 2))
    assert G.finite_difference_report(_square, lambda d, cache: (2 * cache * d,), [x], ["x"]) == ""
    report = G.finite_difference_report(_square, lambda d, cache: (cache * d,), [x], ["x"])
    assert "dx (gradient of input 0 'x', shape (3, 2)) is wrong: 6 of 6 entries" in report
    assert "0.5 times the correct one" in report          # half the gradient, recognised
    report = G.finite_difference_report(_square, lambda d, cache: 1 / 0, [x], ["x"])
    assert "division by zero" in report                   # a crash becomes the report


def test_with_finite_differences_adds_the_report_to_a_failure():
    def fails():
        raise G.GradingError("dx is wrong.")

    G.with_finite_differences(lambda: None, lambda: "", "f")       # both agree: passes
    G.with_finite_differences(lambda: None, False, "f")            # hidden tests: no check
    with pytest.raises(G.GradingError, match=r"^dx is wrong\.\nThe finite-difference check of f says:\nx is off$"):
        G.with_finite_differences(fails, lambda: "x is off", "f")
    with pytest.raises(G.GradingError, match=r"^dx is wrong\.$"):
        G.with_finite_differences(fails, lambda: "", "f")
    with pytest.raises(G.GradingError, match=r"^The finite-difference check of f failed:\nx is off$"):
        G.with_finite_differences(lambda: None, lambda: "x is off", "f")


def _shown(first_line, body):
    """Run `body` as the code of a notebook cell whose first line is `first_line` (IPython keeps
    a cell's source in linecache, under the cell's file name); return the GradingError it raised
    and the lines IPython shows for it (colours removed)."""
    import linecache

    source = f"{first_line}\n{body}\n"
    name = f"<cell-{abs(hash(source))}>"
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    try:
        with pytest.raises(G.GradingError) as err:
            exec(compile(source, name, "exec"), {"G": G, "np": np})
        return err.value, [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in err.value._render_traceback_()]
    finally:
        linecache.cache.pop(name, None)


def test_a_grading_error_is_shown_as_its_message_headed_by_the_part():
    """IPython shows an exception with `_render_traceback_` as the lines it returns: the message,
    first line headed by the test cell's part, and no frame of the test or of course_lib."""
    err, lines = _shown('"""Part 3, visible: the casino."""',
                        'def _check():\n    G.check_array("gamma", np.zeros(2), np.ones(2), hint="Rows sum to 1.")\n_check()')
    assert lines == [f"GradingError: Part 3, visible: {err}"], lines
    assert "gamma is wrong" in lines[0] and lines[0].endswith("Rows sum to 1.")
    _, lines = _shown("# Part 1, hidden tests: other sizes.", 'raise G.GradingError("A is wrong.\\nsecond line")')
    assert lines == ["GradingError: Part 1, hidden tests: A is wrong.", "second line"]
    _, lines = _shown("x = 1", 'raise G.GradingError("A is wrong.")')
    assert lines == ["GradingError: A is wrong."]


A1_SOURCE = Path(__file__).resolve().parents[1] / "solutions" / "a1_markov_hmm" / "a1_markov_hmm.ipynb"

# a typical wrong estimate_transition_matrix, as edits of the solution, and the words its message must say
A1_PART1_MISTAKES = {
    "sequences joined": ([("for seq in sequences:", "for seq in [np.concatenate(sequences)]:")],
                         "the sequences joined into one"),
    "counts transposed": ([("(seq[:-1], seq[1:])", "(seq[1:], seq[:-1])")], "N[i, j] counting i following j"),
    "alpha once": ([("(row_totals + alpha * V)", "(row_totals + alpha)")], "alpha added once to each row total"),
    "columns normalised": ([("N.sum(axis=1, keepdims=True)", "N.sum(axis=0, keepdims=True)")],
                           "each column divided by its total"),
    "not normalised": ([("return (N + alpha) / (row_totals + alpha * V)", "return N + alpha")],
                       "the smoothed counts N + alpha, never divided"),
}


def _run_a1_part1(edits=(), hidden=False):
    """a1's setup cell, the solution of Part 1 with `edits`, then its visible (and hidden) test cell,
    in one namespace, as a kernel runs them; returns the GradingError raised, or None."""
    import nbformat

    cells = {c.id: c.source for c in nbformat.read(A1_SOURCE, as_version=4).cells}
    answer = cells["markov_estimate"]
    for old, new in edits:
        assert old in answer, f"{old!r} is not in the solution any more"
        answer = answer.replace(old, new)
    ns = {}
    try:
        for name in ["setup", "markov_estimate", "test_markov_visible"] + (["test_markov_hidden"] if hidden else []):
            exec(answer if name == "markov_estimate" else cells[name], ns)
    except G.GradingError as err:
        return err
    return None


@pytest.mark.parametrize("mistake", list(A1_PART1_MISTAKES))
def test_a1_part1_names_the_typical_mistake(mistake, capsys):
    edits, says = A1_PART1_MISTAKES[mistake]
    err = _run_a1_part1(edits)
    assert err is not None, f"the mistake '{mistake}' passed Part 1's visible test"
    assert f"Your A is what you get with {says}" in str(err), str(err)
    assert "Count j following i" not in str(err), "a recognised mistake replaces the general hint"


def test_a1_part1_accepts_the_solution_and_falls_back_to_the_general_hint(capsys):
    assert _run_a1_part1(hidden=True) is None           # the mistakes are computed for alpha = 0 too
    assert "Part 1, hidden tests: all checks passed" in capsys.readouterr().out
    err = _run_a1_part1([("return (N + alpha) / (row_totals + alpha * V)", "return (N + 2 * alpha) / (row_totals + 2 * alpha * V)")])
    assert "Your A is" not in str(err) and str(err).endswith("divide each row by its total plus alpha * V.")
