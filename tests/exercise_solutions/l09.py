"""Reference solutions of the exercises of lecture 09, and typical wrong answers each check
must reject (tests/test_exercises.py)."""

import numpy as np

IGNORE = -1


# ----------------------------------------------------------------------------- exercise 1

def perplexity(log_p, lengths):
    targets = np.arange(log_p.shape[1])[None, :] <= lengths[:, None]    # T_n letters and the end
    nats = -log_p[targets].mean()
    return float(np.exp(nats)), float(nats / np.log(2))


def perplexity_without_end(log_p, lengths):
    letters = np.arange(log_p.shape[1])[None, :] < lengths[:, None]
    nats = -log_p[letters].mean()
    return float(np.exp(nats)), float(nats / np.log(2))


def perplexity_base_mix(log_p, lengths):
    targets = np.arange(log_p.shape[1])[None, :] <= lengths[:, None]
    nats = -log_p[targets].mean()
    return float(2 ** nats), float(nats)


def perplexity_mean_of_words(log_p, lengths):
    per_word = -log_p.sum(axis=1) / (lengths + 1)
    return float(np.exp(per_word).mean()), float(per_word.mean() / np.log(2))


# ----------------------------------------------------------------------------- exercise 2

def _top_k(logits, top_k):
    if top_k is None:
        return logits
    kth = np.sort(logits, axis=1)[:, -top_k][:, None]                # the k-th largest of each row
    return np.where(logits >= kth, logits, -np.inf)


def sampling_distribution(logits, temperature, top_k=None):
    logits = _top_k(np.asarray(logits, dtype=np.float64), top_k)
    if temperature == 0:
        p = np.zeros_like(logits)
        p[np.arange(len(p)), logits.argmax(axis=1)] = 1.0
        return p
    a = logits / temperature
    p = np.exp(a - a.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def sampling_distribution_temperature_after_softmax(logits, temperature, top_k=None):
    p = sampling_distribution(logits, 1.0, top_k)
    p = p / temperature if temperature > 0 else p
    return p / p.sum(axis=1, keepdims=True)


def sampling_distribution_k_plus_one(logits, temperature, top_k=None):
    return sampling_distribution(logits, temperature, None if top_k is None else top_k + 1)


def sampling_distribution_overflows(logits, temperature, top_k=None):
    if temperature == 0:
        return sampling_distribution(logits, 0, top_k)
    p = np.exp(_top_k(np.asarray(logits, dtype=np.float64), top_k) / temperature)
    return p / p.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------- exercise 3

def word_batch(words, end):
    S = max(len(w) for w in words) + 1
    x = np.full((len(words), S), end)
    y = np.full((len(words), S), IGNORE)
    for n, w in enumerate(words):
        x[n, 1:len(w) + 1] = w
        y[n, :len(w)] = w
        y[n, len(w)] = end
    return x, y


def word_batch_without_end_target(words, end):
    x, y = word_batch(words, end)
    y[np.arange(len(words)), [len(w) for w in words]] = IGNORE
    return x, y


def word_batch_padded_with_end(words, end):
    x, y = word_batch(words, end)
    return x, np.where(y == IGNORE, end, y)


def word_batch_without_start(words, end):
    x, y = word_batch(words, end)
    return np.where(y == IGNORE, end, y), y


EXERCISES = {
    1: {"solution": perplexity,
        "wrong": [perplexity_without_end, perplexity_base_mix, perplexity_mean_of_words]},
    2: {"solution": sampling_distribution,
        "wrong": [sampling_distribution_temperature_after_softmax, sampling_distribution_k_plus_one,
                  sampling_distribution_overflows]},
    3: {"solution": word_batch,
        "wrong": [word_batch_without_end_target, word_batch_padded_with_end, word_batch_without_start]},
}
