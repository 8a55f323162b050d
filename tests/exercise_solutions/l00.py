"""Reference solutions and typical wrong answers for the exercises of lecture 00."""

import numpy as np


def logsumexp(a):
    """(N, D) -> (N,): m + log(sum(exp(a - m))), m the maximum of each row."""
    m = np.max(a, axis=1, keepdims=True)                   # (N, 1)
    return np.log(np.sum(np.exp(a - m), axis=1)) + m[:, 0]


def logsumexp_naive(a):
    with np.errstate(over="ignore", divide="ignore"):      # exp(1000) = inf, log(0) = -inf
        return np.log(np.sum(np.exp(a), axis=1))


def logsumexp_max_not_added_back(a):
    m = np.max(a, axis=1, keepdims=True)
    return np.log(np.sum(np.exp(a - m), axis=1))


def logsumexp_global_max(a):
    m = np.max(a)
    with np.errstate(divide="ignore"):                     # rows far below m: log(0) = -inf
        return np.log(np.sum(np.exp(a - m), axis=1)) + m


def sample_categorical(p, u):
    """x[i] = the smallest v with u[i] < F[v], F = cumsum(p)."""
    F = np.cumsum(p)
    return (F[None, :] <= u[:, None]).sum(axis=1)          # (n,): how many F[v] <= u


def sample_categorical_strict(p, u):
    F = np.cumsum(p)
    return (F[None, :] < u[:, None]).sum(axis=1)


def sample_categorical_without_cumsum(p, u):
    return (p[None, :] <= u[:, None]).sum(axis=1)


EXERCISES = {
    1: {"solution": logsumexp, "wrong": [logsumexp_naive, logsumexp_max_not_added_back, logsumexp_global_max]},
    2: {"solution": sample_categorical, "wrong": [sample_categorical_strict, sample_categorical_without_cumsum]},
}
