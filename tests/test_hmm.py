"""course_lib.hmm against two oracles: brute-force enumeration of every state path
(small T), and hmmlearn's CategoricalHMM (independent implementation)."""

import itertools
import warnings

import numpy as np
import pytest

from course_lib import hmm

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from hmmlearn.hmm import CategoricalHMM


def random_model(rng, K, M, concentration=1.0):
    pi = rng.dirichlet(np.full(K, concentration))
    A = rng.dirichlet(np.full(K, concentration), size=K)
    B = rng.dirichlet(np.full(M, concentration), size=K)
    return pi, A, B


def brute_force(obs, pi, A, B):
    """Every one of the K^T paths, scored from the definition of the joint in probability space."""
    K, T = A.shape[0], len(obs)
    joint = {}
    for path in itertools.product(range(K), repeat=T):
        p = pi[path[0]] * B[path[0], obs[0]]
        for t in range(1, T):
            p *= A[path[t - 1], path[t]] * B[path[t], obs[t]]
        joint[path] = p
    return joint


def hmmlearn_model(pi, A, B, **kw):
    model = CategoricalHMM(n_components=A.shape[0], init_params="", **kw)
    model.n_features = B.shape[1]
    model.startprob_, model.transmat_, model.emissionprob_ = pi, A, B
    return model


SHAPES = [(2, 3, 1), (2, 3, 6), (3, 2, 5), (4, 5, 4)]   # (K, M, T)


@pytest.mark.parametrize("K,M,T", SHAPES)
def test_against_brute_force(K, M, T):
    rng = np.random.default_rng(100 * K + 10 * M + T)
    pi, A, B = random_model(rng, K, M)
    obs = rng.integers(0, M, size=T)
    joint = brute_force(obs, pi, A, B)
    px = sum(joint.values())

    log_alpha, ll = hmm.forward_algorithm(obs, pi, A, B)
    np.testing.assert_allclose(ll, np.log(px), rtol=1e-12)

    # alpha[t, k] = sum of joint over paths with z_t = k, marginalising the future too,
    # which equals p(x_0..x_t, z_t = k) * p(x_{t+1}.. | z_t = k): check gamma instead,
    # and alpha at the last step, where the future is empty.
    gamma_bf = np.zeros((T, K))
    for path, p in joint.items():
        gamma_bf[np.arange(T), list(path)] += p / px
    np.testing.assert_allclose(hmm.posteriors(obs, pi, A, B), gamma_bf, rtol=1e-10, atol=1e-14)
    last = np.array([sum(p for path, p in joint.items() if path[-1] == k) for k in range(K)])
    np.testing.assert_allclose(np.exp(log_alpha[-1]), last, rtol=1e-10)

    # beta[0, k] = p(x_1.. | z_0 = k) = sum over paths starting in k of joint / (pi[k] B[k, x_0])
    first = np.array([sum(p for path, p in joint.items() if path[0] == k) for k in range(K)])
    np.testing.assert_allclose(
        np.exp(hmm.backward_algorithm(obs, A, B)[0]), first / (pi * B[:, obs[0]]), rtol=1e-10
    )

    best = max(joint, key=joint.get)
    path, log_prob = hmm.viterbi(obs, pi, A, B)
    assert tuple(path) == best
    np.testing.assert_allclose(log_prob, np.log(joint[best]), rtol=1e-12)
    np.testing.assert_allclose(hmm.joint_log_prob(np.array(best), obs, pi, A, B), np.log(joint[best]), rtol=1e-12)


