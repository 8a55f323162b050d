"""Reference solutions and typical wrong answers for the exercises of lecture 04."""

import numpy as np

from course_lib.rnn import rnn_backward, rnn_forward

# ----------------------------------------------------------------------------- exercise 1

def relu_rnn_backward(dh, x, h0, Wx, Wh, h):
    return _relu_bptt(dh, x, h0, Wx, Wh, h)


def _relu_bptt(dh, x, h0, Wx, Wh, h, recurrent=True, derivative=True, W_back=None):
    W_back = Wh.T if W_back is None else W_back
    N, T, H = h.shape
    dx, dWx, dWh, db = np.empty_like(x), np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H)
    dh_next = np.zeros((N, H))                                 # gradient into h_t from step t + 1
    for t in reversed(range(T)):                               # index t holds step t + 1
        h_prev = h[:, t - 1] if t > 0 else h0
        g = dh[:, t] + (dh_next if recurrent else 0)
        da = g * (h[:, t] > 0) if derivative else g            # relu'(a_t) = 1[h_t > 0]
        dx[:, t] = da @ Wx.T
        dWx += x[:, t].T @ da
        dWh += h_prev.T @ da
        db += da.sum(axis=0)
        dh_next = da @ W_back
    return dx, dh_next, dWx, dWh, db


def relu_rnn_backward_no_recurrent_path(dh, x, h0, Wx, Wh, h):
    return _relu_bptt(dh, x, h0, Wx, Wh, h, recurrent=False)


def relu_rnn_backward_no_derivative(dh, x, h0, Wx, Wh, h):
    return _relu_bptt(dh, x, h0, Wx, Wh, h, derivative=False)


def relu_rnn_backward_transposed_Wh(dh, x, h0, Wx, Wh, h):
    return _relu_bptt(dh, x, h0, Wx, Wh, h, W_back=Wh)


# ----------------------------------------------------------------------------- exercise 2

def tbptt_chunks(x, h0, Wx, Wh, b, dh, k):
    T = x.shape[1]
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    dx, h_start = [], h0
    for s in range(0, T, k):                                  # chunk: indices s .. s+k-1
        h, cache = rnn_forward(x[:, s:s + k], h_start, Wx, Wh, b)
        dx_c, dh_start, dWx_c, dWh_c, db_c = rnn_backward(dh[:, s:s + k], cache)
        if s == 0:
            dh0 = dh_start                                    # only the first chunk starts from h0
        dx.append(dx_c)
        dWx, dWh, db = dWx + dWx_c, dWh + dWh_c, db + db_c
        h_start = h[:, -1]                                    # carry the state, not its gradient
    return np.concatenate(dx, axis=1), dh0, dWx, dWh, db


def tbptt_chunks_full(x, h0, Wx, Wh, b, dh, k):
    _, cache = rnn_forward(x, h0, Wx, Wh, b)
    return rnn_backward(dh, cache)


def tbptt_chunks_reset_state(x, h0, Wx, Wh, b, dh, k):
    grads = [tbptt_chunks(x[:, s:s + k], h0, Wx, Wh, b, dh[:, s:s + k], k) for s in range(0, x.shape[1], k)]
    return (np.concatenate([g[0] for g in grads], axis=1), *(sum(g[i] for g in grads) for i in range(1, 5)))


def tbptt_chunks_dh0_summed(x, h0, Wx, Wh, b, dh, k):
    dx, dh0, dWx, dWh, db = tbptt_chunks(x, h0, Wx, Wh, b, dh, k)
    _, cache = rnn_forward(x, h0, Wx, Wh, b)
    h = cache[-1]
    for s in range(k, x.shape[1], k):                         # the gradient into each chunk's start state
        _, cache_c = rnn_forward(x[:, s:s + k], h[:, s - 1], Wx, Wh, b)
        dh0 = dh0 + rnn_backward(dh[:, s:s + k], cache_c)[1]
    return dx, dh0, dWx, dWh, db


EXERCISES = {
    1: {"solution": relu_rnn_backward,
        "wrong": [relu_rnn_backward_no_recurrent_path, relu_rnn_backward_no_derivative,
                  relu_rnn_backward_transposed_Wh]},
    2: {"solution": tbptt_chunks,
        "wrong": [tbptt_chunks_full, tbptt_chunks_reset_state, tbptt_chunks_dh0_summed]},
}
