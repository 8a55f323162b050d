"""BLEU (Papineni et al., 2002): how many n-grams of a system's outputs occur in reference
translations, over a whole corpus, with a penalty for outputs that are too short.

Symbols:
    n   n-gram order, 1..max_n           c   total length of the hypotheses (tokens)
    m_n clipped n-gram matches            r   total of the closest reference lengths
    t_n n-grams in the hypotheses         p_n = m_n / t_n   modified n-gram precision

For every hypothesis y with references R_1..R_k (all token lists):

    count_y(g)   = how often the n-gram g occurs in y
    max_ref(g)   = max_j (how often g occurs in R_j)
    m_n(y)       = sum_g min(count_y(g), max_ref(g))        (clipping: a repeated word
    t_n(y)       = sum_g count_y(g) = max(|y| - n + 1, 0)     earns no more than a reference has)
    r(y)         = the |R_j| closest to |y| (ties: the shorter)

and over the corpus (sums first, ratio after: a corpus precision, not a mean of sentence scores)

    p_n  = sum_y m_n(y) / sum_y t_n(y)
    BP   = 1 if c > r else exp(1 - r / c)      (BP = 0 when c = 0)
    BLEU = BP * exp((1 / max_n) sum_{n=1..max_n} log p_n)      (0 if any p_n = 0)

smooth=True adds one to numerator and denominator of every precision with n > 1,
p_n = (m_n + 1) / (t_n + 1) (Lin and Och 2004; sacrebleu's "add-k" with k = 1), so that one
missing 4-gram does not zero the score of a short corpus. p_1 is never smoothed.
"""

import math
from collections import Counter

from course_lib.validation import is_int

__all__ = ["ngrams", "clipped_counts", "closest_reference_length", "brevity_penalty", "corpus_bleu"]


def ngrams(tokens, n):
    """The n-grams of a token list, with their counts.

        count(g) = #{i : (tokens[i], ..., tokens[i + n - 1]) = g},   i = 0, ..., len(tokens) - n

    Args:
        tokens: (L,) list of tokens (str or int).
        n: the order, >= 1.
    Returns:
        Counter mapping each n-gram (a tuple of n tokens) to its count; sum of counts
        = max(L - n + 1, 0).
    """
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def clipped_counts(hypothesis, references, n):
    """Clipped n-gram matches of one hypothesis, and its number of n-grams.

        m_n = sum_g min(count_hyp(g), max_j count_ref_j(g))
        t_n = sum_g count_hyp(g)

    Args:
        hypothesis: (L,) token list.
        references: list of k >= 1 reference token lists.
        n: the order, >= 1.
    Returns:
        (m_n, t_n), two ints with 0 <= m_n <= t_n.
    """
    hyp = ngrams(hypothesis, n)
    max_ref = Counter()
    for ref in references:
        max_ref |= ngrams(ref, n)                          # | keeps the larger count of each g
    return sum(min(k, max_ref[g]) for g, k in hyp.items()), sum(hyp.values())


def closest_reference_length(hyp_len, ref_lens):
    """The reference length closest to the hypothesis length; on a tie, the shorter.

        r = argmin_{r_j} (|r_j - hyp_len|, r_j)
    """
    return min(ref_lens, key=lambda r: (abs(r - hyp_len), r))


def brevity_penalty(c, r):
    """The penalty for a corpus of hypotheses shorter than its references.

        BP = 1                   if c > r
        BP = exp(1 - r / c)      if 0 < c <= r
        BP = 0                   if c = 0

    Args:
        c: total hypothesis length. r: total closest-reference length.
    Returns:
        float in [0, 1].
    """
    if c > r:
        return 1.0
    return math.exp(1 - r / c) if c > 0 else 0.0


def _check_tokens(name, tokens):
    if not isinstance(tokens, (list, tuple)):
        hint = " (split a sentence into tokens first, e.g. s.split())" if isinstance(tokens, str) else ""
        raise ValueError(f"{name} must be a list of tokens{hint}, got {type(tokens).__name__}")
    for i, tok in enumerate(tokens):
        if not (isinstance(tok, str) or is_int(tok)):
            raise ValueError(f"{name} must hold tokens (str or int), got {type(tok).__name__} "
                             f"at position {i}")


def _check_corpus(hypotheses, references, max_n):
    if not is_int(max_n) or max_n < 1:
        raise ValueError(f"max_n must be an int >= 1, got {max_n!r}")
    for name, value in [("hypotheses", hypotheses), ("references", references)]:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{name} must be a list (one entry per sentence), got {type(value).__name__}")
    if len(hypotheses) != len(references):
        raise ValueError(f"references must hold one entry per hypothesis: {len(hypotheses)} hypotheses, "
                         f"got {len(references)} entries of references")
    for i, (hyp, refs) in enumerate(zip(hypotheses, references)):
        _check_tokens(f"hypotheses[{i}]", hyp)
        if not isinstance(refs, (list, tuple)) or not refs:
            what = "an empty list" if isinstance(refs, (list, tuple)) else type(refs).__name__
            raise ValueError(f"references[{i}] must be a non-empty list of reference token lists "
                             f"(hypothesis {i} has no reference), got {what}")
        if isinstance(refs[0], str) or is_int(refs[0]):
            raise ValueError(f"references[{i}] must be a list of reference token lists, got a single "
                             f"token list; wrap it: [[...]]")
        for j, ref in enumerate(refs):
            _check_tokens(f"references[{i}][{j}]", ref)


def corpus_bleu(hypotheses, references, max_n=4, smooth=False):
    """Corpus BLEU of tokenised hypotheses against one or more references each.

        p_n  = sum_y m_n(y) / sum_y t_n(y)                  (n > 1 with smooth: (m + 1) / (t + 1))
        BP   = brevity_penalty(sum_y |y|, sum_y r(y))
        BLEU = BP * exp(mean_{n = 1..max_n} log p_n),       0 if any p_n = 0

    Args:
        hypotheses: list of N token lists (the system outputs).
        references: list of N entries, entry i a list of k_i >= 1 reference token lists
            for hypothesis i (k_i may differ between sentences).
        max_n: the largest n-gram order, >= 1 (4 in the paper).
        smooth: add one to numerator and denominator of p_n for every n > 1.
    Returns:
        BLEU in [0, 1] as a float (sacrebleu reports 100 times this); 0.0 for an empty corpus.
    Raises:
        ValueError: lengths differ, a hypothesis without reference, max_n < 1, a sentence that
        is not a list of tokens.
    """
    _check_corpus(hypotheses, references, max_n)
    matches, totals = [0] * max_n, [0] * max_n
    c = r = 0
    for hyp, refs in zip(hypotheses, references):
        c += len(hyp)
        r += closest_reference_length(len(hyp), [len(ref) for ref in refs])
        for n in range(1, max_n + 1):
            m_n, t_n = clipped_counts(hyp, refs, n)
            matches[n - 1] += m_n
            totals[n - 1] += t_n
    log_p = 0.0
    for n, (m, t) in enumerate(zip(matches, totals), start=1):
        if smooth and n > 1:
            m, t = m + 1, t + 1
        if m == 0:                                          # also t = 0: no n-gram, no evidence
            return 0.0
        log_p += math.log(m / t)
    return brevity_penalty(c, r) * math.exp(log_p / max_n)
