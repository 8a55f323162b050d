"""Reference solutions and typical wrong answers for the exercises of lecture 02."""

import numpy as np
from scipy.special import logsumexp


def scaled_backward(obs, A, B, c):
    """beta_hat[T-1] = 1, beta_hat[t] = (A @ (B[:, x_{t+1}] * beta_hat[t+1])) / c_{t+1}."""
    T, K = len(obs), A.shape[0]
    beta_hat = np.ones((T, K))
    for t in range(T - 2, -1, -1):
        beta_hat[t] = A @ (B[:, obs[t + 1]] * beta_hat[t + 1]) / c[t + 1]
    return beta_hat


def scaled_backward_own_scales(obs, A, B, c):
    T, K = len(obs), A.shape[0]
    beta_hat = np.ones((T, K))
    for t in range(T - 2, -1, -1):
        row = A @ (B[:, obs[t + 1]] * beta_hat[t + 1])
        beta_hat[t] = row / row.sum()
    return beta_hat


def scaled_backward_off_by_one(obs, A, B, c):
    T, K = len(obs), A.shape[0]
    beta_hat = np.ones((T, K))
    for t in range(T - 2, -1, -1):
        beta_hat[t] = A @ (B[:, obs[t + 1]] * beta_hat[t + 1]) / c[t]
    return beta_hat


def pair_posteriors(log_alpha, log_beta, obs, A, B):
    """xi[t, i, j] = exp(log_alpha[t, i] + log A[i, j] + log B[j, x_{t+1}] + log_beta[t+1, j] - log p(x))."""
    log_px = logsumexp(log_alpha[-1])
    log_next = np.log(B[:, obs[1:]]).T + log_beta[1:]                      # (T-1, K): indexed by j
    return np.exp(log_alpha[:-1, :, None] + np.log(A)[None] + log_next[:, None, :] - log_px)


def pair_posteriors_without_emission(log_alpha, log_beta, obs, A, B):
    log_px = logsumexp(log_alpha[-1])
    return np.exp(log_alpha[:-1, :, None] + np.log(A)[None] + log_beta[1:, None, :] - log_px)


def pair_posteriors_normalised_per_row(log_alpha, log_beta, obs, A, B):
    log_next = np.log(B[:, obs[1:]]).T + log_beta[1:]
    xi = np.exp(log_alpha[:-1, :, None] + np.log(A)[None] + log_next[:, None, :])
    return xi / xi.sum(axis=2, keepdims=True)


def pair_posteriors_emission_at_t(log_alpha, log_beta, obs, A, B):
    log_px = logsumexp(log_alpha[-1])
    log_next = np.log(B[:, obs[:-1]]).T + log_beta[1:]
    return np.exp(log_alpha[:-1, :, None] + np.log(A)[None] + log_next[:, None, :] - log_px)


EXERCISES = {
    1: {"solution": scaled_backward, "wrong": [scaled_backward_own_scales, scaled_backward_off_by_one]},
    2: {"solution": pair_posteriors, "wrong": [pair_posteriors_without_emission, pair_posteriors_normalised_per_row,
                                               pair_posteriors_emission_at_t]},
}
