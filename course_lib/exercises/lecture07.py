"""Checks of the exercises of lecture 07 (the GRU).

Shape legend:
    N  batch            x       (N, T, D)  input sequences      Wx (D, 3H)   input-to-blocks
    T  time steps       x       (N, D)     one step's input     Wh (H, 3H)   hidden-to-blocks
    D  input size       h_prev  (N, H)     previous state       bx (3H,)     input-side biases
    H  hidden size      Z       number of update-gate biases    bh (3H,)     hidden-side biases

Blocks are stacked [r | z | n] and the update is h = (1 - z) * n + z * h_prev, as in
course_lib.gru, which is the oracle of both checks: exercise 1 runs course_lib.gru.gru_forward
on the two input sequences, exercise 2 compares with course_lib.gru.gru_step_forward in both
candidate forms.
"""

import numpy as np

from course_lib.exercises import attempt, exercise
from course_lib.grading import GradingError, check_all, check_output, same
from course_lib.gru import gru_forward, gru_step_forward

__all__ = ["check_update_gate_memory", "check_gru_step"]


def _parameters(rng, D, H):
    """PyTorch's initialisation, uniform in [-1/sqrt(H), 1/sqrt(H)]: (Wx, Wh, bx, bh)."""
    bound = 1 / np.sqrt(H)
    return (rng.uniform(-bound, bound, (D, 3 * H)), rng.uniform(-bound, bound, (H, 3 * H)),
            rng.uniform(-bound, bound, 3 * H), rng.uniform(-bound, bound, 3 * H))


# ----------------------------------------------------------------------------- exercise 1

def _memory(x, Wx, Wh, bx, bh, z_biases, tol, block=1, negate_z=False):
    """The memory of the first input for each update-gate bias, with course_lib.gru.

    block: the block [r | z | n] of bx set to the bias (1, the update gate, is right);
    negate_z: the other convention, h = z * n + (1 - z) * h_prev, which is this GRU with the
    update gate's weights and biases negated.
    """
    N, T, _ = x.shape
    H = Wh.shape[0]
    x_without_first = x.copy()
    x_without_first[:, 0] = 0.0
    Wx, Wh, bx, bh = (a.copy() for a in (Wx, Wh, bx, bh))
    z = slice(H, 2 * H)
    if negate_z:
        Wx[:, z], Wh[:, z] = -Wx[:, z], -Wh[:, z]
    memory = []
    for b_z in z_biases:
        bx_b = bx.copy()
        bx_b[block * H:(block + 1) * H] = b_z
        if negate_z:
            bx_b[z] = -bx_b[z]
        h, _ = gru_forward(x, np.zeros((N, H)), Wx, Wh, bx_b, bh)                      # (N, T, H)
        h_without, _ = gru_forward(x_without_first, np.zeros((N, H)), Wx, Wh, bx_b, bh)
        differs = np.abs(h - h_without).max(axis=(0, 2)) > tol                        # (T,): step t at t-1
        memory.append(int(np.flatnonzero(differs)[-1]) + 1 if differs.any() else 0)
    return np.array(memory)


@exercise(1, "how long the update gate keeps the first input")
def check_update_gate_memory(update_gate_memory):
    """update_gate_memory(x, Wx, Wh, bx, bh, z_biases, tol) -> (Z,) ints, against the same
    experiment run with course_lib.gru.gru_forward."""
    for seed, (N, T, D, H), z_biases in [(0, (2, 60, 3, 5), [-2.0, 0.0, 1.0, 2.0]),
                                         (1, (3, 50, 4, 6), [2.0, -1.0, 0.5])]:
        case = f"N, T, D, H = {N}, {T}, {D}, {H}, z_biases = {z_biases}"
        rng = np.random.default_rng(seed)
        Wx, Wh, bx, bh = _parameters(rng, D, H)
        bx[H:2 * H] = 0.0                              # the update gate's biases come from z_biases
        bh[H:2 * H] = 0.0
        x = rng.standard_normal((N, T, D))
        tol = 1e-3
        expected = _memory(x, Wx, Wh, bx, bh, z_biases, tol)
        got = attempt(update_gate_memory, x.copy(), Wx.copy(), Wh.copy(), bx.copy(), bh.copy(),
                      list(z_biases), tol, case=case)
        if isinstance(got, (list, tuple)):
            got = np.array(got)
        mistakes = [] if same(got, expected) else [
            ("array indices instead of steps: h[:, t-1] holds h_t, so the step is the index + 1",
             expected - 1),
            ("the first step at which the difference is at most tol; the memory is the LAST step "
             "at which it is still above tol", np.minimum(expected + 1, T)),
            ("the bias in the reset gate's block; the blocks are [r | z | n], z is bx[H:2H]",
             _memory(x, Wx, Wh, bx, bh, z_biases, tol, block=0)),
            ("the update h = z * n + (1 - z) * h_prev; here z weights the OLD state, "
             "h = (1 - z) * n + z * h_prev", _memory(x, Wx, Wh, bx, bh, z_biases, tol, negate_z=True)),
        ]
        check_output("memory", got, expected, mistakes, case=case,
                     hint="Run the GRU twice from h_0 = 0, on x and on x with x[:, 0] set to 0, and "
                          "return, per bias, the last step t (1..T) with max |h_t - h'_t| > tol.")
    return "the memory grows with the update-gate bias, as the reference GRU says."


