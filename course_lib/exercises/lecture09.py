"""Checks of the exercises of lecture 09 (neural language models).

Shape legend:
    N  sequences (words) in a batch      log_p (N, S) float   log p of each target, nats
    S  steps = longest T_n + 1           lengths (N,) int     letters T_n of word n (end excluded)
    V  vocabulary (symbols 0..V-1)       logits (N, V)        scores of the next symbol
    T_n letters of word n                x, y (N, S) int      inputs and targets of a padded batch

Oracles: the perplexity is exp of course_lib.language_model.next_symbol_loss on the batch of
course_lib.language_model.sequence_batch, with a small float64 CharLM; the sampling
distribution is computed from its definition, row by row with Python's math; the padded batch
is that of sequence_batch.
"""

import contextlib
import math
import warnings

import numpy as np
import torch

from course_lib.exercises import attempt, exercise
from course_lib.grading import check_all, check_output, returns
from course_lib.language_model import IGNORE, CharLM, next_symbol_loss, sequence_batch

__all__ = ["check_perplexity", "check_sampling_distribution", "check_word_batch"]


@contextlib.contextmanager
def _quiet():
    """No NumPy warnings from the student's code: an overflow or 0/0 shows up in the check's
    message (a value that is not finite), not as a warning."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


# ----------------------------------------------------------------------------- exercise 1

def _word_cases():
    """Words over a small alphabet, end symbol 0, letters 1..V-1, an empty word included."""
    for seed, N, V in [(0, 5, 6), (1, 8, 9)]:
        rng = np.random.default_rng(seed)
        lengths = rng.integers(1, 8, N)
        lengths[N // 2] = 0                                          # a word with no letters
        words = [rng.integers(1, V, n) for n in lengths]
        yield f"N = {N} words, V = {V}, lengths {lengths.tolist()}", words, lengths, V


def _log_p_and_loss(words, V):
    """log p of every target of sequence_batch(words, 0) under a small float64 CharLM, 0 at the
    padding (N, S), and next_symbol_loss on the same batch (nats per scored symbol)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = CharLM(V, 4, 3).double()
    x, y = sequence_batch(words, 0)
    with torch.no_grad():
        log_p = torch.log_softmax(model(x)[0], dim=-1)               # (N, S, V)
        picked = log_p.gather(2, y.clamp(min=0)[..., None])[..., 0]  # (N, S)
        log_p = torch.where(y == IGNORE, 0.0, picked).numpy()
        loss = next_symbol_loss(model, (x, y)).item()
    return log_p, loss


@exercise(1, "perplexity with an end symbol")
def check_perplexity(perplexity):
    """perplexity(log_p, lengths) -> (ppl, bits), against exp(next_symbol_loss) of course_lib."""
    for case, words, lengths, V in _word_cases():
        log_p, loss = _log_p_and_loss(words, V)
        got = returns(attempt(perplexity, log_p.copy(), lengths.copy(), case=case),
                      "perplexity", ("ppl", "bits"), case)
        steps = np.arange(log_p.shape[1])[None, :]
        letters = steps < lengths[:, None]                           # (N, S) without the end
        nats_letters = -log_p[letters].mean()
        nats_padded = -log_p.mean()
        per_word = -log_p.sum(axis=1) / (lengths + 1)                # (N,) nats per symbol of each word
        mistakes = [
            ("the end symbol not counted: each word has T_n + 1 targets, its letters and the end",
             (np.exp(nats_letters), nats_letters / math.log(2))),
            ("the padding averaged in: only the first T_n + 1 positions of row n are targets",
             (np.exp(nats_padded), nats_padded / math.log(2))),
            ("2 raised to a mean in nats (log_p is a natural log: exp(nats), or 2^bits)",
             (2 ** loss, loss / math.log(2))),
            ("bits left in nats: divide the mean negative log-probability by ln 2",
             (np.exp(loss), loss)),
            ("bits multiplied by ln 2 instead of divided by it",
             (np.exp(loss), loss * math.log(2))),
            ("the mean of the words' perplexities; pool all the symbols of all words first",
             (np.exp(per_word).mean(), per_word.mean() / math.log(2))),
        ]
        check_all(("ppl", "bits"), got, (math.exp(loss), loss / math.log(2)), case=case, mistakes=mistakes,
                  hints={"ppl": "ppl = exp(-(1/M) sum log p) over the M = sum_n (T_n + 1) targets.",
                         "bits": "bits = -(1/M) sum log p / ln 2, so that ppl = 2 ** bits."})
    return "ppl and bits agree with exp(next_symbol_loss) on the same batch."


# ----------------------------------------------------------------------------- exercise 2

def _definition(logits, temperature, top_k):
    """p (N, V) from the definition, row by row: keep the top_k largest logits (ties: the lower
    index), p_v proportional to exp(a_v / temperature) on them; temperature 0: one-hot argmax."""
    p = np.zeros(logits.shape)
    for n, row in enumerate(logits.tolist()):
        order = sorted(range(len(row)), key=lambda v: (-row[v], v))
        kept = order[:top_k] if top_k is not None else order
        if temperature == 0:
            p[n, order[0]] = 1.0
            continue
        top = row[order[0]] / temperature                         # exp(a/tau - top) cannot overflow
        weights = {v: math.exp(row[v] / temperature - top) for v in kept}
        total = math.fsum(weights.values())
        for v, w in weights.items():
            p[n, v] = w / total
    return p


