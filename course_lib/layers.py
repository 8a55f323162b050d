"""Layers around a recurrent core: word embedding, temporal affine, temporal softmax loss.

Shape legend:
    N  batch (sequences)     x (N, T) int      integer symbols, e.g. word or character ids
    T  time steps            W (V, D)          embedding matrix, one row per symbol
    D  embedding size        h (N, T, H)       hidden states of an RNN
    H  hidden size           scores (N, T, V)  unnormalised log-probabilities per step
    V  vocabulary size       y, mask (N, T)    targets in [0, V) and which steps count

Forward/backward pairs follow the convention of CONTRIBUTING.md: `*outputs, cache = f_forward(*inputs)` and
`grads = f_backward(*d_outputs, cache)`. The loss returns its own gradient.
"""

import numpy as np

from course_lib.validation import check_range as _check_range
from course_lib.validation import check_shape as _check_array

__all__ = [
    "word_embedding_forward",
    "word_embedding_backward",
    "temporal_affine_forward",
    "temporal_affine_backward",
    "temporal_softmax_loss",
]


# ----------------------------------------------------------------------------- layers

def word_embedding_forward(x, W):
    """Look up one row of W per symbol.

        out[n, t] = W[x[n, t]]

    Args:
        x: (N, T) integers in [0, V).
        W: (V, D) embedding matrix, one row per symbol.
    Returns:
        out: (N, T, D) and the cache for word_embedding_backward.
    """
    dims = {}
    x = _check_array("x", x, ("N", "T"), dims, kind="int")
    W = _check_array("W", W, ("V", "D"), dims)
    _check_range("x", x, dims["V"])
    out = W[x]                                   # (N, T, D)
    return out, (x, W.shape)


def word_embedding_backward(dout, cache):
    """Gradient of word_embedding_forward for W (x is integer: it has none).

        dW[v] = sum over all (n, t) with x[n, t] = v of dout[n, t]

    Args:
        dout: (N, T, D) upstream gradient.
        cache: from word_embedding_forward.
    Returns:
        dW: (V, D).
    """
    x, (V, D) = cache
    dims = {"N": x.shape[0], "T": x.shape[1], "D": D}
    dout = _check_array("dout", dout, ("N", "T", "D"), dims)
    dW = np.zeros((V, D))
    np.add.at(dW, x, dout)                       # repeated symbols accumulate
    return dW


def temporal_affine_forward(x, W, b):
    """The same affine map at every time step.

        out[n, t] = x[n, t] W + b

    Args:
        x: (N, T, H) inputs, e.g. hidden states.
        W: (H, V), b: (V,) parameters shared by all steps.
    Returns:
        out: (N, T, V) and the cache for temporal_affine_backward.
    """
    dims = {}
    x = _check_array("x", x, ("N", "T", "H"), dims)
    W = _check_array("W", W, ("H", "V"), dims)
    b = _check_array("b", b, ("V",), dims)
    out = x @ W + b                              # (N, T, V)
    return out, (x, W)


def temporal_affine_backward(dout, cache):
    """Gradients of temporal_affine_forward, one per input, in input order.

        dx[n, t] = dout[n, t] W^T
        dW       = sum_{n,t} x[n, t]^T dout[n, t]
        db       = sum_{n,t} dout[n, t]

    Args:
        dout: (N, T, V) upstream gradient.
        cache: from temporal_affine_forward.
    Returns:
        dx: (N, T, H), dW: (H, V), db: (V,).
    """
    x, W = cache
    N, T, H = x.shape
    dims = {"N": N, "T": T, "V": W.shape[1]}
    dout = _check_array("dout", dout, ("N", "T", "V"), dims)
    dx = dout @ W.T                                              # (N, T, H)
    dW = x.reshape(N * T, H).T @ dout.reshape(N * T, -1)         # (H, V)
    db = dout.sum(axis=(0, 1))                                   # (V,)
    return dx, dW, db


def temporal_softmax_loss(scores, y, mask):
    """Softmax cross-entropy at every step, summed over time and averaged over the batch.

        log p[n, t]   = scores[n, t] - logsumexp(scores[n, t])
        loss          = -(1/N) sum_{n,t} mask[n, t] log p[n, t, y[n, t]]
        dscores[n, t] = (mask[n, t] / N) (p[n, t] - onehot(y[n, t]))

    The division is by N, the number of sequences, not by the number of unmasked steps.
    logsumexp subtracts the row maximum first, so large scores neither overflow nor lose
    precision.

    Args:
        scores: (N, T, V) unnormalised log-probabilities.
        y: (N, T) integer targets in [0, V) (also at masked steps, e.g. a <NULL> id).
        mask: (N, T) booleans or 0/1: which steps count in the loss.
    Returns:
        loss: a float, and dscores: (N, T, V).
    """
    dims = {}
    scores = _check_array("scores", scores, ("N", "T", "V"), dims)
    y = _check_array("y", y, ("N", "T"), dims, kind="int")
    mask = _check_array("mask", mask, ("N", "T"), dims)
    if dims["N"] == 0:
        raise ValueError("scores must hold at least one sequence (N >= 1), got shape "
                         f"{scores.shape}")
    _check_range("y", y, dims["V"])
    if not np.all((mask == 0) | (mask == 1)):
        raise ValueError("mask must hold booleans or 0/1 values, got values "
                         f"{np.unique(mask)[:5].tolist()}")
    N = dims["N"]
    shifted = scores - scores.max(axis=2, keepdims=True)                       # (N, T, V)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))       # (N, T, V)
    n, t = np.indices(y.shape)                                                  # (N, T) each
    loss = -np.sum(mask * log_p[n, t, y]) / N
    dscores = np.exp(log_p)                                                     # p, (N, T, V)
    dscores[n, t, y] -= 1
    dscores *= mask[..., None] / N
    return float(loss), dscores