@pytest.mark.parametrize("seed,K,M,T", [(0, 2, 3, 50), (1, 3, 4, 200), (2, 5, 7, 120)])
def test_against_hmmlearn_inference(seed, K, M, T):
    rng = np.random.default_rng(seed)
    pi, A, B = random_model(rng, K, M)
    _, obs = hmm.sample(pi, A, B, T, rng)
    model = hmmlearn_model(pi, A, B)
    X = obs.reshape(-1, 1)

    _, ll = hmm.forward_algorithm(obs, pi, A, B)
    np.testing.assert_allclose(ll, model.score(X), rtol=1e-10)
    np.testing.assert_allclose(hmm.posteriors(obs, pi, A, B), model.predict_proba(X), atol=1e-10)
    ref_lp, ref_path = model.decode(X, algorithm="viterbi")
    path, lp = hmm.viterbi(obs, pi, A, B)
    np.testing.assert_allclose(lp, ref_lp, rtol=1e-10)
    # Products commute, so distinct paths can tie exactly; both must then score lp.
    np.testing.assert_allclose(hmm.joint_log_prob(path, obs, pi, A, B), lp, rtol=1e-12)
    np.testing.assert_allclose(hmm.joint_log_prob(ref_path, obs, pi, A, B), lp, rtol=1e-12)
    assert np.mean(path == ref_path) > 0.8


@pytest.mark.parametrize("seed,K,M", [(3, 2, 4), (4, 3, 5)])
def test_baum_welch_matches_hmmlearn_fit(seed, K, M):
    rng = np.random.default_rng(seed)
    true = random_model(rng, K, M, concentration=0.5)
    seqs = [hmm.sample(*true, T, rng)[1] for T in (40, 75, 60)]
    init = random_model(rng, K, M)
    n_iter = 15

    pi, A, B, history = hmm.baum_welch(seqs, *init, n_iter=n_iter, tol=-np.inf)
    model = hmmlearn_model(*init, n_iter=n_iter, tol=-np.inf, params="ste", implementation="log")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(np.concatenate(seqs).reshape(-1, 1), lengths=[len(s) for s in seqs])

    assert len(history) == n_iter
    np.testing.assert_allclose(history, list(model.monitor_.history), rtol=1e-9)
    np.testing.assert_allclose(pi, model.startprob_, atol=1e-8)
    np.testing.assert_allclose(A, model.transmat_, atol=1e-8)
    np.testing.assert_allclose(B, model.emissionprob_, atol=1e-8)


def test_baum_welch_invariants_and_stopping(rng):
    true = hmm.dishonest_casino()
    seqs = [hmm.sample(*true, 300, rng)[1] for _ in range(4)]
    init = random_model(rng, 2, 6)
    pi, A, B, history = hmm.baum_welch(seqs, *init, n_iter=200, tol=1e-2)
    assert np.all(np.diff(history) >= -1e-8), "EM never decreases the likelihood"
    assert len(history) < 200, "tol stops the run early"
    assert history[-1] - history[-2] < 1e-2 <= history[-2] - history[-3]
    for name, P in [("pi", pi[None]), ("A", A), ("B", B)]:
        np.testing.assert_allclose(P.sum(axis=1), 1.0, err_msg=name)
    # the returned parameters come from one more update than history records
    ll_fit = sum(hmm.forward_algorithm(s, pi, A, B)[1] for s in seqs)
    assert ll_fit >= history[-1] - 1e-8


def test_single_array_is_one_sequence(rng):
    model = random_model(rng, 2, 3)
    obs = hmm.sample(*model, 30, rng)[1]
    a = hmm.baum_welch(obs, *model, n_iter=3)
    b = hmm.baum_welch([obs], *model, n_iter=3)
    for x, y in zip(a[:3], b[:3]):
        np.testing.assert_array_equal(x, y)


