"""The LSTM (Hochreiter and Schmidhuber 1997, with the forget gate of Gers et al. 2000):
one step, a whole sequence, and backpropagation through time.

Shape legend:
    N  batch            x  (N, T, D)   inputs          Wx (D, 4H)   input-to-gates
    T  time steps       h0 (N, H)      initial state   Wh (H, 4H)   hidden-to-gates
    D  input size       h  (N, T, H)   hidden states   b  (4H,)     gate biases
    H  hidden size      c  (N, H)      cell state

The four gate blocks are stacked [i | f | g | o] (input gate, forget gate, candidate,
output gate), the order of PyTorch, so a `torch.nn.LSTM(D, H, batch_first=True)` maps to
these parameters as `Wx = weight_ih_l0.T`, `Wh = weight_hh_l0.T`,
`b = bias_ih_l0 + bias_hh_l0`. This is the LSTM without peephole connections; the
peephole LSTM and its variants are in course_lib.lstm_variants.
"""

import numpy as np
from scipy.special import expit as _sigmoid  # 1 / (1 + exp(-a)), no overflow

from course_lib.validation import check_shape as _check_array

__all__ = [
    "lstm_step_forward",
    "lstm_step_backward",
    "lstm_forward",
    "lstm_backward",
]



def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    """One LSTM step.

        a = x Wx + h_prev Wh + b                  a = [a_i | a_f | a_g | a_o]
        i = sigmoid(a_i)                          input gate
        f = sigmoid(a_f)                          forget gate
        g = tanh(a_g)                             candidate (block input)
        o = sigmoid(a_o)                          output gate
        c = f * c_prev + i * g                    (* is the elementwise product)
        h = o * tanh(c)

    Args:
        x: (N, D) input at this step.
        h_prev: (N, H) previous hidden state.
        c_prev: (N, H) previous cell state.
        Wx: (D, 4H), Wh: (H, 4H), b: (4H,) parameters shared by all steps, blocks [i|f|g|o].
    Returns:
        h: (N, H), c: (N, H) and the cache for lstm_step_backward.
    """
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b                             # (N, 4H)
    i = _sigmoid(a[:, :H])                                   # (N, H) each
    f = _sigmoid(a[:, H:2 * H])
    g = np.tanh(a[:, 2 * H:3 * H])
    o = _sigmoid(a[:, 3 * H:])
    c = f * c_prev + i * g
    tanh_c = np.tanh(c)
    h = o * tanh_c
    return h, c, (x, h_prev, c_prev, Wx, Wh, i, f, g, o, tanh_c)


def lstm_step_backward(dh, dc, cache):
    """Gradients of lstm_step_forward, one per input, in input order.

    The forward equations from the bottom up, with dc the gradient reaching c from outside
    this step (from the next step's cell) and dh the gradient reaching h:

        do      = dh * tanh(c)                                       h = o * tanh(c)
        dc_tot  = dc + dh * o * (1 - tanh(c)^2)
        df      = dc_tot * c_prev,   dc_prev = dc_tot * f,           c = f * c_prev + i * g
        di      = dc_tot * g,        dg      = dc_tot * i
        da      = [di i (1-i) | df f (1-f) | dg (1-g^2) | do o (1-o)]
        dx = da Wx^T,  dh_prev = da Wh^T,  dWx = x^T da,  dWh = h_prev^T da,  db = sum_n da

    Args:
        dh: (N, H) gradient of the loss with respect to h.
        dc: (N, H) gradient of the loss with respect to c.
        cache: from lstm_step_forward.
    Returns:
        dx: (N, D), dh_prev: (N, H), dc_prev: (N, H), dWx: (D, 4H), dWh: (H, 4H), db: (4H,).
    """
    x, h_prev, c_prev, Wx, Wh, i, f, g, o, tanh_c = cache
    do = dh * tanh_c                                         # h = o * tanh(c)
    dc_tot = dc + dh * o * (1 - tanh_c**2)
    df = dc_tot * c_prev                                     # c = f * c_prev + i * g
    dc_prev = dc_tot * f
    di = dc_tot * g
    dg = dc_tot * i
    da = np.concatenate([di * i * (1 - i),                   # i = sigmoid(a_i)
                         df * f * (1 - f),                   # f = sigmoid(a_f)
                         dg * (1 - g**2),                    # g = tanh(a_g)
                         do * o * (1 - o)], axis=1)          # (N, 4H)
    return da @ Wx.T, da @ Wh.T, dc_prev, x.T @ da, h_prev.T @ da, da.sum(axis=0)


