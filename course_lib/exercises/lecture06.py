"""Checks of the exercises of lecture 06 (the LSTM).

Shape legend:
    N  batch            x       (N, D)   input at this step     Wx (D, 4H)   input-to-gates
    D  input size       h_prev  (N, H)   previous hidden state  Wh (H, 4H)   hidden-to-gates
    H  hidden size      c_prev  (N, H)   previous cell state    b  (4H,)     gate biases
                        dh, dc  (N, H)   upstream gradients     p_i, p_f, p_o (H,) peepholes

Gate blocks are stacked [i | f | g | o], as in course_lib.lstm. Exercise 1 (one step's
backward pass) is checked against course_lib.lstm.lstm_step_backward and against central
differences of L = sum(dh * h) + sum(dc * c), with (h, c) from course_lib.lstm.lstm_step_forward
(course_lib.gradcheck.check_gradient). Exercise 2 (one peephole step) is checked against the
"V" cell of course_lib.lstm_variants, run in float64 torch with the same parameters.
"""

import numpy as np
import torch
from scipy.special import expit as _sigmoid

from course_lib.exercises import attempt, exercise
from course_lib.gradcheck import check_gradient
from course_lib.grading import GradingError, check_all, returns, with_finite_differences
from course_lib.lstm import lstm_step_backward, lstm_step_forward
from course_lib.lstm_variants import VariantLSTMCell

__all__ = ["check_lstm_step_gradients", "check_peephole_lstm_step"]

INPUTS = ("x", "h_prev", "c_prev", "Wx", "Wh", "b")
GRADS = ("dx", "dh_prev", "dc_prev", "dWx", "dWh", "db")


def _cases(seed0):
    """Two random steps with distinct sizes (N, D, H all different, 4H unlike any of them),
    gates away from saturation: (case, x, h_prev, c_prev, Wx, Wh, b, rng)."""
    for seed, (N, D, H) in [(seed0, (3, 5, 4)), (seed0 + 1, (2, 3, 6))]:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((N, D))
        h_prev = np.tanh(rng.standard_normal((N, H)))
        c_prev = rng.standard_normal((N, H))
        Wx = rng.standard_normal((D, 4 * H)) / np.sqrt(D)
        Wh = rng.standard_normal((H, 4 * H)) / np.sqrt(H)
        b = 0.3 * rng.standard_normal(4 * H)
        yield f"N, D, H = {N}, {D}, {H}", x, h_prev, c_prev, Wx, Wh, b, rng


# ----------------------------------------------------------------------------- exercise 1

def _mistaken_gradients(dh, dc, cache, from_next=True, tanh_prime=True, times_f=True):
    """One step's gradients with one typical mistake (for the hints only; the oracle is the
    reference and central differences):
        from_next=False   the gradient dc arriving from c_{t+1} (through f_{t+1}) not added
        tanh_prime=False  dc_tot = dc + dh * o, the tanh'(c) of the path from h forgotten
        times_f=False     dc_prev = dc_tot, the factor f of c = f * c_prev + i * g forgotten
    """
    x, h_prev, c_prev, Wx, Wh, i, f, g, o, tanh_c = cache
    do = dh * tanh_c
    dc_tot = (dc if from_next else 0) + dh * o * ((1 - tanh_c**2) if tanh_prime else 1)
    da = np.concatenate([dc_tot * g * i * (1 - i), dc_tot * c_prev * f * (1 - f),
                         dc_tot * i * (1 - g**2), do * o * (1 - o)], axis=1)       # (N, 4H)
    return (da @ Wx.T, da @ Wh.T, dc_tot * (f if times_f else 1), x.T @ da, h_prev.T @ da,
            da.sum(axis=0))


def _check_gradients_case(lstm_step_gradients, case, inputs, dh, dc):
    """One case of exercise 1: the student's gradients against the reference, then, when they
    differ or as a second opinion, against central differences of L."""
    _, _, cache = lstm_step_forward(*inputs)
    expected = lstm_step_backward(dh, dc, cache)
    got = returns(attempt(lstm_step_gradients, *(a.copy() for a in inputs), dh.copy(), dc.copy(),
                          case=case), "lstm_step_gradients", GRADS, case)
    mistakes = [
        ("the gradient dc from the next step's cell left out: dL/dc_t has two paths, "
         "dc (from c_{t+1}, through f_{t+1}) plus dh * o * (1 - tanh(c)^2) (from h_t)",
         _mistaken_gradients(dh, dc, cache, from_next=False)),
        ("dc_prev = dL/dc_t: the cell reaches c_{t-1} through c = f * c_prev + i * g, so "
         "dc_prev = dL/dc_t * f", _mistaken_gradients(dh, dc, cache, times_f=False)),
        ("tanh'(c) forgotten on the path from h: h = o * tanh(c) gives dh * o * (1 - tanh(c)^2)",
         _mistaken_gradients(dh, dc, cache, tanh_prime=False)),
    ]

    def L(*values):
        h, c, _ = lstm_step_forward(*values)
        return np.sum(dh * h) + np.sum(dc * c)

    def finite_differences():
        if not all(np.shape(g) == np.shape(a) for g, a in zip(got, inputs)):
            return ""                              # check_all has said which shape is wrong
        report = check_gradient(L, list(inputs), list(got), names=INPUTS, raise_on_failure=False)
        return "" if report.passed else report.message()

    def compare():
        check_all(GRADS, got, expected, case=case, mistakes=mistakes,
                  all_wrong_hint="Every gradient goes through da = dL/da; start from do and "
                                 "dc_tot, then di, df, dg.")

    with_finite_differences(compare, finite_differences,
                            "your gradients against L = sum(dh * h) + sum(dc * c)")


