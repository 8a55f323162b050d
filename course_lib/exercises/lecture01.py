"""Checks of the exercises of lecture 01: better smoothing, and perplexity done by hand.

Shape legend:
    V  symbols (the alphabet is 0..V-1)
    N  (V, V) bigram counts, N[i, j] = how often j follows i; P (V, V) with P[i, j] = p(j | i)

    check_kneser_ney(kneser_ney)                exercise 1, against the definition, counted from
                                                the list of bigrams in plain Python
    check_bigram_perplexity(bigram_perplexity)  exercise 2, against course_lib.markov.MarkovChain
"""

import numpy as np

from course_lib.exercises import attempt, exercise
from course_lib.grading import GradingError, check_array, check_output
from course_lib.markov import MarkovChain, estimate_transition_matrix

__all__ = ["check_kneser_ney", "check_bigram_perplexity"]


def _pairs(sequences):
    """Every bigram (x_{t-1}, x_t) inside the sequences, with repetitions."""
    return [(int(a), int(b)) for s in sequences for a, b in zip(s[:-1], s[1:])]


def _corpus(rng, A, n_seq, max_len):
    """n_seq sequences of 1..max_len symbols from the Markov chain with transition matrix A."""
    seqs = []
    for _ in range(n_seq):
        s = [int(rng.integers(A.shape[0]))]
        for _ in range(int(rng.integers(0, max_len))):
            s.append(int(rng.choice(A.shape[0], p=A[s[-1]])))
        seqs.append(np.array(s, dtype=np.int64))
    return seqs


# ----------------------------------------------------------------------------- exercise 1

def _kneser_ney_by_definition(pairs, V, d):
    """Interpolated Kneser-Ney for bigrams, from its definition, with sets and counts of the
    bigram list (no arrays):

        p_cont(j) = |{i : (i, j) seen}| / |{(i, j) seen}|
        P[i, j]   = max(N(i, j) - d, 0) / N(i) + d |{j' : (i, j') seen}| / N(i) * p_cont(j)
        P[i, j]   = p_cont(j)                                   when N(i) = 0
    """
    seen = set(pairs)
    p_cont = [len({a for a, b in seen if b == j}) / len(seen) for j in range(V)]
    P = np.zeros((V, V))
    for i in range(V):
        n_i = sum(1 for a, _ in pairs if a == i)
        followers = len({b for a, b in seen if a == i})
        for j in range(V):
            if n_i == 0:
                P[i, j] = p_cont[j]
            else:
                n_ij = sum(1 for pair in pairs if pair == (i, j))
                P[i, j] = max(n_ij - d, 0) / n_i + d * followers / n_i * p_cont[j]
    return P


def _kneser_ney_cases():
    """(case, sequences, V, d): a word to check by hand, then a corpus with an unseen context
    (symbol 5 ends sequences only) and a symbol that is never a continuation (4 starts them)."""
    word = [np.array([0, 1, 4, 0, 2, 0, 3, 0, 1, 4, 0])]                 # abracadabra, a b c d r = 0..4
    rng = np.random.default_rng(3000)
    seqs = [np.concatenate([[4], s, [5]]) if k % 3 == 0 else s
            for k, s in enumerate(_corpus(rng, rng.dirichlet(np.full(4, 0.5), size=4), 30, 12))]
    return [
        ("'abracadabra' (a b c d r = 0 1 2 3 4), d = 0.75", word, 5, 0.75),
        ("30 sequences, V = 6, d = 0.75; context 5 never seen, 4 never a continuation", seqs, 6, 0.75),
        ("the same corpus, d = 0.5", seqs, 6, 0.5),
    ]


