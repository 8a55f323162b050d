"""The gated recurrent unit (GRU, Cho et al. 2014), in both candidate forms: one step, a
whole sequence, and backpropagation through time.

Shape legend:
    N  batch            x  (N, T, D)   inputs          Wx (D, 3H)   input-to-gates
    T  time steps       h0 (N, H)      initial state   Wh (H, 3H)   hidden-to-gates
    D  input size       h  (N, T, H)   hidden states   bx (3H,)     input-side biases
    H  hidden size                                     bh (3H,)     hidden-side biases

The three blocks are stacked [r | z | n] (reset gate, update gate, candidate), the order
of PyTorch, and there are two bias vectors because the reset-after candidate needs the
hidden-side bias inside the reset: a `torch.nn.GRU(D, H, batch_first=True)` maps to these
parameters as `Wx = weight_ih_l0.T`, `Wh = weight_hh_l0.T`, `bx = bias_ih_l0`,
`bh = bias_hh_l0`.

The two candidate forms (`reset_after`):

    reset-after  (PyTorch, cuDNN):    n = tanh(x Wxn + bxn + r * (h_prev Whn + bhn))
    reset-before (Cho et al. 2014):   n = tanh(x Wxn + bxn + (r * h_prev) Whn + bhn)

They compute the same h when r = 1, or when Whn = 0 and bhn = 0 (r * bhn is not bhn), and
differ otherwise: the same parameters give different networks. Even where the values agree
the gradients of Whn and bhn do not, because r multiplies h_prev Whn + bhn in one form and
only h_prev in the other.

The role of z: here (as in PyTorch and Cho et al. 2014) z is the weight of the OLD state,
h = (1 - z) * n + z * h_prev, so z -> 1 keeps the memory. Other sources (e.g. Chung et al.
2014 and Olah's "Understanding LSTM Networks") write h = (1 - z) * h_prev + z * n: their z is
our 1 - z = sigmoid(-a_z), so their update-gate weights and bias are the negatives of ours.
"""

import numpy as np
from scipy.special import expit as _sigmoid  # 1 / (1 + exp(-a)), no overflow

from course_lib.validation import check_shape as _check_array

__all__ = [
    "gru_step_forward",
    "gru_step_backward",
    "gru_forward",
    "gru_backward",
]



def gru_step_forward(x, h_prev, Wx, Wh, bx, bh, reset_after=True):
    """One GRU step.

        ax = x Wx + bx                            ax = [ax_r | ax_z | ax_n]   (N, 3H)
        r  = sigmoid(ax_r + h_prev Whr + bhr)     reset gate
        z  = sigmoid(ax_z + h_prev Whz + bhz)     update gate
        reset_after:   m = h_prev Whn + bhn,          n = tanh(ax_n + r * m)
        reset_before:  m = r * h_prev,                n = tanh(ax_n + m Whn + bhn)
        h  = (1 - z) * n + z * h_prev             (* is the elementwise product)

    Whr, Whz, Whn are the column blocks of Wh, and bhr, bhz, bhn those of bh.

    Args:
        x: (N, D) input at this step.
        h_prev: (N, H) previous hidden state.
        Wx: (D, 3H), Wh: (H, 3H), bx: (3H,), bh: (3H,) parameters, blocks [r|z|n].
        reset_after: True for the PyTorch candidate, False for Cho et al. 2014.
    Returns:
        h: (N, H) and the cache for gru_step_backward.
    """
    H = h_prev.shape[1]
    ax = x @ Wx + bx                                         # (N, 3H)
    ah_rz = h_prev @ Wh[:, :2 * H] + bh[:2 * H]              # (N, 2H)
    r = _sigmoid(ax[:, :H] + ah_rz[:, :H])                   # (N, H)
    z = _sigmoid(ax[:, H:2 * H] + ah_rz[:, H:])              # (N, H)
    if reset_after:
        m = h_prev @ Wh[:, 2 * H:] + bh[2 * H:]              # (N, H)
        n = np.tanh(ax[:, 2 * H:] + r * m)
    else:
        m = r * h_prev                                       # (N, H)
        n = np.tanh(ax[:, 2 * H:] + m @ Wh[:, 2 * H:] + bh[2 * H:])
    h = (1 - z) * n + z * h_prev
    return h, (x, h_prev, Wx, Wh, r, z, n, m, reset_after)


