"""Reference solutions and typical wrong answers for the exercises of lecture 03."""

import numpy as np


def _softmax(o, axis=-1):
    e = np.exp(o - o.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ----------------------------------------------------------------------------- exercise 1

def jordan_forward(x, y0, Wx, Wr, b, Wy, by):
    N, T, _ = x.shape
    h, o = np.empty((N, T, Wx.shape[1])), np.empty((N, T, Wy.shape[1]))
    fed = y0                                                  # ŷ_0
    for t in range(T):                                        # index t holds step t + 1
        h[:, t] = np.tanh(x[:, t] @ Wx + fed @ Wr + b)
        o[:, t] = h[:, t] @ Wy + by
        fed = _softmax(o[:, t])
    return h, o


def _jordan_variant(feed, start):
    def jordan_forward(x, y0, Wx, Wr, b, Wy, by):
        N, T, _ = x.shape
        hs, os_ = [], []
        fed = start(y0)
        for t in range(T):
            hs.append(np.tanh(x[:, t] @ Wx + fed @ Wr + b))
            os_.append(hs[-1] @ Wy + by)
            fed = feed(os_[-1])
        return np.stack(hs, 1), np.stack(os_, 1)
    return jordan_forward


jordan_feeding_back_scores = _jordan_variant(lambda o: o, lambda y0: y0)
jordan_ignoring_y0 = _jordan_variant(_softmax, np.zeros_like)
jordan_softmax_over_batch = _jordan_variant(lambda o: _softmax(o, axis=0), lambda y0: y0)


# ----------------------------------------------------------------------------- exercise 2

def sequence_loss(scores, y, config):
    N, T, C = scores.shape
    keep = np.zeros(T, dtype=bool)
    if config == "many-to-one":
        keep[-1] = True
    else:
        keep[:] = True
    shifted = scores - scores.max(axis=2, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))     # (N, T, C)
    n, t = np.indices((N, T))
    count = N * keep.sum()
    loss = -log_p[n, t, y][:, keep].sum() / count
    dscores = np.exp(log_p)
    dscores[n, t, y] -= 1
    dscores = dscores * keep[None, :, None] / count
    return loss, dscores


def sequence_loss_first_step(scores, y, config):
    if config == "many-to-one":                               # scores step 1 instead of step T
        loss, dscores = sequence_loss(scores[:, ::-1], y[:, ::-1], config)
        return loss, dscores[:, ::-1]
    return sequence_loss(scores, y, config)


def sequence_loss_summed_over_time(scores, y, config):
    loss, dscores = sequence_loss(scores, y, config)
    T = scores.shape[1] if config == "many-to-many" else 1
    return loss * T, dscores * T


def sequence_loss_naive_softmax(scores, y, config):
    with np.errstate(all="ignore"):
        p = np.exp(scores) / np.exp(scores).sum(axis=2, keepdims=True)     # overflows for large scores
        T = scores.shape[1]
        keep = np.arange(T) == T - 1 if config == "many-to-one" else np.ones(T, dtype=bool)
        n, t = np.indices(y.shape)
        count = y.shape[0] * keep.sum()
        loss = -np.log(p[n, t, y])[:, keep].sum() / count
        d = p.copy()
        d[n, t, y] -= 1
        return loss, d * keep[None, :, None] / count


# ----------------------------------------------------------------------------- exercise 3

def generate(y, warmup, Wx, Wh, b, Wy, by):
    N, T = y.shape[0], y.shape[1] - 1
    h = np.zeros((N, Wh.shape[0]))                            # h_0
    pred = np.empty((N, T, Wy.shape[1]))
    for t in range(1, T + 1):
        inp = y[:, t - 1] if t <= warmup else pred[:, t - 2]  # y_(t-1) or ŷ_(t-1)
        h = np.tanh(inp @ Wx + h @ Wh + b)
        pred[:, t - 1] = h @ Wy + by                          # ŷ_t
    return pred


def generate_teacher_forced_always(y, warmup, Wx, Wh, b, Wy, by):
    return generate(y, y.shape[1] - 1, Wx, Wh, b, Wy, by)


def generate_switching_late(y, warmup, Wx, Wh, b, Wy, by):
    return generate(y, warmup + 1, Wx, Wh, b, Wy, by)


EXERCISES = {
    1: {"solution": jordan_forward,
        "wrong": [jordan_feeding_back_scores, jordan_ignoring_y0, jordan_softmax_over_batch]},
    2: {"solution": sequence_loss,
        "wrong": [sequence_loss_first_step, sequence_loss_summed_over_time, sequence_loss_naive_softmax]},
    3: {"solution": generate,
        "wrong": [generate_teacher_forced_always, generate_switching_late]},
}