def test_long_sequences_stay_finite_and_correct(rng):
    """T = 10,000: probability space underflows (p(x) < 1e-4000); log space agrees with hmmlearn."""
    pi, A, B = random_model(rng, 3, 4)
    states, obs = hmm.sample(pi, A, B, 10_000, rng)
    log_alpha, ll = hmm.forward_algorithm(obs, pi, A, B)
    assert np.all(np.isfinite(log_alpha)) and np.isfinite(ll)
    assert ll < np.log(np.finfo(float).tiny), "the naive product would underflow"
    model = hmmlearn_model(pi, A, B)
    np.testing.assert_allclose(ll, model.score(obs.reshape(-1, 1)), rtol=1e-10)
    gamma = hmm.posteriors(obs, pi, A, B)
    np.testing.assert_allclose(gamma.sum(axis=1), 1.0, atol=1e-9)
    path, lp = hmm.viterbi(obs, pi, A, B)
    assert np.isfinite(lp) and lp <= ll
    ref_lp, ref_path = model.decode(obs.reshape(-1, 1), algorithm="viterbi")
    np.testing.assert_allclose(lp, ref_lp, rtol=1e-10)
    np.testing.assert_allclose(hmm.joint_log_prob(path, obs, pi, A, B), ref_lp, rtol=1e-10)
    assert np.all(np.isfinite(hmm.backward_algorithm(obs, A, B)))


def test_zero_probabilities_are_handled(rng):
    """A left-to-right chain: structural zeros become -inf, never NaN."""
    pi = np.array([1.0, 0.0, 0.0])
    A = np.array([[0.7, 0.3, 0.0], [0.0, 0.6, 0.4], [0.0, 0.0, 1.0]])
    B = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    obs = np.array([0, 0, 1, 1, 0, 1])
    joint = brute_force(obs, pi, A, B)
    log_alpha, ll = hmm.forward_algorithm(obs, pi, A, B)
    assert not np.any(np.isnan(log_alpha))
    np.testing.assert_allclose(ll, np.log(sum(joint.values())), rtol=1e-12)
    path, _ = hmm.viterbi(obs, pi, A, B)
    assert tuple(path) == max(joint, key=joint.get)
    gamma = hmm.posteriors(obs, pi, A, B)
    assert gamma[0, 0] == pytest.approx(1.0, abs=1e-12) and not np.any(np.isnan(gamma))
    assert np.all(gamma[:, 2][:2] == 0.0), "state 2 cannot be reached in two steps"


def test_sample_statistics(rng):
    """Empirical frequencies of a long sample approach the stationary and emission laws."""
    pi, A, B = hmm.dishonest_casino()
    states, obs = hmm.sample(pi, A, B, 100_000, rng)
    evals, evecs = np.linalg.eig(A.T)
    stat = np.real(evecs[:, np.argmax(np.real(evals))])
    stat /= stat.sum()
    np.testing.assert_allclose(np.bincount(states, minlength=2) / states.size, stat, atol=0.015)
    trans = np.zeros((2, 2))
    np.add.at(trans, (states[:-1], states[1:]), 1)
    np.testing.assert_allclose(trans / trans.sum(1, keepdims=True), A, atol=0.015)
    for k in range(2):
        np.testing.assert_allclose(np.bincount(obs[states == k], minlength=6) / np.sum(states == k), B[k], atol=0.015)
    assert states.dtype == np.int64 and obs.dtype == np.int64


def test_sample_is_reproducible():
    model = hmm.dishonest_casino()
    a = hmm.sample(*model, 50, np.random.default_rng(7))
    b = hmm.sample(*model, 50, np.random.default_rng(7))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


GOOD = hmm.dishonest_casino()


