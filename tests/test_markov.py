"""course_lib.markov against counting by hand on a tiny corpus, and against invariants."""

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from course_lib import markov

# "abracadabra" and "cab" over the alphabet a=0, b=1, c=2, d=3, r=4
ALPHABET = "abcdr"
CORPUS = ["abracadabra", "cab"]
SEQS = [np.array([ALPHABET.index(c) for c in w]) for w in CORPUS]
V = len(ALPHABET)


def test_transition_matrix_by_hand():
    # Bigrams, counted by hand within each word:
    # abracadabra: ab br ra ac ca ad da ab br ra ; cab: ca ab
    # from a: b 3, c 1, d 1      (5)     from b: r 2          (2)
    # from c: a 2                (2)     from d: a 1          (1)
    # from r: a 2                (2)
    N = np.zeros((V, V))
    for src, dst, n in ["ab3", "ac1", "ad1", "br2", "ca2", "da1", "ra2"]:
        N[ALPHABET.index(src), ALPHABET.index(dst)] = int(n)
    for alpha in (0.0, 0.5, 1.0):
        with np.errstate(invalid="ignore"):
            expected = (N + alpha) / (N.sum(1, keepdims=True) + alpha * V)
        if alpha == 0:
            np.testing.assert_allclose(markov.estimate_transition_matrix(SEQS, V, alpha=alpha), expected)
        else:
            A = markov.estimate_transition_matrix(SEQS, V, alpha=alpha)
            np.testing.assert_allclose(A, expected, rtol=1e-15)
            np.testing.assert_allclose(A.sum(1), 1.0)
    # Laplace: P(b | a) = (3 + 1) / (5 + 5)
    assert markov.estimate_transition_matrix(SEQS, V)[0, 1] == pytest.approx(0.4)


def test_alpha_zero_refuses_an_unseen_row():
    with pytest.raises(ValueError, match="symbol 1 is never followed by anything"):
        markov.estimate_transition_matrix([np.array([0, 0, 1])], 2, alpha=0)


def hand_chain_prob(order, alpha, train, word):
    """p(word) from counts made with Counter over padded strings (boundary '^')."""
    pad = "^" * order
    pairs, ctxs = Counter(), Counter()
    for w in train:
        s = pad + w
        for t in range(order, len(s)):
            pairs[(s[t - order:t], s[t])] += 1
            ctxs[s[t - order:t]] += 1
    s = pad + word
    logp = 0.0
    for t in range(order, len(s)):
        c = s[t - order:t]
        logp += math.log((pairs[(c, s[t])] + alpha) / (ctxs[c] + alpha * V))
    return logp


@pytest.mark.parametrize("order", [0, 1, 2, 3])
@pytest.mark.parametrize("alpha", [0.1, 1.0])
def test_order_k_log_likelihood_by_hand(order, alpha):
    chain = markov.MarkovChain(order, V, alpha=alpha).fit(SEQS)
    for word in ["abra", "cadabra", "rrr", "dab", "a"]:
        seq = np.array([ALPHABET.index(c) for c in word])
        assert chain.log_likelihood(seq) == pytest.approx(hand_chain_prob(order, alpha, CORPUS, word), rel=1e-12)


def test_next_distribution_by_hand():
    chain = markov.MarkovChain(2, V, alpha=1.0).fit(SEQS)
    # context "br" is followed by a twice: p(a | br) = (2 + 1) / (2 + 5)
    p = chain.next_distribution([ALPHABET.index("b"), ALPHABET.index("r")])
    assert p[0] == pytest.approx(3 / 7)
    assert p.sum() == pytest.approx(1.0)
    # the start context (^, ^) is followed by a once and c once
    p0 = chain.next_distribution(())
    np.testing.assert_allclose(p0, np.array([2, 1, 2, 1, 1]) / 7)
    # an unseen context is uniform
    np.testing.assert_allclose(chain.next_distribution([3, 3]), np.full(V, 1 / V))
    # only the last `order` symbols matter
    np.testing.assert_allclose(chain.next_distribution([4, 4, 1, 4]), chain.next_distribution([1, 4]))


@pytest.mark.parametrize("order", [0, 1, 2])
def test_distribution_over_all_sequences_sums_to_one(order):
    """Summing p(x) over every sequence of a fixed length gives 1 (the chain rule is exact)."""
    chain = markov.MarkovChain(order, V, alpha=0.3).fit(SEQS)
    total = sum(math.exp(chain.log_likelihood(np.array(s))) for s in itertools.product(range(V), repeat=3))
    assert total == pytest.approx(1.0, rel=1e-12)


def test_perplexity_definition_and_bounds():
    chain = markov.MarkovChain(1, V, alpha=1.0).fit(SEQS)
    test = [SEQS[0][:6], SEQS[1]]
    ll = sum(chain.log_likelihood(s) for s in test)
    assert chain.perplexity(test) == pytest.approx(math.exp(-ll / 9))
    # an untrained-looking model (order 0 on uniform data, large alpha) is V-perplexed
    flat = markov.MarkovChain(0, V, alpha=1e9).fit(SEQS)
    assert flat.perplexity(test) == pytest.approx(V, rel=1e-6)


def test_sampling_follows_the_model():
    """Sampled bigram frequencies match the fitted transition probabilities."""
    rng = np.random.default_rng(3)
    chain = markov.MarkovChain(1, V, alpha=0.5).fit(SEQS)
    x = chain.sample(60_000, rng, context=[0])
    counts = np.zeros((V, V))
    np.add.at(counts, (np.concatenate([[0], x[:-1]]), x), 1)
    for a in range(V):
        np.testing.assert_allclose(counts[a] / counts[a].sum(), chain.next_distribution([a]), atol=0.02)
    np.testing.assert_array_equal(chain.sample(20, np.random.default_rng(5)), chain.sample(20, np.random.default_rng(5)))