def _sampling_cases():
    rng = np.random.default_rng(0)
    yield "N = 3, V = 7, temperature 1, no top-k", rng.standard_normal((3, 7)) * 2, 1.0, None
    yield "N = 4, V = 7, temperature 0.5, top_k = 3", rng.standard_normal((4, 7)) * 2, 0.5, 3
    yield "N = 2, V = 9, temperature 2, top_k = 5", rng.standard_normal((2, 9)) * 2, 2.0, 5
    yield "N = 3, V = 6, temperature 0 (greedy), no top-k", rng.standard_normal((3, 6)), 0.0, None
    yield ("N = 2, V = 8, large logits (150 to 250), temperature 0.25, top_k = 4",
           rng.uniform(150, 250, (2, 8)), 0.25, 4)


def _softmax(a):
    a = a - a.max(axis=-1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=-1, keepdims=True)


def _keep_top(p, logits, k):
    """p restricted to the k largest logits of each row, not renormalised."""
    if k is None:
        return p
    k = min(k, logits.shape[1])
    keep = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    out = np.zeros_like(p)
    np.put_along_axis(out, keep, np.take_along_axis(p, keep, axis=1), axis=1)
    return out


def _renormalised(p):
    return p / p.sum(axis=1, keepdims=True)


@exercise(2, "the sampling distribution: temperature and top-k")
def check_sampling_distribution(sampling_distribution):
    """sampling_distribution(logits, temperature, top_k) -> p (N, V), against the definition."""
    for case, logits, tau, k in _sampling_cases():
        expected = _definition(logits, tau, k)
        with _quiet():
            got = attempt(sampling_distribution, logits.copy(), tau, k, case=case)
        if tau == 0:
            hint = "Temperature 0 is greedy decoding: all the probability on the largest logit of each row."
            mistakes = []
        else:
            scaled = _softmax(logits / tau)
            plain = _softmax(logits)
            hint = ("p_v = exp(a_v / temperature) / sum_w exp(a_w / temperature) over the kept "
                    "symbols, 0 elsewhere.")
            if logits.max() / tau > 700:
                hint = (f"exp(a / temperature) overflows for logits up to {logits.max():.0f}: subtract "
                        "each row's largest a_v / temperature first, which does not change the softmax.")
            mistakes = [
                ("the temperature applied after the softmax (softmax(a) / temperature, renormalised, "
                 "is softmax(a) again); divide the logits", _renormalised(_keep_top(plain, logits, k))),
                ("the logits multiplied by the temperature instead of divided by it",
                 _renormalised(_keep_top(_softmax(logits * tau), logits, k))),
            ]
            if k is not None:
                mistakes += [
                    ("top-k keeping k + 1 symbols", _renormalised(_keep_top(scaled, logits, k + 1))),
                    ("top-k keeping the k smallest logits", _renormalised(_keep_top(scaled, -logits, k))),
                    ("top-k applied after the softmax without renormalising: the kept probabilities "
                     "must sum to 1", _keep_top(scaled, logits, k)),
                    ("top-k ignored", scaled),
                ]
        check_output("p", got, expected, mistakes, hint=hint, case=case)
    return "p matches the definition, greedy and overflow-prone cases included."


# ----------------------------------------------------------------------------- exercise 3

def _batch_cases():
    letters = {c: i + 1 for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")}     # end symbol 0
    words = ["in", "the", "beginning", "", "god"]
    yield (f"words {words}, end = 0, letters a..z = 1..26",
           [np.array([letters[c] for c in w], dtype=np.int64) for w in words], 0)
    rng = np.random.default_rng(1)
    lengths = [3, 0, 5, 1, 2, 4]
    yield f"symbols 0..4, end = 5, lengths {lengths}", [rng.integers(0, 5, n) for n in lengths], 5


@exercise(3, "a padded batch of words with an end symbol")
def check_word_batch(word_batch):
    """word_batch(words, end) -> (x, y) (N, S), against course_lib.language_model.sequence_batch."""
    for case, words, end in _batch_cases():
        x_ref, y_ref = (t.numpy() for t in sequence_batch(words, end))
        x, y = returns(attempt(word_batch, [w.copy() for w in words], end, case=case),
                       "word_batch", ("x", "y"), case)
        scored = y_ref != IGNORE                                       # (N, S) the real targets
        try:
            x_arr = np.asarray(x)
        except ValueError:                                              # ragged rows: check_all says so
            x_arr = None
        if x_arr is not None and x_arr.shape == x_ref.shape:          # x at the padding is free
            x = np.where(scored, x_arr, x_ref)
        lengths = np.array([w.size for w in words])
        at_end = np.arange(x_ref.shape[1])[None, :] == lengths[:, None]    # (N, S) the end target
        x_no_start = np.full_like(x_ref, end)                         # the letters from step 0
        for n, w in enumerate(words):
            x_no_start[n, :w.size] = w
        mistakes = [
            ("no end target: y[n, T_n] must be the end symbol, the model has to learn where a word stops",
             (x_ref, np.where(at_end, IGNORE, y_ref))),
            (f"the padding of y scored as more end symbols; pad y with IGNORE = {IGNORE}",
             (x_ref, np.where(scored, y_ref, end))),
            (f"the padding of y filled with 0; pad y with IGNORE = {IGNORE}",
             (x_ref, np.where(scored, y_ref, 0))),
            ("x not starting with the end symbol: x[n] = [end, s_1, ..., s_Tn], the targets shifted "
             "by one step", (np.where(scored, x_no_start, x_ref), y_ref)),
            ("x equal to the targets: the input at step t is the symbol before the target",
             (np.where(scored, y_ref, x_ref), y_ref)),
        ]
        check_all(("x", "y"), (x, y), (x_ref, y_ref), case=case, mistakes=mistakes,
                  hints={"x": "x[n] = [end, s_1, ..., s_Tn] and then any padding.",
                         "y": f"y[n] = [s_1, ..., s_Tn, end] and then IGNORE = {IGNORE}."})
    return "x and y are the batch of sequence_batch (the padding of x is yours to choose)."
