"""course_lib.bleu against sacrebleu (an independent implementation) on random corpora, and
against numbers worked out by hand from the definition (Papineni et al. 2002).

sacrebleu's "add-k" smoothing (Chen and Cherry 2014, method 2) adds k to the matches and to the
n-gram count of every order n > 1 before the ratio, and leaves p_1 alone: with k = 1 that is
exactly corpus_bleu(..., smooth=True) (sacrebleu.metrics.BLEU.compute_bleu, `n > 1` branch).
sacrebleu reports a percentage, hence the factor 100.
"""

import math

import numpy as np
import pytest
from sacrebleu.metrics import BLEU

from course_lib.bleu import (
    brevity_penalty,
    clipped_counts,
    closest_reference_length,
    corpus_bleu,
    ngrams,
)

WORDS = ["a", "b", "c", "d", "e"]


def random_corpus(rng):
    """1-12 sentences over five words, lengths 0-9, 1-3 references each; half of the hypotheses
    are a reference with a few words changed, so that many corpora score above zero."""
    hyps, refs = [], []
    for _ in range(rng.integers(1, 13)):
        k = rng.integers(1, 4)
        rs = [list(rng.choice(WORDS, rng.integers(0, 10))) for _ in range(k)]
        if rng.random() < 0.5 and rs[0]:
            h = list(rs[0])
            for i in rng.choice(len(h), rng.integers(0, 3)):
                h[i] = str(rng.choice(WORDS))
        else:
            h = list(rng.choice(WORDS, rng.integers(0, 10)))
        hyps.append([str(w) for w in h])
        refs.append([[str(w) for w in r] for r in rs])
    return hyps, refs


def sacrebleu_score(hyps, refs, max_n, smooth):
    """sacrebleu on space-joined tokens; a sentence with fewer references gets None in the
    missing reference streams (sacrebleu's way of a variable number of references)."""
    k = max(len(r) for r in refs)
    streams = [[" ".join(r[j]) if j < len(r) else None for r in refs] for j in range(k)]
    metric = BLEU(tokenize="none", smooth_method="add-k" if smooth else "none",
                  smooth_value=1 if smooth else None, effective_order=False, max_ngram_order=max_n)
    return metric.corpus_score([" ".join(h) for h in hyps], streams).score / 100


@pytest.mark.parametrize("smooth", [False, True])
def test_matches_sacrebleu_on_random_corpora(smooth):
    rng = np.random.default_rng(1 + smooth)
    positive = 0
    for _ in range(200):
        hyps, refs = random_corpus(rng)
        max_n = int(rng.integers(1, 5))
        ours, theirs = corpus_bleu(hyps, refs, max_n, smooth), sacrebleu_score(hyps, refs, max_n, smooth)
        assert 0.0 <= ours <= 1.0
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12), (hyps, refs, max_n)
        positive += ours > 0
    assert positive >= 100                   # the comparison is not a string of zeros


def test_ngrams_and_clipping_by_hand():
    assert ngrams(["a", "b", "a", "b"], 2) == {("a", "b"): 2, ("b", "a"): 1}
    assert ngrams(["a"], 2) == {}
    # Papineni et al.'s example: 7 x "the" against two references holding "the" at most twice
    cand = ["the"] * 7
    refs = [["the", "cat", "is", "on", "the", "mat"], ["there", "is", "a", "cat", "on", "the", "mat"]]
    assert clipped_counts(cand, refs, 1) == (2, 7)
    assert clipped_counts(cand, refs, 2) == (0, 6)
    assert clipped_counts(["on", "the", "mat"], refs, 2) == (2, 2)


def test_closest_reference_length_prefers_the_shorter_on_a_tie():
    assert closest_reference_length(3, [2, 4]) == 2
    assert closest_reference_length(3, [4, 2]) == 2
    assert closest_reference_length(3, [7, 4, 1]) == 4


def test_brevity_penalty_by_hand_on_two_sentences():
    # sentence 1: |y| = 2, one reference of length 4         -> r = 4
    # sentence 2: |y| = 3, references of lengths 2 and 4: tie -> r = 2
    # c = 5, r = 6; every hypothesis word occurs in a reference, so p_1 = 1 and BLEU_1 = BP
    hyps = [["the", "cat"], ["a", "b", "c"]]
    refs = [[["the", "cat", "sat", "down"]], [["x", "y"], ["a", "b", "c", "d"]]]
    assert brevity_penalty(5, 6) == math.exp(1 - 6 / 5)
    assert corpus_bleu(hyps, refs, max_n=1) == pytest.approx(math.exp(-0.2), rel=1e-15)
    assert brevity_penalty(6, 5) == 1.0 and brevity_penalty(0, 3) == 0.0


def test_smoothing_by_hand():
    # y = "a b c" against "a b d": p_1 = 2/3, p_2 = 1/2; with smoothing p_2 = (1 + 1) / (2 + 1)
    hyps, refs = [["a", "b", "c"]], [[["a", "b", "d"]]]
    assert corpus_bleu(hyps, refs, max_n=2) == pytest.approx(math.sqrt(2 / 3 * 1 / 2), rel=1e-15)
    assert corpus_bleu(hyps, refs, max_n=2, smooth=True) == pytest.approx(math.sqrt(2 / 3 * 2 / 3), rel=1e-15)
    # no trigram match: 0 without smoothing, (0 + 1) / (1 + 1) with it
    assert corpus_bleu(hyps, refs, max_n=3) == 0.0
    assert corpus_bleu(hyps, refs, max_n=3, smooth=True) == pytest.approx((2 / 3 * 2 / 3 * 1 / 2) ** (1 / 3))


def test_edge_cases():
    assert corpus_bleu([], []) == 0.0
    assert corpus_bleu([["x", "y", "z", "w"]], [[["a", "b", "c", "d"]]]) == 0.0
    assert corpus_bleu([["x"]], [[["a"]]], smooth=True) == 0.0           # p_1 is never smoothed
    assert corpus_bleu([[]], [[["a"]]]) == 0.0                         # nothing said: BP = 0
    sentence = "the cat sat on the mat".split()
    assert corpus_bleu([sentence, sentence[:4]], [[sentence], [sentence[:4]]]) == 1.0
    assert corpus_bleu([[1, 2, 3, 4]], [[[1, 2, 3, 4]]]) == 1.0          # token ids work too


@pytest.mark.parametrize("args, message", [
    (([["a"]], []), r"one entry per hypothesis: 1 hypotheses, got 0"),
    (([["a"]], [[]]), r"references\[0\] must be a non-empty list .*hypothesis 0 has no reference"),
    ((["the cat"], [[["the", "cat"]]]), r"hypotheses\[0\] must be a list of tokens \(split a sentence"),
    (([["a"]], [["a"]]), r"references\[0\] must be a list of reference token lists, got a single"),
    (([["a"]], [[["a", 1.5]]]), r"references\[0\]\[0\] must hold tokens \(str or int\), got float at position 1"),
    (([["a"]], [[["a"]]], 0), r"max_n must be an int >= 1, got 0"),
    ((("a",), [[["a"]]]), r"hypotheses\[0\] must be a list of tokens .*, got str"),
    (("a", [[["a"]]]), r"hypotheses must be a list"),
])
def test_bad_input_says_what_was_expected(args, message):
    with pytest.raises(ValueError, match=message):
        corpus_bleu(*args)