@pytest.mark.parametrize(
    "args,match",
    [
        ((np.array([0, 1]), GOOD[0], GOOD[1][:, :1], GOOD[2]), r"A must have shape \(K, K\) = \(2, 2\), got \(2, 1\)"),
        ((np.array([0, 1]), GOOD[0], GOOD[1], GOOD[2][:1]), r"B must have shape \(K, V\) with K = 2"),
        ((np.array([0, 1]), np.array([0.5, 0.5, 0.0]), GOOD[1], GOOD[2]), r"pi must have shape \(K,\) = \(2,\), got \(3,\)"),
        ((np.array([0, 1]), GOOD[0], np.array([[0.9, 0.05], [0.1, 0.9]]), GOOD[2]), r"every row of A must sum to 1; row 0 sums to 0.95"),
        ((np.array([0, 1]), np.array([0.6, 0.6]), GOOD[1], GOOD[2]), r"pi must sum to 1, got 1.2"),
        ((np.array([0, 6]), *GOOD), r"obs must hold symbols in \[0, V\) = \[0, 6\); found 6 at t = 1"),
        ((np.array([0, -1]), *GOOD), r"found -1 at t = 1"),
        ((np.array([], dtype=int), *GOOD), r"obs is empty"),
        ((np.array([[0, 1]]), *GOOD), r"obs must be a 1-D sequence"),
        ((np.array([0.5, 1.0]), *GOOD), r"obs must hold integer symbols"),
        ((np.array([0, 1]), GOOD[0], np.array([[1.1, -0.1], [0.1, 0.9]]), GOOD[2]), r"A must be non-negative"),
        ((np.array([0, 1]), GOOD[0], np.array([[np.nan, 0.5], [0.1, 0.9]]), GOOD[2]), r"A must be finite"),
    ],
)
def test_bad_inputs_say_what_was_expected(args, match):
    for fn in (hmm.forward_algorithm, hmm.posteriors, hmm.viterbi):
        with pytest.raises(ValueError, match=match):
            fn(*args)


def test_bad_inputs_other_entry_points(rng):
    pi, A, B = GOOD
    with pytest.raises(ValueError, match=r"A must have shape \(K, K\)"):
        hmm.backward_algorithm(np.array([0]), A[:, :1], B)
    with pytest.raises(ValueError, match=r"sequences is empty"):
        hmm.baum_welch([], pi, A, B)
    with pytest.raises(ValueError, match=r"sequences\[1\] must hold symbols in \[0, V\) = \[0, 6\); found 9"):
        hmm.baum_welch([np.array([0, 1]), np.array([9])], pi, A, B)
    with pytest.raises(ValueError, match=r"sequences\[0\] is empty"):
        hmm.baum_welch([np.array([], dtype=int)], pi, A, B)
    with pytest.raises(ValueError, match=r"T must be a positive integer"):
        hmm.sample(pi, A, B, 0, rng)
    with pytest.raises(TypeError, match=r"rng must be a numpy.random.Generator"):
        hmm.sample(pi, A, B, 5, 42)


def test_logsumexp_matches_scipy(rng):
    from scipy.special import logsumexp as scipy_lse

    a = rng.normal(scale=300, size=(4, 5, 6))
    a[0, 0, :] = -np.inf                      # an all -inf slice: the sum is 0, the log -inf
    a[1, :, 2] = -np.inf
    for axis in (None, 0, 1, 2):
        np.testing.assert_allclose(hmm.logsumexp(a, axis=axis), scipy_lse(a, axis=axis), rtol=1e-13)
    assert hmm.logsumexp(np.array([-np.inf, -np.inf])) == -np.inf
    assert np.isscalar(hmm.logsumexp(np.array([1.0, 2.0])))


# ----------------------------------------------------------------------------- fast routes vs derivations

def _log_space(obs, pi, A, B):
    """The log-space derivations of the module, as lecture 02 writes them."""
    with np.errstate(divide="ignore"):
        lp, lA, lB = np.log(pi), np.log(A), np.log(B)
    log_alpha, ll = hmm._forward_log(obs, lp, lA, lB)
    log_beta = hmm._backward_log(obs, lA, lB)
    return log_alpha, ll, log_beta, np.exp(log_alpha + log_beta - ll), hmm._viterbi_log(obs, lp, lA, lB)


FAST_CASES = [  # (K, M, T, concentration): T around multiples of the block lengths, T = 1 and 2
    (2, 6, 1, 1.0), (2, 6, 2, 1.0), (3, 4, 33, 1.0), (3, 4, 65, 0.3), (4, 2, 100, 1.0),
    (5, 3, 257, 0.2), (8, 10, 500, 1.0), (2, 40, 301, 1.0), (6, 1, 50, 1.0),
]