# ----------------------------------------------------------------------------- exercise 2

def _mistaken_step(x, h_prev, Wx, Wh, bx, bh, reset_after, z_swapped=False, bhn_outside=False):
    """One GRU step with one typical mistake (for the hints only)."""
    H = h_prev.shape[1]
    if bhn_outside:                                  # n = tanh(ax_n + r * (h_prev Whn) + bhn)
        ax = x @ Wx + bx
        r = 1 / (1 + np.exp(-(ax[:, :H] + h_prev @ Wh[:, :H] + bh[:H])))
        z = 1 / (1 + np.exp(-(ax[:, H:2 * H] + h_prev @ Wh[:, H:2 * H] + bh[H:2 * H])))
        n = np.tanh(ax[:, 2 * H:] + r * (h_prev @ Wh[:, 2 * H:]) + bh[2 * H:])
        return (1 - z) * n + z * h_prev
    h, cache = gru_step_forward(x, h_prev, Wx, Wh, bx, bh, reset_after=reset_after)
    if z_swapped:
        z, n = cache[5], cache[6]
        return z * n + (1 - z) * h_prev
    return h


@exercise(2, "one GRU step in both candidate forms")
def check_gru_step(gru_step):
    """gru_step(x, h_prev, Wx, Wh, bx, bh, reset_after) -> h (N, H), against
    course_lib.gru.gru_step_forward with reset_after=True and False."""
    for seed, (N, D, H) in [(0, (3, 5, 4)), (1, (2, 3, 6))]:
        rng = np.random.default_rng(seed)
        Wx, Wh, bx, bh = (2 * p for p in _parameters(rng, D, H))   # larger than at init: clearer gaps
        x = rng.standard_normal((N, D))
        h_prev = rng.uniform(-1, 1, (N, H))
        for reset_after in (True, False):
            form = "reset-after" if reset_after else "reset-before"
            case = f"N, D, H = {N}, {D}, {H}, reset_after={reset_after}"
            expected, _ = gru_step_forward(x, h_prev, Wx, Wh, bx, bh, reset_after=reset_after)
            got = attempt(gru_step, x.copy(), h_prev.copy(), Wx.copy(), Wh.copy(), bx.copy(), bh.copy(),
                          reset_after, case=case)
            other = "reset-before" if reset_after else "reset-after"
            mistakes = [
                (f"the {other} candidate: with reset_after={reset_after} the reset gate acts "
                 + ("after the product, r * (h_prev Whn + bhn)" if reset_after
                    else "before the product, (r * h_prev) Whn + bhn"),
                 (_mistaken_step(x, h_prev, Wx, Wh, bx, bh, not reset_after),)),
                ("z and 1 - z swapped: z weights the OLD state, h = (1 - z) * n + z * h_prev",
                 (_mistaken_step(x, h_prev, Wx, Wh, bx, bh, reset_after, z_swapped=True),)),
            ]
            if reset_after:
                mistakes.append(("bhn outside the reset: in the reset-after form r multiplies "
                                 "h_prev Whn + bhn",
                                 (_mistaken_step(x, h_prev, Wx, Wh, bx, bh, True, bhn_outside=True),)))
            check_all(("h",), (got,), (expected,), case=case, mistakes=mistakes,
                      hints={"h": f"the {form} GRU: r, z = sigmoid(x Wx + bx + h_prev Wh + bh) on "
                                  "their blocks [r | z | n], then n, then h = (1 - z) * n + z * h_prev."})
    if not isinstance(got, np.ndarray):
        raise GradingError("return a NumPy array h")
    return "h matches course_lib.gru in both candidate forms."
