"""The Elman RNN (vanilla tanh RNN): one step, a whole sequence, and backpropagation
through time, full or truncated.

Shape legend:
    N  batch            x  (N, T, D)   inputs          Wx (D, H)   input-to-hidden
    T  time steps       h0 (N, H)      initial state   Wh (H, H)   hidden-to-hidden
    D  input size       h  (N, T, H)   hidden states   b  (H,)     bias
    H  hidden size

Row vectors, as in the rest of the course: h_t = tanh(x_t Wx + h_{t-1} Wh + b). A
`torch.nn.RNN(D, H, nonlinearity="tanh", batch_first=True)` maps to these parameters as
`Wx = weight_ih_l0.T`, `Wh = weight_hh_l0.T`, `b = bias_ih_l0 + bias_hh_l0`.
"""

import numpy as np

from course_lib.validation import check_shape as _check_array

__all__ = [
    "rnn_step_forward",
    "rnn_step_backward",
    "rnn_forward",
    "rnn_backward",
]


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    """One Elman step.

        h = tanh(x Wx + h_prev Wh + b)

    Args:
        x: (N, D) input at this step.
        h_prev: (N, H) previous hidden state.
        Wx: (D, H), Wh: (H, H), b: (H,) parameters shared by all steps.
    Returns:
        h: (N, H) and the cache for rnn_step_backward.
    """
    h = np.tanh(x @ Wx + h_prev @ Wh + b)
    return h, (x, h_prev, Wx, Wh, h)


def rnn_step_backward(dh, cache):
    """Gradients of rnn_step_forward, one per input, in input order."""
    x, h_prev, Wx, Wh, h = cache
    da = dh * (1 - h**2)                     # h = tanh(a)  =>  da = dh (1 - h^2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, h_prev.T @ da, da.sum(axis=0)


def rnn_forward(x, h0, Wx, Wh, b):
    """Run the Elman RNN over a whole sequence.

        h_{-1} = h0
        h_t    = tanh(x_t Wx + h_{t-1} Wh + b)        for t = 0, ..., T-1

    Args:
        x: (N, T, D) input sequences.
        h0: (N, H) initial hidden state.
        Wx: (D, H), Wh: (H, H), b: (H,) parameters shared by all steps.
    Returns:
        h: (N, T, H) hidden states of every step, and the cache for rnn_backward.
    Raises:
        ValueError naming the argument, the expected and the actual shape, e.g.
        "Wx must have shape (D, H) = (3, 4), got (4, 3)", or a NaN/inf entry.
    """
    dims = {}
    x = _check_array("x", x, ("N", "T", "D"), dims)
    h0 = _check_array("h0", h0, ("N", "H"), dims)
    Wx = _check_array("Wx", Wx, ("D", "H"), dims)
    Wh = _check_array("Wh", Wh, ("H", "H"), dims)
    b = _check_array("b", b, ("H",), dims)
    N, T, H = dims["N"], dims["T"], dims["H"]
    h = np.empty((N, T, H))                                  # (N, T, H)
    h_prev = h0
    for t in range(T):
        h_prev, _ = rnn_step_forward(x[:, t], h_prev, Wx, Wh, b)   # (N, H)
        h[:, t] = h_prev
    return h, (x, h0, Wx, Wh, h)


def rnn_backward(dh, cache, truncate=None):
    """Backpropagation through time for rnn_forward, full or truncated.

    With a_t = x_t Wx + h_{t-1} Wh + b and h_t = tanh(a_t), from t = T-1 down to 0:

        g_t    = dh[:, t] + dh_next                   total gradient reaching h_t
        da_t   = g_t (1 - h_t^2)
        dx_t   = da_t Wx^T
        dh_next = da_t Wh^T                           flows into h_{t-1} (0 at t = T-1)
        dWx   += x_t^T da_t,   dWh += h_{t-1}^T da_t,   db += sum_n da_t
        dh0    = dh_next after step 0

    Each step is one call of rnn_step_backward; the sequence function only adds up.

    Truncated BPTT (`truncate=k`): the sequence is cut into chunks of k steps,
    [0, k), [k, 2k), ...; the forward pass is unchanged (the hidden state is carried from
    chunk to chunk), but the gradient is stopped at every chunk boundary: dh_next is set to
    0 before it would flow from step t into h_{t-1} whenever t is a positive multiple of k.
    The result is the exact gradient of the graph in which the h_{t-1} fed to those steps
    is a constant (`h.detach()` in PyTorch), the TBPTT(k, k) scheme of Williams and Peng
    (1990) used by most language-model training code: a loss term at step t reaches back to
    the start of its chunk, between 1 and k steps. dh0 receives the gradient of the first
    chunk only. `truncate=None`, or any k >= T, is full BPTT.

    Args:
        dh: (N, T, H) gradient of the loss with respect to every hidden state h[:, t]
            (only its direct part, through whatever reads h[:, t] outside the recurrence).
        cache: from rnn_forward.
        truncate: None for full BPTT, or a positive int k (see above).
    Returns:
        dx: (N, T, D), dh0: (N, H), dWx: (D, H), dWh: (H, H), db: (H,).
    """
    x, h0, Wx, Wh, h = cache
    N, T, H = h.shape
    dims = {"N": N, "T": T, "H": H}
    dh = _check_array("dh", dh, ("N", "T", "H"), dims)
    is_count = isinstance(truncate, (int, np.integer)) and not isinstance(truncate, bool)
    if not (truncate is None or (is_count and truncate >= 1)):
        raise ValueError("truncate must be None or a positive int (steps per chunk), "
                         f"got {truncate!r}")

    dx = np.empty_like(x)                                    # (N, T, D)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H)
    dh_next = np.zeros((N, H))                               # gradient into h_t from step t+1
    for t in reversed(range(T)):
        h_prev = h[:, t - 1] if t > 0 else h0
        step_cache = (x[:, t], h_prev, Wx, Wh, h[:, t])
        dx[:, t], dh_next, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t] + dh_next, step_cache)
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
        if truncate is not None and t > 0 and t % truncate == 0:
            dh_next = np.zeros((N, H))                       # chunk boundary: stop the gradient
    return dx, dh_next, dWx, dWh, db
