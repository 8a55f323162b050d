"""The Bayes-optimal taggers of lecture 08, computed with course_lib.hmm, against brute force.

On short sequences (T <= 10) every state path z in {0, 1}^T of the dishonest casino can be
listed, and the joint written from the definition,

    p(z, x) = pi[z_0] B[z_0, x_0] prod_{t>=1} A[z_{t-1}, z_t] B[z_t, x_t],

so each decoder has an independent oracle:

    filtering   p(z_t = k | x_0..x_t)  = sum over prefixes z_0..z_t with z_t = k of p(z_0..t, x_0..t), normalised
                                         (course_lib.hmm: log_alpha[t] normalised over k)
    posterior   p(z_t = k | x)         = sum over paths with z_t = k of p(z, x), normalised
                                         (course_lib.hmm.posteriors)
    Viterbi     argmax_z p(z, x)                       (course_lib.hmm.viterbi)

and the accuracies of the three decoders against the true states agree exactly. A last test
enumerates every observation sequence as well and checks the order of the exact expected
accuracies: posterior decoding >= filtering and >= Viterbi.
"""

import itertools

import numpy as np
import pytest
from scipy.special import logsumexp

from course_lib import hmm


def all_paths(K, T):
    return np.array(list(itertools.product(range(K), repeat=T)), dtype=np.int64)   # (K^T, T)


def brute_force(obs, pi, A, B):
    """Filtering and posterior distributions (T, K) and the best path, by enumeration."""
    T, K = len(obs), len(pi)
    paths = all_paths(K, T)                                       # (P, T)
    # log p(z_0..t, x_0..t) for every path and every t: cumulative sum of the factors
    factors = np.log(B[paths, obs])                               # (P, T) emissions
    factors[:, 0] += np.log(pi[paths[:, 0]])
    factors[:, 1:] += np.log(A[paths[:, :-1], paths[:, 1:]])
    prefix = np.exp(np.cumsum(factors, axis=1))                   # (P, T) p(z_0..t, x_0..t)
    joint = prefix[:, -1]                                         # (P,)  p(z, x)
    filtering = np.empty((T, K))
    posterior = np.empty((T, K))
    for t in range(T):
        for k in range(K):
            on = paths[:, t] == k
            # each prefix z_0..z_t appears K^(T-1-t) times among the paths: the same factor
            # for every k, so it cancels in the normalisation
            filtering[t, k] = prefix[on, t].sum()
            posterior[t, k] = joint[on].sum()
    filtering /= filtering.sum(axis=1, keepdims=True)
    posterior /= posterior.sum(axis=1, keepdims=True)
    return filtering, posterior, paths[np.argmax(joint)]


def filtering_hmm(obs, pi, A, B):
    """p(z_t = k | x_0..x_t): log_alpha[t] = log p(x_0..x_t, z_t = k), normalised over k."""
    log_alpha, _ = hmm.forward_algorithm(obs, pi, A, B)
    return np.exp(log_alpha - logsumexp(log_alpha, axis=1, keepdims=True))


def random_hmm(rng, K, M):
    pi = rng.dirichlet(np.ones(K))
    A = rng.dirichlet(np.ones(K), size=K)
    B = rng.dirichlet(np.ones(M), size=K)
    return pi, A, B


@pytest.mark.parametrize("model, T", [("casino", 1), ("casino", 2), ("casino", 6), ("casino", 10),
                                      ("random 3-state", 1), ("random 3-state", 6)])
def test_decoders_match_brute_force(model, T):
    rng = np.random.default_rng(T)
    pi, A, B = hmm.dishonest_casino() if model == "casino" else random_hmm(rng, 3, 4)
    for _ in range(5):
        states, obs = hmm.sample(pi, A, B, T, rng)
        filt_bf, post_bf, path_bf = brute_force(obs, pi, A, B)
        filt = filtering_hmm(obs, pi, A, B)
        post = hmm.posteriors(obs, pi, A, B)
        path, _ = hmm.viterbi(obs, pi, A, B)

        np.testing.assert_allclose(filt, filt_bf, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(post, post_bf, rtol=1e-10, atol=1e-14)
        np.testing.assert_array_equal(path, path_bf)
        # no near-ties, so the decoded states (and hence the accuracies) are the same
        for probs in (filt_bf, post_bf):
            top2 = np.sort(probs, axis=1)[:, -2:]
            assert np.all(top2[:, 1] - top2[:, 0] > 1e-9)
        assert np.mean(filt.argmax(1) == states) == np.mean(filt_bf.argmax(1) == states)
        assert np.mean(post.argmax(1) == states) == np.mean(post_bf.argmax(1) == states)
        assert np.mean(path == states) == np.mean(path_bf == states)
        # the last filtered distribution has seen everything: it is the last posterior
        np.testing.assert_allclose(filt[-1], post[-1], rtol=1e-10)


def test_exact_expected_accuracies_are_ordered():
    """Over all 6^T roll sequences (T = 3), the exact expected number of
    correctly tagged steps, sum_x sum_t p(z_t = decoder_t(x), x), is largest for posterior
    decoding (the Bayes rule for per-step accuracy); filtering, which may not look ahead, and
    Viterbi, which optimises whole paths, do no better. Filtering equals its closed form
    sum_t sum_{x_0..t} max_k p(z_t = k, x_0..x_t)."""
    pi, A, B = hmm.dishonest_casino()
    T, M = 3, B.shape[1]
    totals = {"filtering": 0.0, "posterior": 0.0, "viterbi": 0.0}
    for obs in itertools.product(range(M), repeat=T):
        obs = np.array(obs)
        log_alpha, ll = hmm.forward_algorithm(obs, pi, A, B)
        post = hmm.posteriors(obs, pi, A, B)
        path, _ = hmm.viterbi(obs, pi, A, B)
        p_x = np.exp(ll)
        for name, decoded in [("filtering", log_alpha.argmax(1)), ("posterior", post.argmax(1)),
                              ("viterbi", path)]:
            totals[name] += p_x * post[np.arange(T), decoded].sum()
    closed_form = 0.0
    for t in range(T):
        for prefix in itertools.product(range(M), repeat=t + 1):
            log_alpha, _ = hmm.forward_algorithm(np.array(prefix), pi, A, B)
            closed_form += np.exp(log_alpha[-1]).max()
    acc = {k: v / T for k, v in totals.items()}
    assert acc["posterior"] > acc["filtering"] + 1e-3
    assert acc["posterior"] >= acc["viterbi"] - 1e-12
    np.testing.assert_allclose(totals["filtering"], closed_form, rtol=1e-12)
    assert 2 / 3 < acc["filtering"] < acc["posterior"] < 1
