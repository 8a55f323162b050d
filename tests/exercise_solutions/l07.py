"""Reference solutions of the exercises of lecture 07, and typical wrong answers."""

import numpy as np


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _step(x, h_prev, Wx, Wh, bx, bh, reset_after=True, z_weights_old=True):
    H = h_prev.shape[1]
    ax = x @ Wx + bx                                                  # (N, 3H)
    r = _sigmoid(ax[:, :H] + h_prev @ Wh[:, :H] + bh[:H])
    z = _sigmoid(ax[:, H:2 * H] + h_prev @ Wh[:, H:2 * H] + bh[H:2 * H])
    if reset_after:
        n = np.tanh(ax[:, 2 * H:] + r * (h_prev @ Wh[:, 2 * H:] + bh[2 * H:]))
    else:
        n = np.tanh(ax[:, 2 * H:] + (r * h_prev) @ Wh[:, 2 * H:] + bh[2 * H:])
    return (1 - z) * n + z * h_prev if z_weights_old else z * n + (1 - z) * h_prev


def _memory(x, Wx, Wh, bx, bh, z_biases, tol, block=1, z_weights_old=True):
    N, T, _ = x.shape
    H = Wh.shape[0]
    memory = []
    for b_z in z_biases:
        bx_b = bx.copy()
        bx_b[block * H:(block + 1) * H] = b_z
        h, h_alt = np.zeros((N, H)), np.zeros((N, H))
        last = 0
        for t in range(1, T + 1):                                     # x[:, t-1] holds x_t
            x_alt = np.zeros_like(x[:, 0]) if t == 1 else x[:, t - 1]
            h = _step(x[:, t - 1], h, Wx, Wh, bx_b, bh, z_weights_old=z_weights_old)
            h_alt = _step(x_alt, h_alt, Wx, Wh, bx_b, bh, z_weights_old=z_weights_old)
            if np.abs(h - h_alt).max() > tol:
                last = t
        memory.append(last)
    return np.array(memory)


# ----------------------------------------------------------------------------- exercise 1

def update_gate_memory(x, Wx, Wh, bx, bh, z_biases, tol):
    return _memory(x, Wx, Wh, bx, bh, z_biases, tol)


def update_gate_memory_z_swapped(x, Wx, Wh, bx, bh, z_biases, tol):
    # the other convention: h = z * n + (1 - z) * h_prev, so a large bias overwrites
    return _memory(x, Wx, Wh, bx, bh, z_biases, tol, z_weights_old=False)


def update_gate_memory_reset_block(x, Wx, Wh, bx, bh, z_biases, tol):
    # the bias put into the first block, which is the reset gate's
    return _memory(x, Wx, Wh, bx, bh, z_biases, tol, block=0)


def update_gate_memory_zero_based(x, Wx, Wh, bx, bh, z_biases, tol):
    # the array index of the last step with a difference instead of the step t
    return _memory(x, Wx, Wh, bx, bh, z_biases, tol) - 1


# ----------------------------------------------------------------------------- exercise 2

def gru_step(x, h_prev, Wx, Wh, bx, bh, reset_after):
    return _step(x, h_prev, Wx, Wh, bx, bh, reset_after=reset_after)


def gru_step_forms_swapped(x, h_prev, Wx, Wh, bx, bh, reset_after):
    return _step(x, h_prev, Wx, Wh, bx, bh, reset_after=not reset_after)


def gru_step_z_swapped(x, h_prev, Wx, Wh, bx, bh, reset_after):
    return _step(x, h_prev, Wx, Wh, bx, bh, reset_after=reset_after, z_weights_old=False)


EXERCISES = {
    1: {"solution": update_gate_memory,
        "wrong": [update_gate_memory_z_swapped, update_gate_memory_reset_block,
                  update_gate_memory_zero_based]},
    2: {"solution": gru_step, "wrong": [gru_step_forms_swapped, gru_step_z_swapped]},
}
