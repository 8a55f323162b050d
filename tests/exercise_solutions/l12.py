"""Reference solutions of the exercises of lecture 12, and typical wrong answers each check
must reject (tests/test_exercises.py)."""

import numpy as np

# ----------------------------------------------------------------------------- exercise 1

def causal_mask(kind, k):
    m = np.zeros((k, k))
    m[: k // 2, :] = 1
    m[k // 2, : k // 2] = 1
    m[k // 2, k // 2] = kind == "B"
    return m


def causal_mask_swapped(kind, k):
    return causal_mask("A" if kind == "B" else "B", k)


def causal_mask_column_major(kind, k):
    return causal_mask(kind, k).T


def causal_mask_whole_row(kind, k):
    m = causal_mask(kind, k)
    m[k // 2, k // 2 + 1:] = 1
    return m


def causal_mask_rows_above(kind, k):
    m = causal_mask(kind, k)
    m[k // 2, : k // 2] = 0
    return m


# ----------------------------------------------------------------------------- exercise 2

def bernoulli_baseline(train, test, alpha):
    q = (train.sum(axis=0) + alpha) / (len(train) + 2 * alpha)                 # (R, C)
    nll = -(test * np.log(q) + (1 - test) * np.log(1 - q)).sum(axis=(1, 2))    # (M,)
    return nll, nll.mean() / (q.size * np.log(2))


def bernoulli_baseline_half_smoothed(train, test, alpha):
    q = (train.sum(axis=0) + alpha) / (len(train) + alpha)
    nll = -(test * np.log(q) + (1 - test) * np.log(1 - q)).sum(axis=(1, 2))
    return nll, nll.mean() / (q.size * np.log(2))


def bernoulli_baseline_log2(train, test, alpha):
    q = (train.sum(axis=0) + alpha) / (len(train) + 2 * alpha)
    nll = -(test * np.log2(q) + (1 - test) * np.log2(1 - q)).sum(axis=(1, 2))
    return nll, nll.mean() / q.size


def bernoulli_baseline_bits_in_nats(train, test, alpha):
    nll, bits = bernoulli_baseline(train, test, alpha)
    return nll, bits * np.log(2)


def bernoulli_baseline_bits_per_image(train, test, alpha):
    nll, _ = bernoulli_baseline(train, test, alpha)
    return nll, nll.mean() / np.log(2)


# ----------------------------------------------------------------------------- exercise 3

def sample_pixels(conditional, u):
    n, P = u.shape
    x = np.zeros((n, P))
    for i in range(P):
        x[:, i] = u[:, i] < conditional(x, i)
    return x


def sample_pixels_without_feedback(conditional, u):
    n, P = u.shape
    return np.stack([u[:, i] < conditional(np.zeros((n, P)), i) for i in range(P)], axis=1).astype(float)


def sample_pixels_greater(conditional, u):
    n, P = u.shape
    x = np.zeros((n, P))
    for i in range(P):
        x[:, i] = u[:, i] >= conditional(x, i)
    return x


def sample_pixels_transposed_uniforms(conditional, u):
    n, P = u.shape
    x = np.zeros((n, P))
    flat = u.T.reshape(n, P)                      # the numbers of another pixel and image
    for i in range(P):
        x[:, i] = flat[:, i] < conditional(x, i)
    return x


EXERCISES = {
    1: {"solution": causal_mask,
        "wrong": [causal_mask_swapped, causal_mask_column_major, causal_mask_whole_row, causal_mask_rows_above]},
    2: {"solution": bernoulli_baseline,
        "wrong": [bernoulli_baseline_half_smoothed, bernoulli_baseline_log2, bernoulli_baseline_bits_in_nats,
                  bernoulli_baseline_bits_per_image]},
    3: {"solution": sample_pixels,
        "wrong": [sample_pixels_without_feedback, sample_pixels_greater, sample_pixels_transposed_uniforms]},
}