def test_order_one_without_boundary_agrees_with_transition_matrix():
    chain = markov.MarkovChain(1, V, alpha=0.7).fit(SEQS)
    A = markov.estimate_transition_matrix(SEQS, V, alpha=0.7)
    for a in range(V):
        # chain counts include the boundary-to-first transitions only in the boundary row
        np.testing.assert_allclose(chain.next_distribution([a]), A[a])


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"symbols in \[0, V\) = \[0, 5\); found 7 at t = 2"):
        markov.MarkovChain(1, V).fit([np.array([0, 1, 7])])
    with pytest.raises(ValueError, match="sequences is empty"):
        markov.estimate_transition_matrix([], V)
    with pytest.raises(ValueError, match="alpha must be a finite pseudo-count >= 0"):
        markov.MarkovChain(1, V, alpha=-1)
    with pytest.raises(ValueError, match="order must be an integer >= 0"):
        markov.MarkovChain(-1, V)
    with pytest.raises(RuntimeError, match="has not been fitted"):
        markov.MarkovChain(1, V).perplexity(SEQS)
    with pytest.raises(ValueError, match="must hold integer symbols"):
        markov.MarkovChain(1, V).fit([np.array([0.5, 1.0])])
    with pytest.raises(ValueError, match="too many contexts"):
        markov.MarkovChain(40, 60)


def test_alpha_zero_scores_are_infinite_or_refused():
    chain = markov.MarkovChain(2, V, alpha=0.0).fit(SEQS)
    # a seen context meeting an unseen symbol: probability 0, log-likelihood -inf
    assert chain.log_likelihood(np.array([0, 4])) == -np.inf
    assert chain.perplexity([np.array([0, 4])]) == np.inf
    # an unseen context: 0/0 is refused, not returned as NaN
    with pytest.raises(ValueError, match=r"context of position t = 1 was never seen"):
        chain.log_likelihood(np.array([3, 3, 1]))


@pytest.mark.parametrize("order", [0, 1, 3])
def test_many_sequences_at_once_equal_one_at_a_time(order):
    """Context codes of sequences end to end equal the codes of each sequence on its own (the
    boundary never leaks from one sequence into the next), so the perplexity over a corpus is
    the one summed sequence by sequence from log_likelihood."""
    rng = np.random.default_rng(order)
    seqs = [rng.integers(0, V, size=n) for n in (0, 1, 2, 7, 3, 12)]
    chain = markov.MarkovChain(order, V, alpha=0.3).fit(SEQS + seqs)
    stream, codes = chain._stream_codes(seqs)
    np.testing.assert_array_equal(codes, np.concatenate([chain._context_codes(s) for s in seqs]))
    np.testing.assert_array_equal(stream, np.concatenate(seqs))
    total = sum(chain.log_likelihood(s) for s in seqs if s.size)
    n = sum(s.size for s in seqs)
    assert chain.perplexity(seqs) == pytest.approx(math.exp(-total / n), rel=1e-12)


@pytest.mark.parametrize("order", [0, 1, 3, 5])
def test_training_perplexity_equals_scoring_the_training_data(order):
    """From the counts alone, the same number as scoring every training position again
    (perplexity(training sequences)), for every alpha, 0 included, and for a smoothed() copy."""
    rng = np.random.default_rng(10 + order)
    seqs = SEQS + [rng.integers(0, V, size=n) for n in (0, 1, 6, 15, 40)]
    for alpha in (0.0, 1e-3, 0.5, 2.0):
        chain = markov.MarkovChain(order, V, alpha=alpha).fit(seqs)
        assert chain.training_perplexity() == pytest.approx(chain.perplexity(seqs), rel=1e-12)
        other = chain.smoothed(alpha + 0.25)
        assert other.training_perplexity() == pytest.approx(other.perplexity(seqs), rel=1e-12)
    with pytest.raises(RuntimeError, match="fit"):
        markov.MarkovChain(order, V).training_perplexity()
    with pytest.raises(ValueError, match="no symbols"):
        markov.MarkovChain(order, V).fit([np.zeros(0, dtype=int)]).training_perplexity()


def test_smoothed_equals_fitting_with_that_alpha():
    rng = np.random.default_rng(5)
    held_out = [rng.integers(0, V, size=9) for _ in range(4)]
    base = markov.MarkovChain(2, V, alpha=1.0).fit(SEQS)
    for alpha in (1e-3, 0.1, 2.0):
        direct = markov.MarkovChain(2, V, alpha=alpha).fit(SEQS)
        assert base.smoothed(alpha).perplexity(held_out) == pytest.approx(direct.perplexity(held_out), rel=1e-13)
    assert base.alpha == 1.0, "the original keeps its alpha"
    with pytest.raises(ValueError, match="alpha"):
        base.smoothed(-1)


@pytest.mark.parametrize("order", [1, 2, 4])
def test_context_counts_equal_counting_by_hand(order):
    """N(c_t) for held-out text, against a Counter of padded training contexts."""
    pad = "#" * order
    seen = Counter((pad + w)[t:t + order] for w in CORPUS for t in range(len(w)))
    held_out = ["abra", "dab", "rac"]
    expected = [seen[(pad + w)[t:t + order]] for w in held_out for t in range(len(w))]
    chain = markov.MarkovChain(order, V).fit(SEQS)
    got = chain.context_counts([np.array([ALPHABET.index(c) for c in w]) for w in held_out])
    np.testing.assert_array_equal(got, expected)