def gru_step_backward(dh, cache):
    """Gradients of gru_step_forward, one per input, in input order.

    The forward equations from the bottom up (dan is the gradient of the argument of the
    tanh of n, dar and daz those of the sigmoids of r and z):

        dn      = dh * (1 - z),   dz = dh * (h_prev - n),   dh_prev = dh * z
        dan     = dn * (1 - n^2)
        reset_after:   dr = dan * m,             dm = dan * r
                       dWhn = h_prev^T dm,       dbhn = sum_n dm,     dh_prev += dm Whn^T
        reset_before:  dWhn = m^T dan,           dbhn = sum_n dan,    dm = dan Whn^T
                       dr = dm * h_prev,         dh_prev += dm * r
        daz     = dz * z (1 - z),   dar = dr * r (1 - r)
        dh_prev += [dar | daz] [Whr | Whz]^T,    [dWhr | dWhz] = h_prev^T [dar | daz]
        dax     = [dar | daz | dan]
        dx = dax Wx^T,  dWx = x^T dax,  dbx = sum_n dax,  dbh = sum_n [dar | daz | dan_h]

    where dan_h = dm (reset-after) or dan (reset-before) is the gradient reaching bhn.

    Args:
        dh: (N, H) gradient of the loss with respect to h.
        cache: from gru_step_forward.
    Returns:
        dx: (N, D), dh_prev: (N, H), dWx: (D, 3H), dWh: (H, 3H), dbx: (3H,), dbh: (3H,).
    """
    x, h_prev, Wx, Wh, r, z, n, m, reset_after = cache
    H = h_prev.shape[1]
    dn = dh * (1 - z)                                        # h = (1 - z) n + z h_prev
    dz = dh * (h_prev - n)
    dh_prev = dh * z
    dan = dn * (1 - n**2)                                    # n = tanh(an)
    if reset_after:                                          # an = ax_n + r * m
        dr = dan * m
        dah_n = dan * r                                      # m = h_prev Whn + bhn
        dWh_n = h_prev.T @ dah_n
        dh_prev = dh_prev + dah_n @ Wh[:, 2 * H:].T
    else:                                                    # an = ax_n + m Whn + bhn
        dah_n = dan
        dWh_n = m.T @ dan
        dm = dan @ Wh[:, 2 * H:].T                           # m = r * h_prev
        dr = dm * h_prev
        dh_prev = dh_prev + dm * r
    daz = dz * z * (1 - z)                                   # z = sigmoid(az)
    dar = dr * r * (1 - r)                                   # r = sigmoid(ar)
    dah_rz = np.concatenate([dar, daz], axis=1)              # (N, 2H)
    dh_prev = dh_prev + dah_rz @ Wh[:, :2 * H].T
    dWh = np.concatenate([h_prev.T @ dah_rz, dWh_n], axis=1)  # (H, 3H)
    dbh = np.concatenate([dah_rz, dah_n], axis=1).sum(axis=0)  # (3H,)
    dax = np.concatenate([dar, daz, dan], axis=1)            # (N, 3H)
    return dax @ Wx.T, dh_prev, x.T @ dax, dWh, dax.sum(axis=0), dbh


def gru_forward(x, h0, Wx, Wh, bx, bh, reset_after=True):
    """Run the GRU over a whole sequence.

        h_{-1} = h0
        h_t    = gru_step_forward(x_t, h_{t-1}, reset_after)     for t = 0, ..., T-1

    Args:
        x: (N, T, D) input sequences.
        h0: (N, H) initial hidden state.
        Wx: (D, 3H), Wh: (H, 3H), bx: (3H,), bh: (3H,) parameters, blocks [r|z|n].
        reset_after: True for the PyTorch candidate, False for Cho et al. 2014.
    Returns:
        h: (N, T, H) hidden states of every step, and the cache for gru_backward.
    Raises:
        ValueError naming the argument, the expected and the actual shape, e.g.
        "Wx must have shape (D, 3H) = (3, 12), got (12, 3)", a NaN/inf entry, or a
        reset_after that is not a bool.
    """
    if not isinstance(reset_after, (bool, np.bool_)):
        raise ValueError(f"reset_after must be True (PyTorch) or False (Cho et al. 2014), "
                         f"got {reset_after!r}")
    dims = {}
    x = _check_array("x", x, ("N", "T", "D"), dims)
    h0 = _check_array("h0", h0, ("N", "H"), dims)
    Wx = _check_array("Wx", Wx, ("D", "3H"), dims)
    Wh = _check_array("Wh", Wh, ("H", "3H"), dims)
    bx = _check_array("bx", bx, ("3H",), dims)
    bh = _check_array("bh", bh, ("3H",), dims)
    N, T, D, H = dims["N"], dims["T"], dims["D"], dims["H"]
    h = np.empty((N, T, H))                                  # (N, T, H)
    h_prev = h0
    step_caches = []
    for t in range(T):
        h_prev, step_cache = gru_step_forward(x[:, t], h_prev, Wx, Wh, bx, bh,
                                              reset_after=bool(reset_after))
        h[:, t] = h_prev                                     # (N, H)
        step_caches.append(step_cache)
    return h, (step_caches, (N, T, D, H))


def gru_backward(dh, cache):
    """Backpropagation through time for gru_forward (either candidate form).

    From t = T-1 down to 0, with dh_next = 0 at t = T-1:

        dx_t, dh_next, dWx_t, dWh_t, dbx_t, dbh_t
            = gru_step_backward(dh[:, t] + dh_next, cache_t)
        dWx += dWx_t,  dWh += dWh_t,  dbx += dbx_t,  dbh += dbh_t
        dh0  = dh_next after step 0

    Args:
        dh: (N, T, H) gradient of the loss with respect to every hidden state h[:, t]
            (only its direct part, through whatever reads h[:, t] outside the recurrence).
        cache: from gru_forward.
    Returns:
        dx: (N, T, D), dh0: (N, H), dWx: (D, 3H), dWh: (H, 3H), dbx: (3H,), dbh: (3H,).
    """
    step_caches, (N, T, D, H) = cache
    dh = _check_array("dh", dh, ("N", "T", "H"), {"N": N, "T": T, "H": H})
    dx = np.empty((N, T, D))                                 # (N, T, D)
    dWx, dWh = np.zeros((D, 3 * H)), np.zeros((H, 3 * H))
    dbx, dbh = np.zeros(3 * H), np.zeros(3 * H)
    dh_next = np.zeros((N, H))                               # gradient into h_t from step t+1
    for t in reversed(range(T)):
        dx[:, t], dh_next, dWx_t, dWh_t, dbx_t, dbh_t = gru_step_backward(
            dh[:, t] + dh_next, step_caches[t])
        dWx += dWx_t
        dWh += dWh_t
        dbx += dbx_t
        dbh += dbh_t
    return dx, dh_next, dWx, dWh, dbx, dbh
