"""Reference solutions of the exercises of lecture 10, and typical wrong answers each check
must reject (tests/test_exercises.py)."""

from collections import Counter

import numpy as np

# ----------------------------------------------------------------------------- exercise 1

def _nll(logits, targets):
    a = logits - logits.max(axis=-1, keepdims=True)
    log_p = a - np.log(np.exp(a).sum(axis=-1, keepdims=True))
    return -np.take_along_axis(log_p, targets[..., None], axis=-1)[..., 0]    # (N, T)


def masked_cross_entropy(logits, targets, pad_id):
    real = targets != pad_id
    return float(_nll(logits, targets)[real].mean())


def masked_cross_entropy_with_padding(logits, targets, pad_id):
    return float(_nll(logits, targets).mean())


def masked_cross_entropy_per_sentence(logits, targets, pad_id):
    real = targets != pad_id
    return float(np.where(real, _nll(logits, targets), 0).sum() / len(targets))


def masked_cross_entropy_overflows(logits, targets, pad_id):
    p = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    nll = -np.log(np.take_along_axis(p, targets[..., None], axis=-1)[..., 0])
    return float(nll[targets != pad_id].mean())


def masked_cross_entropy_pad_zero(logits, targets, pad_id):
    return float(_nll(logits, targets)[targets != 0].mean())


# ----------------------------------------------------------------------------- exercise 2

def length_normalised(scores, lengths, alpha):
    normalised = scores / ((5 + lengths) / 6) ** alpha
    return normalised, np.argsort(-normalised)


def length_normalised_without_eos(scores, lengths, alpha):
    return length_normalised(scores, lengths - 1, alpha)


def length_normalised_plain_power(scores, lengths, alpha):
    normalised = scores / lengths.astype(float) ** alpha
    return normalised, np.argsort(-normalised)


def length_normalised_worst_first(scores, lengths, alpha):
    normalised, _ = length_normalised(scores, lengths, alpha)
    return normalised, np.argsort(normalised)


def length_normalised_raw_order(scores, lengths, alpha):
    normalised, _ = length_normalised(scores, lengths, alpha)
    return normalised, np.argsort(-scores)


# ----------------------------------------------------------------------------- exercise 3

def _masked_softmax(e, mask):
    e = np.where(mask[:, None, :], e, -np.inf)
    w = np.exp(e - e.max(axis=-1, keepdims=True))
    return w / w.sum(axis=-1, keepdims=True)


def masked_attention(query, memory, src_lengths):
    mask = np.arange(memory.shape[1])[None, :] < src_lengths[:, None]           # (N, S)
    weights = _masked_softmax(query @ memory.transpose(0, 2, 1), mask)           # (N, T, S)
    return weights @ memory, weights


def masked_attention_without_mask(query, memory, src_lengths):
    return masked_attention(query, memory, np.full_like(src_lengths, memory.shape[1]))


def masked_attention_mask_after_softmax(query, memory, src_lengths):
    _, weights = masked_attention_without_mask(query, memory, src_lengths)
    weights = weights * (np.arange(memory.shape[1])[None, :] < src_lengths[:, None])[:, None, :]
    return weights @ memory, weights


def masked_attention_scaled(query, memory, src_lengths):
    return masked_attention(query / np.sqrt(query.shape[-1]), memory, src_lengths)


# ----------------------------------------------------------------------------- exercise 4

def _ngrams(tokens, n):
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def clipped_precision(hypothesis, references, n):
    hyp = _ngrams(hypothesis, n)
    most = Counter()
    for ref in references:
        for g, k in _ngrams(ref, n).items():
            most[g] = max(most[g], k)
    return sum(min(k, most[g]) for g, k in hyp.items()), sum(hyp.values())


def clipped_precision_unclipped(hypothesis, references, n):
    hyp = _ngrams(hypothesis, n)
    seen = set().union(*(_ngrams(ref, n) for ref in references))
    return sum(k for g, k in hyp.items() if g in seen), sum(hyp.values())


def clipped_precision_summed_references(hypothesis, references, n):
    hyp = _ngrams(hypothesis, n)
    summed = sum((_ngrams(ref, n) for ref in references), Counter())
    return sum(min(k, summed[g]) for g, k in hyp.items()), sum(hyp.values())


def clipped_precision_first_reference(hypothesis, references, n):
    return clipped_precision(hypothesis, references[:1], n)


EXERCISES = {
    1: {"solution": masked_cross_entropy,
        "wrong": [masked_cross_entropy_with_padding, masked_cross_entropy_per_sentence,
                  masked_cross_entropy_overflows, masked_cross_entropy_pad_zero]},
    2: {"solution": length_normalised,
        "wrong": [length_normalised_without_eos, length_normalised_plain_power, length_normalised_worst_first,
                  length_normalised_raw_order]},
    3: {"solution": masked_attention,
        "wrong": [masked_attention_without_mask, masked_attention_mask_after_softmax, masked_attention_scaled]},
    4: {"solution": clipped_precision,
        "wrong": [clipped_precision_unclipped, clipped_precision_summed_references,
                  clipped_precision_first_reference]},
}
