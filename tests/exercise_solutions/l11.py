"""Reference solutions of the exercises of lecture 11, and typical wrong answers each check
must reject (tests/test_exercises.py)."""

import numpy as np

# ----------------------------------------------------------------------------- exercise 1


def _softmax_terms(scores, y):
    a = scores - scores.max(axis=-1, keepdims=True)
    log_p = a - np.log(np.exp(a).sum(axis=-1, keepdims=True))             # (N, T, V)
    nll = -np.take_along_axis(log_p, y[..., None], axis=-1)[..., 0]        # (N, T)
    d = np.exp(log_p)
    np.put_along_axis(d, y[..., None], np.take_along_axis(d, y[..., None], axis=-1) - 1, axis=-1)
    return nll, d                                                          # d = p - onehot(y)


def temporal_softmax_loss(scores, y, mask):
    N = len(y)
    nll, d = _softmax_terms(scores, y)
    return float((nll * mask).sum() / N), d * mask[..., None] / N


def temporal_softmax_loss_mean_per_step(scores, y, mask):
    nll, d = _softmax_terms(scores, y)
    return float((nll * mask).sum() / mask.sum()), d * mask[..., None] / mask.sum()


def temporal_softmax_loss_without_mask(scores, y, mask):
    N = len(y)
    nll, d = _softmax_terms(scores, y)
    return float(nll.sum() / N), d / N


def temporal_softmax_loss_overflows(scores, y, mask):
    N = len(y)
    p = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
    nll = -np.log(np.take_along_axis(p, y[..., None], axis=-1)[..., 0])
    np.put_along_axis(p, y[..., None], np.take_along_axis(p, y[..., None], axis=-1) - 1, axis=-1)
    return float((nll * mask).sum() / N), p * mask[..., None] / N


def temporal_softmax_loss_gradient_not_averaged(scores, y, mask):
    nll, d = _softmax_terms(scores, y)
    return float((nll * mask).sum() / len(y)), d * mask[..., None]


# ----------------------------------------------------------------------------- exercise 2

def initial_state(features, W_init, b_init, dh0):
    h0 = np.tanh(features @ W_init + b_init)
    da = dh0 * (1 - h0 ** 2)
    return h0, da @ W_init.T, features.T @ da, da.sum(axis=0)


def initial_state_wrong_derivative(features, W_init, b_init, dh0):
    h0 = np.tanh(features @ W_init + b_init)
    da = dh0 * (1 - h0)
    return h0, da @ W_init.T, features.T @ da, da.sum(axis=0)


def initial_state_bias_summed_over_units(features, W_init, b_init, dh0):
    h0, df, dW, _ = initial_state(features, W_init, b_init, dh0)
    da = dh0 * (1 - h0 ** 2)
    return h0, df, dW, np.full_like(b_init, da.sum())


def initial_state_without_tanh(features, W_init, b_init, dh0):
    a = features @ W_init + b_init
    return a, dh0 @ W_init.T, features.T @ dh0, dh0.sum(axis=0)


# ----------------------------------------------------------------------------- exercise 3

def greedy_captions(step, h0, bos, eos, max_len):
    N = len(h0)
    y, h = np.full(N, bos), h0
    captions, alive = [[] for _ in range(N)], np.ones(N, dtype=bool)
    for _ in range(max_len):
        log_p, h = step(y, h)
        y = log_p.argmax(axis=1)
        for n in np.flatnonzero(alive):
            if y[n] == eos:
                alive[n] = False
            else:
                captions[n].append(int(y[n]))
        if not alive.any():
            break
    return captions


def greedy_captions_past_eos(step, h0, bos, eos, max_len):
    N = len(h0)
    y, h = np.full(N, bos), h0
    captions = [[] for _ in range(N)]
    for _ in range(max_len):
        log_p, h = step(y, h)
        y = log_p.argmax(axis=1)
        for n in range(N):
            captions[n].append(int(y[n]))
    return [[w for w in c if w != eos] for c in captions]


def greedy_captions_stop_at_first_row(step, h0, bos, eos, max_len):
    N = len(h0)
    y, h = np.full(N, bos), h0
    captions = [[] for _ in range(N)]
    for _ in range(max_len):
        log_p, h = step(y, h)
        y = log_p.argmax(axis=1)
        if (y == eos).any():
            break
        for n in range(N):
            captions[n].append(int(y[n]))
    return captions


def greedy_captions_keep_eos(step, h0, bos, eos, max_len):
    return [c + [eos] if len(c) < max_len else c for c in greedy_captions(step, h0, bos, eos, max_len)]


EXERCISES = {
    1: {"solution": temporal_softmax_loss,
        "wrong": [temporal_softmax_loss_mean_per_step, temporal_softmax_loss_without_mask,
                  temporal_softmax_loss_overflows, temporal_softmax_loss_gradient_not_averaged]},
    2: {"solution": initial_state,
        "wrong": [initial_state_wrong_derivative, initial_state_bias_summed_over_units, initial_state_without_tanh]},
    3: {"solution": greedy_captions,
        "wrong": [greedy_captions_past_eos, greedy_captions_stop_at_first_row, greedy_captions_keep_eos]},
}