@pytest.mark.parametrize("K,M,T,conc", FAST_CASES)
def test_fast_routes_equal_the_log_space_derivations(K, M, T, conc):
    rng = np.random.default_rng(1000 * K + 10 * M + T)
    pi, A, B = random_model(rng, K, M, conc)
    _, obs = hmm.sample(pi, A, B, T, rng)
    log_alpha, ll, log_beta, gamma, (path, lp) = _log_space(obs, pi, A, B)
    fa, fll = hmm.forward_algorithm(obs, pi, A, B)
    np.testing.assert_allclose(fa, log_alpha, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(fll, ll, rtol=1e-11, atol=1e-12)     # M = 1: log p(x) = 0
    np.testing.assert_allclose(hmm.backward_algorithm(obs, A, B), log_beta, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(hmm.posteriors(obs, pi, A, B), gamma, rtol=1e-9, atol=1e-12)
    fpath, flp = hmm.viterbi(obs, pi, A, B)
    np.testing.assert_array_equal(fpath, path)
    np.testing.assert_allclose(flp, lp, rtol=1e-11, atol=1e-12)


LONG_CASES = [  # (K, M, T, concentration): many rounds of pairing, identity padding, no pairing (K = 17)
    (2, 3, 5000, 1.0), (3, 5, 20001, 0.5), (8, 10, 12345, 1.0), (3, 7, 4097, 1.0), (17, 4, 3001, 1.0),
    (4, 60, 9999, 0.3),
]


@pytest.mark.parametrize("K,M,T,conc", LONG_CASES)
def test_viterbi_by_max_plus_products_equals_the_step_by_step_recursion(K, M, T, conc):
    """Paths that tie exactly (the same transitions and emissions in another order, e.g. 2 2 1 2
    and 2 1 2 2 over two equal symbols) are resolved by rounding, which differs between the two
    orders of summation: wherever the paths differ, both must score the optimum."""
    rng = np.random.default_rng(7 * K + M + T)
    pi, A, B = random_model(rng, K, M, conc)
    _, obs = hmm.sample(pi, A, B, T, rng)
    with np.errstate(divide="ignore"):
        logs = np.log(pi), np.log(A), np.log(B)
    ref_path, ref_lp = hmm._viterbi_log(obs, *logs)
    path, lp = hmm.viterbi(obs, pi, A, B)
    np.testing.assert_allclose(lp, ref_lp, rtol=1e-12)
    np.testing.assert_allclose(hmm.joint_log_prob(path, obs, pi, A, B), ref_lp, rtol=1e-12)
    differ = path != ref_path
    assert np.mean(differ) < 0.1                        # ties are local: most of the path is shared
    if differ.any():                                    # and the other path is the reference's own tie
        np.testing.assert_allclose(hmm.joint_log_prob(ref_path, obs, pi, A, B), ref_lp, rtol=1e-12)


@pytest.mark.parametrize("ntop,H", [(1, 0), (1, 3), (5, 1), (7, 4), (32, 6)])
def test_pairing_order_pairs_halves_in_every_round(ntop, H):
    """Simulated rounds: the blocks at the places of the first half are the even ones, those of
    the second half the next ones, and their products lie in the order of one round up."""
    order = hmm._pairing_order(ntop, H)
    assert sorted(order.tolist()) == list(range(ntop << H))
    np.testing.assert_array_equal(hmm._pairing_order(ntop, H, inverse=True)[order], np.arange(ntop << H))
    for h in range(H, 0, -1):
        half = order.size // 2
        first, second = order[:half], order[half:]
        assert np.all(first % 2 == 0) and np.array_equal(second, first + 1)
        order = first // 2
        np.testing.assert_array_equal(order, hmm._pairing_order(ntop, h - 1))
    np.testing.assert_array_equal(order, np.arange(ntop))


def test_maxplus_product_equals_the_definition():
    rng = np.random.default_rng(3)
    second, first = rng.normal(size=(4, 5, 6)), rng.normal(size=(5, 3, 6))
    first[1, 2, 4] = -np.inf
    want = np.array([[[max(second[j, k, b] + first[k, i, b] for k in range(5)) for b in range(6)]
                      for i in range(3)] for j in range(4)])
    np.testing.assert_array_equal(hmm._maxplus(second, first), want)


def test_scaled_routes_survive_tiny_probabilities():
    """Every step costs a factor of about 1e-12 (a switch of state or a wrong emission), so 32
    unscaled steps would fall below 1e-150 and towards underflow: each stretch is redone with a
    rescaling at every step, and the results still equal the log-space ones."""
    eps = 1e-12
    pi = np.array([0.5, 0.5])
    A = np.array([[1 - eps, eps], [eps, 1 - eps]])
    B = np.array([[1 - eps, eps], [eps, 1 - eps]])
    obs = np.tile([0, 1], 150)
    log_alpha, ll, log_beta, gamma, (path, lp) = _log_space(obs, pi, A, B)
    assert ll / obs.size * hmm._RESCALE_EVERY < np.log(hmm._SMALL), "the premise: stretches do get small"
    fa, fll = hmm.forward_algorithm(obs, pi, A, B)
    np.testing.assert_allclose(fll, ll, rtol=1e-12)
    np.testing.assert_allclose(fa, log_alpha, rtol=1e-10)
    np.testing.assert_allclose(hmm.backward_algorithm(obs, A, B), log_beta, rtol=1e-10)
    np.testing.assert_allclose(hmm.posteriors(obs, pi, A, B), gamma, atol=1e-10)
    fpath, flp = hmm.viterbi(obs, pi, A, B)          # many paths tie here: compare their scores
    np.testing.assert_allclose([flp, hmm.joint_log_prob(fpath, obs, pi, A, B)], lp, rtol=1e-12)


def test_a_sequence_of_probability_zero_takes_the_log_space_route():
    pi = np.array([1.0, 0.0])
    A = np.array([[1.0, 0.0], [0.0, 1.0]])
    B = np.array([[1.0, 0.0], [0.0, 1.0]])
    obs = np.array([0, 0, 1, 0])                         # state 0 never emits symbol 1
    log_alpha, ll = hmm.forward_algorithm(obs, pi, A, B)
    assert ll == -np.inf and np.all(log_alpha[2:] == -np.inf)
    assert hmm._scaled_forward(obs, pi, A, B) is None
    with np.errstate(divide="ignore"):
        logs = np.log(pi), np.log(A), np.log(B)
    np.testing.assert_array_equal(log_alpha, hmm._forward_log(obs, *logs)[0])


def test_long_sequence_posteriors_match_hmmlearn_to_1e6():
    """T = 100,000, K = 8 (the benchmark's size): same numbers as hmmlearn's compiled code."""
    rng = np.random.default_rng(8)
    pi, A, B = random_model(rng, 8, 10)
    _, obs = hmm.sample(pi, A, B, 100_000, rng)
    model = hmmlearn_model(pi, A, B)
    X = obs.reshape(-1, 1)
    np.testing.assert_allclose(hmm.forward_algorithm(obs, pi, A, B)[1], model.score(X), rtol=1e-10)
    np.testing.assert_allclose(hmm.posteriors(obs, pi, A, B), model.predict_proba(X), atol=1e-6)
    ref_lp, ref_path = model.decode(X, algorithm="viterbi")
    path, lp = hmm.viterbi(obs, pi, A, B)
    # over 10^5 steps, paths whose scores differ by rounding alone can differ: compare scores
    np.testing.assert_allclose([lp, hmm.joint_log_prob(path, obs, pi, A, B)], ref_lp, rtol=1e-12)
    assert np.mean(path == ref_path) > 0.99
