"""Reference solutions of the exercises of lecture 08, and typical wrong answers each check
must reject (tests/test_exercises.py)."""

import numpy as np

from course_lib.rnn import rnn_backward, rnn_forward, rnn_step_forward

# ----------------------------------------------------------------------------- exercise 1

def _run(x, h_prev, Wx, Wh, b):
    """Elman states over a sequence, step by step: (N, T, D) -> (N, T, H)."""
    states = []
    for t in range(x.shape[1]):
        h_prev = np.tanh(x[:, t] @ Wx + h_prev @ Wh + b)
        states.append(h_prev)
    return np.stack(states, axis=1)


def bidirectional_rnn(x, h0, forward, backward):
    hf = _run(x, h0[0], *forward)
    hb = _run(x[:, ::-1], h0[1], *backward)[:, ::-1]
    return np.concatenate([hf, hb], axis=2)


def bidirectional_rnn_not_reversed_back(x, h0, forward, backward):
    return np.concatenate([_run(x, h0[0], *forward), _run(x[:, ::-1], h0[1], *backward)], axis=2)


def bidirectional_rnn_swapped(x, h0, forward, backward):
    return np.concatenate([_run(x[:, ::-1], h0[1], *backward)[:, ::-1], _run(x, h0[0], *forward)], axis=2)


def bidirectional_rnn_one_h0(x, h0, forward, backward):
    return np.concatenate([_run(x, h0[0], *forward), _run(x[:, ::-1], h0[0], *backward)[:, ::-1]], axis=2)


# ----------------------------------------------------------------------------- exercise 2

def stacked_rnn(x, h0, layers):
    N, T, _ = x.shape
    h = [h0[l] for l in range(len(layers))]
    top = []
    for t in range(T):
        below = x[:, t]
        for l, (Wx, Wh, b) in enumerate(layers):
            h[l], _ = rnn_step_forward(below, h[l], Wx, Wh, b)
            below = h[l]
        top.append(below)
    return np.stack(top, axis=1), np.stack(h)


def stacked_rnn_first_layer_out(x, h0, layers):
    first = rnn_forward(x, h0[0], *layers[0])[0]
    _, h_last = stacked_rnn(x, h0, layers)
    return first, h_last


def stacked_rnn_one_step_late(x, h0, layers):
    # layer l reads what layer l - 1 produced at the previous step (updated top-down per step)
    N, T, _ = x.shape
    h = [h0[l] for l in range(len(layers))]
    top = []
    for t in range(T):
        for l in reversed(range(len(layers))):
            below = x[:, t] if l == 0 else (h[l - 1] if t > 0 else np.zeros_like(h[l - 1]))
            h[l], _ = rnn_step_forward(below, h[l], *layers[l])
        top.append(h[-1])
    return np.stack(top, axis=1), np.stack(h)


def stacked_rnn_last_layer_state_only(x, h0, layers):
    h, h_last = stacked_rnn(x, h0, layers)
    return h, h_last[-1]


# ----------------------------------------------------------------------------- exercise 3

def bidirectional_rnn_backward(dh, x, h0, forward, backward):
    H = h0.shape[2]
    _, cache_f = rnn_forward(x, h0[0], *forward)
    _, cache_b = rnn_forward(x[:, ::-1], h0[1], *backward)
    dxf, dh0f, *dforward = rnn_backward(dh[:, :, :H], cache_f)
    dxb, dh0b, *dbackward = rnn_backward(dh[:, ::-1, H:], cache_b)
    return dxf + dxb[:, ::-1], np.stack([dh0f, dh0b]), tuple(dforward), tuple(dbackward)


def _backward_variant(dh, x, h0, forward, backward, reverse_dh, reverse_dx, add_dx):
    H = h0.shape[2]
    _, cache_f = rnn_forward(x, h0[0], *forward)
    _, cache_b = rnn_forward(x[:, ::-1], h0[1], *backward)
    dxf, dh0f, *dforward = rnn_backward(dh[:, :, :H], cache_f)
    dxb, dh0b, *dbackward = rnn_backward(dh[:, ::-1, H:] if reverse_dh else dh[:, :, H:], cache_b)
    dx = dxf + (dxb[:, ::-1] if reverse_dx else dxb) if add_dx else dxf
    return dx, np.stack([dh0f, dh0b]), tuple(dforward), tuple(dbackward)


def bidirectional_rnn_backward_dh_not_reversed(dh, x, h0, forward, backward):
    return _backward_variant(dh, x, h0, forward, backward, reverse_dh=False, reverse_dx=True, add_dx=True)


def bidirectional_rnn_backward_dx_not_reversed(dh, x, h0, forward, backward):
    return _backward_variant(dh, x, h0, forward, backward, reverse_dh=True, reverse_dx=False, add_dx=True)


def bidirectional_rnn_backward_forward_dx_only(dh, x, h0, forward, backward):
    return _backward_variant(dh, x, h0, forward, backward, reverse_dh=True, reverse_dx=True, add_dx=False)


EXERCISES = {
    1: {"solution": bidirectional_rnn,
        "wrong": [bidirectional_rnn_not_reversed_back, bidirectional_rnn_swapped, bidirectional_rnn_one_h0]},
    2: {"solution": stacked_rnn,
        "wrong": [stacked_rnn_first_layer_out, stacked_rnn_one_step_late, stacked_rnn_last_layer_state_only]},
    3: {"solution": bidirectional_rnn_backward,
        "wrong": [bidirectional_rnn_backward_dh_not_reversed, bidirectional_rnn_backward_dx_not_reversed,
                  bidirectional_rnn_backward_forward_dx_only]},
}