@exercise(1, "the backward pass of one LSTM step")
def check_lstm_step_gradients(lstm_step_gradients):
    """lstm_step_gradients(x, h_prev, c_prev, Wx, Wh, b, dh, dc) -> (dx, dh_prev, dc_prev, dWx,
    dWh, db), against course_lib.lstm.lstm_step_backward and central differences."""
    for case, x, h_prev, c_prev, Wx, Wh, b, rng in _cases(0):
        dh, dc = rng.standard_normal(h_prev.shape), rng.standard_normal(c_prev.shape)
        _check_gradients_case(lstm_step_gradients, case, (x, h_prev, c_prev, Wx, Wh, b), dh, dc)
    return "all six gradients match lstm_step_backward and central differences."


# ----------------------------------------------------------------------------- exercise 2

def _peephole_step(x, h_prev, c_prev, Wx, Wh, b, p_i, p_f, p_o, o_sees="new", if_see="old"):
    """A peephole step in NumPy, right or with one mistake (for the hints only):
        o_sees="old"   the output gate peeks at c_{t-1} instead of the new cell c_t
        if_see="new"   the input and forget gates peek at the new cell (computed first without
                       peepholes) instead of c_{t-1}
        if_see="none"  no peepholes at all (the plain LSTM step)
    """
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b                                       # (N, 4H)
    g = np.tanh(a[:, 2 * H:3 * H])
    if if_see == "new":
        seen = _sigmoid(a[:, H:2 * H]) * c_prev + _sigmoid(a[:, :H]) * g
    else:
        seen = c_prev if if_see == "old" else 0 * c_prev
    i = _sigmoid(a[:, :H] + p_i * seen)
    f = _sigmoid(a[:, H:2 * H] + p_f * seen)
    c = f * c_prev + i * g
    o_peek = {"new": p_o * c, "old": p_o * c_prev, "none": 0 * c}[o_sees if if_see != "none" else "none"]
    o = _sigmoid(a[:, 3 * H:] + o_peek)
    return o * np.tanh(c), c


def _torch_peephole_step(x, h_prev, c_prev, Wx, Wh, b, p_i, p_f, p_o):
    """(h, c) from a float64 VariantLSTMCell "V" holding these parameters."""
    D, H = x.shape[1], h_prev.shape[1]
    cell = VariantLSTMCell(D, H, "V").double()
    with torch.no_grad():
        for name, value in (("Wx", Wx), ("Wh", Wh), ("b", b)):
            getattr(cell, name).copy_(torch.from_numpy(value))
        for gate, value in zip("ifo", (p_i, p_f, p_o)):
            cell.peephole[gate].copy_(torch.from_numpy(value))
        h, c, _ = cell(torch.from_numpy(x), (torch.from_numpy(h_prev), torch.from_numpy(c_prev)))
    return h.numpy(), c.numpy()


@exercise(2, "a peephole LSTM step")
def check_peephole_lstm_step(peephole_lstm_step):
    """peephole_lstm_step(x, h_prev, c_prev, Wx, Wh, b, p_i, p_f, p_o) -> (h, c), against the
    "V" cell of course_lib.lstm_variants in float64 torch."""
    for case, x, h_prev, c_prev, Wx, Wh, b, rng in _cases(10):
        H = h_prev.shape[1]
        peep = tuple(rng.standard_normal(H) for _ in range(3))               # p_i, p_f, p_o
        inputs = (x, h_prev, c_prev, Wx, Wh, b, *peep)
        expected = _torch_peephole_step(*inputs)
        got = returns(attempt(peephole_lstm_step, *(a.copy() for a in inputs), case=case),
                      "peephole_lstm_step", ("h", "c"), case)
        mistakes = [
            ("the output gate peeking at c_{t-1}: it sees the NEW cell, o = sigmoid(a_o + p_o * c_t)",
             _peephole_step(*inputs, o_sees="old")),
            ("the input and forget gates peeking at the new cell c_t: they are computed before it "
             "exists and see c_{t-1}", _peephole_step(*inputs, if_see="new")),
            ("no peepholes at all: every gate adds p * (its cell) to its pre-activation",
             _peephole_step(*inputs, if_see="none")),
        ]
        check_all(("h", "c"), got, expected, case=case, mistakes=mistakes,
                  hints={"c": "c = f * c_prev + i * g with i = sigmoid(a_i + p_i * c_prev), "
                              "f = sigmoid(a_f + p_f * c_prev).",
                         "h": "h = o * tanh(c) with o = sigmoid(a_o + p_o * c), c the new cell."})
    if not all(isinstance(v, np.ndarray) for v in got):
        raise GradingError("return NumPy arrays (h, c)")
    return "h and c match the peephole (\"V\") cell of course_lib.lstm_variants."
