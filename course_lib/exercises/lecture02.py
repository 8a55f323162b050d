"""Checks of the exercises of lecture 02: the scaled backward pass and the pair posteriors.

Shape legend:
    K  hidden states          A (K, K), B (K, V), obs (T,) integers in [0, V)
    V  observation symbols    c (T,) forward scale factors, c_t = p(x_t | x_0..x_{t-1})
    T  time steps             beta_hat (T, K); xi (T-1, K, K), xi[t, i, j] = p(z_t = i, z_{t+1} = j | x)

    check_scaled_backward(scaled_backward)   exercise 1, against course_lib.hmm.backward_algorithm
                                             (log space) and the scale factors of its forward pass
    check_pair_posteriors(pair_posteriors)   exercise 2, against brute-force enumeration of all
                                             K^T state paths
"""

import itertools

import numpy as np
from scipy.special import logsumexp

from course_lib import hmm
from course_lib.exercises import attempt, exercise
from course_lib.grading import check_output

__all__ = ["check_scaled_backward", "check_pair_posteriors"]


def _random_hmm(rng, K, V):
    return rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), size=K), rng.dirichlet(np.ones(V), size=K)


# ----------------------------------------------------------------------------- exercise 1

def _scale_factors(obs, pi, A, B):
    """log c_t = log p(x_0..x_t) - log p(x_0..x_{t-1}), from course_lib's forward pass."""
    log_alpha, _ = hmm.forward_algorithm(obs, pi, A, B)
    log_prefix = logsumexp(log_alpha, axis=1)                         # (T,): log p(x_0..x_t)
    return np.diff(log_prefix, prepend=0.0)


@exercise(1, "the scaled backward pass")
def check_scaled_backward(scaled_backward):
    rng = np.random.default_rng(4000)
    random_model = _random_hmm(rng, 3, 5)
    casino = hmm.dishonest_casino()
    cases = [
        ("random HMM, K = 3, V = 5, T = 11", hmm.sample(*random_model, 11, rng)[1], random_model),
        ("the casino, T = 1500 rolls (beta itself underflows to 0)", hmm.sample(*casino, 1500, rng)[1], casino),
    ]
    for case, obs, (pi, A, B) in cases:
        log_c = _scale_factors(obs, pi, A, B)                          # (T,)
        log_beta = hmm.backward_algorithm(obs, A, B)                  # (T, K)
        after = np.r_[np.cumsum(log_c[::-1])[::-1][1:], 0.0]          # (T,): sum_{s > t} log c_s
        expected = np.exp(log_beta - after[:, None])
        got = attempt(scaled_backward, obs.copy(), A.copy(), B.copy(), np.exp(log_c), case=case)
        own = expected / expected.sum(axis=1, keepdims=True)
        off_by_one = np.exp(log_beta - np.r_[np.cumsum(log_c[-2::-1])[::-1], 0.0][:, None])  # sum_{t <= s < T-1}
        with np.errstate(under="ignore"):
            unscaled = np.exp(log_beta)
        check_output("beta_hat", got, expected, case=case, mistakes=[
            ("each row divided by its own sum instead of by the forward scale factor c_{t+1}",
             np.r_[own[:-1], expected[-1:]]),
            ("each row divided by its own sum, the last row included, instead of by c_{t+1}", own),
            ("c_t in place of c_{t+1} (off by one in time)", off_by_one),
            ("no scaling at all: this is beta itself, which underflows on long sequences", unscaled),
        ], hint="beta_hat[T-1] = 1 and beta_hat[t, i] = sum_j A[i, j] B[j, x_{t+1}] beta_hat[t+1, j] / c_{t+1}.")
    return "Your beta_hat is beta scaled by the forward factors, so gamma = alpha_hat * beta_hat needs no normalising."


# ----------------------------------------------------------------------------- exercise 2

def _pair_posteriors_by_enumeration(obs, pi, A, B):
    """xi[t, i, j] = sum of p(z, x) over the paths with z_t = i, z_{t+1} = j, divided by p(x),
    with every one of the K^T paths scored from the definition of the joint."""
    T, K = obs.size, pi.size
    paths = np.array(list(itertools.product(range(K), repeat=T)))      # (K^T, T)
    joint = pi[paths[:, 0]] * B[paths[:, 0], obs[0]]
    for t in range(1, T):
        joint = joint * A[paths[:, t - 1], paths[:, t]] * B[paths[:, t], obs[t]]   # (K^T,)
    xi = np.zeros((T - 1, K, K))
    for t in range(T - 1):
        np.add.at(xi[t], (paths[:, t], paths[:, t + 1]), joint)
    return xi / joint.sum()


@exercise(2, "the pair posteriors xi")
def check_pair_posteriors(pair_posteriors):
    rng = np.random.default_rng(4100)
    cases = []
    for K, V, T in [(3, 4, 6), (2, 5, 9)]:
        model = _random_hmm(rng, K, V)
        cases.append((f"random HMM, K = {K}, V = {V}, T = {T}", hmm.sample(*model, T, rng)[1], model))
    for case, obs, (pi, A, B) in cases:
        expected = _pair_posteriors_by_enumeration(obs, pi, A, B)      # (T-1, K, K)
        log_alpha, log_px = hmm.forward_algorithm(obs, pi, A, B)
        log_beta = hmm.backward_algorithm(obs, A, B)
        got = attempt(pair_posteriors, log_alpha.copy(), log_beta.copy(), obs.copy(), A.copy(), B.copy(), case=case)
        log_A, log_B = np.log(A), np.log(B)
        head, tail = log_alpha[:-1, :, None] + log_A, log_beta[1:, None, :]          # (T-1, K, K), (T-1, 1, K)
        emit_next, emit_now = log_B[:, obs[1:]].T[:, None, :], log_B[:, obs[:-1]].T[:, None, :]
        no_norm = np.exp(head + emit_next + tail)
        check_output("xi", got, expected, case=case, mistakes=[
            ("B[j, x_{t+1}] left out", np.exp(head + tail - log_px)),
            ("B[j, x_t] in place of B[j, x_{t+1}]", np.exp(head + emit_now + tail - log_px)),
            ("each row i normalised on its own; only the whole K x K table of a time step sums to 1",
             no_norm / no_norm.sum(axis=2, keepdims=True)),
            ("no division by p(x)", no_norm),
            ("i and j swapped: xi[t, i, j] is z_t = i (rows) and z_{t+1} = j (columns)",
             np.exp(head + emit_next + tail - log_px).transpose(0, 2, 1)),
        ], hint="xi[t, i, j] = exp(log_alpha[t, i] + log A[i, j] + log B[j, x_{t+1}] + log_beta[t+1, j] - log p(x)).")
    return "It equals the brute-force sum over all K^T paths; summed over j it gives gamma[t, i]."
