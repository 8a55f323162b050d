"""Reference solutions of the exercises of lecture 06, and typical wrong answers."""

import numpy as np


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _forward(x, h_prev, c_prev, Wx, Wh, b):
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b                                      # (N, 4H)
    i, f, o = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), _sigmoid(a[:, 3 * H:])
    g = np.tanh(a[:, 2 * H:3 * H])
    c = f * c_prev + i * g
    return i, f, g, o, c, np.tanh(c)


def _gradients(x, h_prev, c_prev, Wx, Wh, b, dh, dc, from_next=True, tanh_prime=True, times_f=True):
    i, f, g, o, c, tanh_c = _forward(x, h_prev, c_prev, Wx, Wh, b)
    do = dh * tanh_c                                                  # h = o * tanh(c)
    dc_tot = (dc if from_next else 0) + dh * o * ((1 - tanh_c**2) if tanh_prime else 1)
    di, df, dg = dc_tot * g, dc_tot * c_prev, dc_tot * i              # c = f * c_prev + i * g
    dc_prev = dc_tot * f if times_f else dc_tot
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1)
    return da @ Wx.T, da @ Wh.T, dc_prev, x.T @ da, h_prev.T @ da, da.sum(axis=0)


# ----------------------------------------------------------------------------- exercise 1

def lstm_step_gradients(x, h_prev, c_prev, Wx, Wh, b, dh, dc):
    return _gradients(x, h_prev, c_prev, Wx, Wh, b, dh, dc)


def lstm_step_gradients_without_next_cell(x, h_prev, c_prev, Wx, Wh, b, dh, dc):
    # the forget-gate path from c_{t+1} (the incoming dc) never added to dL/dc_t
    return _gradients(x, h_prev, c_prev, Wx, Wh, b, dh, dc, from_next=False)


def lstm_step_gradients_without_f(x, h_prev, c_prev, Wx, Wh, b, dh, dc):
    # dc_prev without the forget gate: the carousel path into c_{t-1} is not multiplied by f_t
    return _gradients(x, h_prev, c_prev, Wx, Wh, b, dh, dc, times_f=False)


def lstm_step_gradients_without_tanh_prime(x, h_prev, c_prev, Wx, Wh, b, dh, dc):
    # the output path h = o * tanh(c) differentiated as if it were h = o * c
    return _gradients(x, h_prev, c_prev, Wx, Wh, b, dh, dc, tanh_prime=False)


# ----------------------------------------------------------------------------- exercise 2

def _peephole(x, h_prev, c_prev, Wx, Wh, b, p_i, p_f, p_o, if_see="old", o_sees="new"):
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b                                      # (N, 4H)
    g = np.tanh(a[:, 2 * H:3 * H])
    if if_see == "old":
        seen = c_prev
    else:                                                             # a first pass without peepholes
        seen = _sigmoid(a[:, H:2 * H]) * c_prev + _sigmoid(a[:, :H]) * g
    i = _sigmoid(a[:, :H] + p_i * seen)
    f = _sigmoid(a[:, H:2 * H] + p_f * seen)
    c = f * c_prev + i * g
    o = _sigmoid(a[:, 3 * H:] + p_o * (c if o_sees == "new" else c_prev))
    return o * np.tanh(c), c


def peephole_lstm_step(x, h_prev, c_prev, Wx, Wh, b, p_i, p_f, p_o):
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b                                      # (N, 4H)
    i = _sigmoid(a[:, :H] + p_i * c_prev)
    f = _sigmoid(a[:, H:2 * H] + p_f * c_prev)
    g = np.tanh(a[:, 2 * H:3 * H])
    c = f * c_prev + i * g
    o = _sigmoid(a[:, 3 * H:] + p_o * c)
    return o * np.tanh(c), c


def peephole_lstm_step_new_cell_for_i_f(x, h_prev, c_prev, Wx, Wh, b, p_i, p_f, p_o):
    # the input and forget gates peek at c_t (from a first pass without peepholes), not c_{t-1}
    return _peephole(x, h_prev, c_prev, Wx, Wh, b, p_i, p_f, p_o, if_see="new")


def peephole_lstm_step_old_cell_for_o(x, h_prev, c_prev, Wx, Wh, b, p_i, p_f, p_o):
    # the output gate peeks at c_{t-1} like the other two
    return _peephole(x, h_prev, c_prev, Wx, Wh, b, p_i, p_f, p_o, o_sees="old")


EXERCISES = {
    1: {"solution": lstm_step_gradients,
        "wrong": [lstm_step_gradients_without_next_cell, lstm_step_gradients_without_f,
                  lstm_step_gradients_without_tanh_prime]},
    2: {"solution": peephole_lstm_step,
        "wrong": [peephole_lstm_step_new_cell_for_i_f, peephole_lstm_step_old_cell_for_o]},
}
