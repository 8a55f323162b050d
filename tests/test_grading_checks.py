"""The helpers that the assignments' test cells call (course_lib.grading): what passes, what
fails, and what the student reads. Expected values come from NumPy computed independently in
each test (argmax of the error, exact equality, the derivative of a function known in closed form)."""

import re

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