@exercise(1, "interpolated Kneser-Ney")
def check_kneser_ney(kneser_ney):
    for case, seqs, V, d in _kneser_ney_cases():
        pairs = _pairs(seqs)
        N = np.zeros((V, V))
        for a, b in pairs:
            N[a, b] += 1
        expected = _kneser_ney_by_definition(pairs, V, d)
        got = attempt(kneser_ney, N.copy(), d, case=case)
        if np.shape(got) != expected.shape:
            check_array("P", got, expected, case=case)                   # says which shape came
        got = np.asarray(got, dtype=np.float64)
        sums = got.sum(axis=1)                                           # NaN where a row is 0/0
        n_i = N.sum(axis=1)
        for i in np.flatnonzero(~(np.abs(sums - 1) <= 1e-9)):
            if n_i[i] == 0:
                why = (f"Context {i} never occurs (N(i) = 0, a row of zeros in N): its row must be the "
                       "continuation distribution p_cont itself.")
            else:
                lam = d * np.count_nonzero(N[i]) / n_i[i]
                why = (f"The discount takes d * N1+({i}, .) / N({i}) = {lam:.4g} from row {i}; that mass "
                       "must go back to the row as lambda(i) * p_cont(j).")
            raise GradingError(f"row {i} of P sums to {sums[i]:.6g}, not 1 (case: {case}). {why}")
        with np.errstate(all="ignore"):
            unigram = N.sum(axis=0) / N.sum()
            discounted = np.maximum(N - d, 0) / n_i[:, None] + (d * (N > 0).sum(axis=1) / n_i)[:, None] * unigram
            absolute = np.where(n_i[:, None] > 0, discounted, unigram)
        check_output("P", got, expected, case=case, mistakes=[
            ("the unigram frequency N(., j) / N(., .) as the lower order (absolute discounting) "
             "instead of the continuation probability, which counts distinct left neighbours", absolute)],
            hint="p_cont(j) is the number of distinct symbols i with N[i, j] > 0, over the number of "
                 "distinct pairs with N[i, j] > 0.")
    return "Every row sums to one and matches the definition, counted pair by pair."


# ----------------------------------------------------------------------------- exercise 2

def _perplexity_cases():
    """(train, val, V): symbol 4 never occurs in training, so its context is unseen."""
    rng = np.random.default_rng(3100)
    V = 5
    A = rng.dirichlet(np.full(V - 1, 0.7), size=V - 1)                  # a sparse chain over 0..3
    train, val = _corpus(rng, A, 40, 15), _corpus(rng, A, 12, 15)
    val[3] = np.concatenate([val[3], [4, 2]])                          # an unseen context, 4
    return train, val, V


@exercise(2, "perplexity of a smoothed bigram model")
def check_bigram_perplexity(bigram_perplexity):
    train, val, V = _perplexity_cases()
    counts = np.zeros((V + 1, V))                                      # row V: the boundary context
    for s in train:
        np.add.at(counts, (np.r_[V, s[:-1]], s), 1.0)
    contexts = [np.r_[V, s[:-1]] for s in val]
    ppl = {}
    for alpha in (0.01, 0.1, 0.3, 1.0, 3.0):
        case = f"{len(train)} training and {len(val)} validation sequences, V = {V}, alpha = {alpha}"
        reference = MarkovChain(order=1, n_symbols=V, alpha=alpha).fit(train)
        expected = reference.perplexity(val)
        got = attempt(bigram_perplexity, [s.copy() for s in train], [s.copy() for s in val], V, alpha, case=case)
        A = estimate_transition_matrix(train, V, alpha)
        no_boundary = np.exp(-sum(np.log(A[s[:-1], s[1:]]).sum() for s in val) / sum(s.size - 1 for s in val))
        glued = MarkovChain(order=1, n_symbols=V, alpha=alpha).fit([np.concatenate(train)])
        rows = counts.sum(axis=1, keepdims=True)
        log_p = [np.log((counts[c, s] + alpha) / (rows[c, 0] + alpha)) for c, s in zip(contexts, val)]
        mistakes = [
            ("the mean of the per-sequence perplexities; pool the log-probabilities of all symbols first",
             np.mean([reference.perplexity([s]) for s in val])),
            ("no boundary context: the first symbol of each sequence is never scored", no_boundary),
            ("the sequences glued together, so pairs run across the end of one sequence into the next",
             glued.perplexity([np.concatenate(val)])),
            ("N(c) + alpha in the denominator; alpha is added to each of the V symbols, so it must be "
             "N(c) + alpha V", np.exp(-sum(lp.sum() for lp in log_p) / sum(s.size for s in val))),
        ]
        check_output("perplexity", got, expected, mistakes, case=case,
                     hint="p(v | c) = (N(c, v) + alpha) / (N(c) + alpha V), the first symbol of each "
                          "sequence in the boundary context, and PPL = exp(-sum of log p / number of symbols).")
        ppl[alpha] = expected
    best = min(ppl, key=ppl.get)
    return (f"It matches MarkovChain(order=1).perplexity; on this validation split alpha = {best} is best "
            f"(perplexity {ppl[best]:.3f}).")
