"""Reference solutions and typical wrong answers for the exercises of lecture 01."""

import numpy as np


def kneser_ney(N, d):
    """Interpolated Kneser-Ney bigram probabilities P (V, V) from bigram counts N (V, V)."""
    seen = N > 0
    p_cont = seen.sum(axis=0) / seen.sum()                 # (V,): distinct left neighbours of j
    n_i = N.sum(axis=1)                                    # (V,)
    P = np.tile(p_cont, (N.shape[0], 1))                   # unseen contexts: p_cont itself
    rows = n_i > 0
    lam = d * seen[rows].sum(axis=1) / n_i[rows]           # the mass the discount frees in each row
    P[rows] = np.maximum(N[rows] - d, 0) / n_i[rows, None] + lam[:, None] * p_cont
    return P


def kneser_ney_without_continuation(N, d):
    """Absolute discounting: the lower order is the plain unigram frequency."""
    unigram = N.sum(axis=0) / N.sum()
    n_i = N.sum(axis=1)
    P = np.tile(unigram, (N.shape[0], 1))
    rows = n_i > 0
    lam = d * (N[rows] > 0).sum(axis=1) / n_i[rows]
    P[rows] = np.maximum(N[rows] - d, 0) / n_i[rows, None] + lam[:, None] * unigram
    return P


def kneser_ney_discount_not_redistributed(N, d):
    """The discounted counts alone (plus p_cont for unseen contexts): rows sum to less than 1."""
    seen = N > 0
    p_cont = seen.sum(axis=0) / seen.sum()
    n_i = N.sum(axis=1)
    P = np.tile(p_cont, (N.shape[0], 1))
    rows = n_i > 0
    P[rows] = np.maximum(N[rows] - d, 0) / n_i[rows, None]
    return P


def kneser_ney_unseen_context_is_nan(N, d):
    """The formula applied to every row, so a context never seen gives 0/0."""
    seen = N > 0
    p_cont = seen.sum(axis=0) / seen.sum()
    n_i = N.sum(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        return np.maximum(N - d, 0) / n_i + d * seen.sum(axis=1, keepdims=True) / n_i * p_cont


def bigram_perplexity(train_seqs, eval_seqs, V, alpha):
    """Perplexity on eval_seqs of the add-alpha bigram model counted on train_seqs, the first
    symbol of every sequence predicted from the boundary context (row V of the counts)."""
    N = np.zeros((V + 1, V))
    for s in train_seqs:
        np.add.at(N, (np.r_[V, s[:-1]], s), 1.0)
    P = (N + alpha) / (N.sum(axis=1, keepdims=True) + alpha * V)     # (V + 1, V)
    log_p = sum(np.log(P[np.r_[V, s[:-1]], s]).sum() for s in eval_seqs)
    return float(np.exp(-log_p / sum(len(s) for s in eval_seqs)))


def bigram_perplexity_mean_over_sequences(train_seqs, eval_seqs, V, alpha):
    N = np.zeros((V + 1, V))
    for s in train_seqs:
        np.add.at(N, (np.r_[V, s[:-1]], s), 1.0)
    P = (N + alpha) / (N.sum(axis=1, keepdims=True) + alpha * V)
    return float(np.mean([np.exp(-np.log(P[np.r_[V, s[:-1]], s]).mean()) for s in eval_seqs]))


def bigram_perplexity_without_boundary(train_seqs, eval_seqs, V, alpha):
    N = np.zeros((V, V))
    for s in train_seqs:
        np.add.at(N, (s[:-1], s[1:]), 1.0)
    P = (N + alpha) / (N.sum(axis=1, keepdims=True) + alpha * V)
    log_p = sum(np.log(P[s[:-1], s[1:]]).sum() for s in eval_seqs)
    return float(np.exp(-log_p / sum(len(s) - 1 for s in eval_seqs)))


def bigram_perplexity_alpha_not_times_V(train_seqs, eval_seqs, V, alpha):
    N = np.zeros((V + 1, V))
    for s in train_seqs:
        np.add.at(N, (np.r_[V, s[:-1]], s), 1.0)
    P = (N + alpha) / (N.sum(axis=1, keepdims=True) + alpha)
    log_p = sum(np.log(P[np.r_[V, s[:-1]], s]).sum() for s in eval_seqs)
    return float(np.exp(-log_p / sum(len(s) for s in eval_seqs)))


EXERCISES = {
    1: {"solution": kneser_ney, "wrong": [kneser_ney_without_continuation, kneser_ney_discount_not_redistributed,
                                          kneser_ney_unseen_context_is_nan]},
    2: {"solution": bigram_perplexity, "wrong": [bigram_perplexity_mean_over_sequences,
                                                 bigram_perplexity_without_boundary,
                                                 bigram_perplexity_alpha_not_times_V]},
}