def lstm_forward(x, h0, Wx, Wh, b):
    """Run the LSTM over a whole sequence, starting from the cell state c0 = 0.

        h_{-1} = h0,  c_{-1} = 0
        h_t, c_t = lstm_step_forward(x_t, h_{t-1}, c_{t-1})       for t = 0, ..., T-1

    Args:
        x: (N, T, D) input sequences.
        h0: (N, H) initial hidden state.
        Wx: (D, 4H), Wh: (H, 4H), b: (4H,) parameters shared by all steps, blocks [i|f|g|o].
    Returns:
        h: (N, T, H) hidden states of every step, and the cache for lstm_backward.
    Raises:
        ValueError naming the argument, the expected and the actual shape, e.g.
        "Wx must have shape (D, 4H) = (3, 16), got (16, 3)", or a NaN/inf entry.
    """
    dims = {}
    x = _check_array("x", x, ("N", "T", "D"), dims)
    h0 = _check_array("h0", h0, ("N", "H"), dims)
    Wx = _check_array("Wx", Wx, ("D", "4H"), dims)
    Wh = _check_array("Wh", Wh, ("H", "4H"), dims)
    b = _check_array("b", b, ("4H",), dims)
    N, T, D, H = dims["N"], dims["T"], dims["D"], dims["H"]
    h = np.empty((N, T, H))                                  # (N, T, H)
    h_prev, c_prev = h0, np.zeros((N, H))
    step_caches = []
    for t in range(T):
        h_prev, c_prev, step_cache = lstm_step_forward(x[:, t], h_prev, c_prev, Wx, Wh, b)
        h[:, t] = h_prev                                     # (N, H)
        step_caches.append(step_cache)
    return h, (step_caches, (N, T, D, H))


def lstm_backward(dh, cache):
    """Backpropagation through time for lstm_forward.

    From t = T-1 down to 0, with dh_next = dc_next = 0 at t = T-1:

        dx_t, dh_next, dc_next, dWx_t, dWh_t, db_t
            = lstm_step_backward(dh[:, t] + dh_next, dc_next, cache_t)
        dWx += dWx_t,   dWh += dWh_t,   db += db_t
        dh0  = dh_next after step 0

    The gradient dc_next left after step 0 belongs to c0 = 0, a constant: it is dropped.

    Args:
        dh: (N, T, H) gradient of the loss with respect to every hidden state h[:, t]
            (only its direct part, through whatever reads h[:, t] outside the recurrence).
        cache: from lstm_forward.
    Returns:
        dx: (N, T, D), dh0: (N, H), dWx: (D, 4H), dWh: (H, 4H), db: (4H,).
    """
    step_caches, (N, T, D, H) = cache
    dh = _check_array("dh", dh, ("N", "T", "H"), {"N": N, "T": T, "H": H})
    dx = np.empty((N, T, D))                                 # (N, T, D)
    dWx, dWh, db = np.zeros((D, 4 * H)), np.zeros((H, 4 * H)), np.zeros(4 * H)
    dh_next, dc_next = np.zeros((N, H)), np.zeros((N, H))    # gradients into h_t, c_t from t+1
    for t in reversed(range(T)):
        dx[:, t], dh_next, dc_next, dWx_t, dWh_t, db_t = lstm_step_backward(
            dh[:, t] + dh_next, dc_next, step_caches[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dh_next, dWx, dWh, db
