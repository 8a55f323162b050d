"""Checks of the exercises of lecture 10 (sequence to sequence).

Shape legend:
    N  batch (sentences)                logits (N, T, V) float   decoder scores per target position
    T  target steps                     targets (N, T) int       target ids, pad_id at the padding
    S  source steps                     query (N, T, H)          decoder states
    H  hidden size                      memory (N, S, H)         encoder states, padding after L_n
    V  target vocabulary                src_lengths (N,) int     L_n, real source lengths
    K  outputs to rank                  scores, lengths (K,)     log p(y | x) and |y| (eos included)

Oracles: the cross-entropy is course_lib.seq2seq.sequence_loss (torch's cross_entropy with
ignore_index) in float64; the length-normalised ranking is that of
course_lib.seq2seq.exhaustive_decode(..., length_norm=alpha), which scores every output of a
tiny model, and the normalised scores are course_lib.seq2seq.length_penalty applied to them; the
attention is course_lib.seq2seq.attention in float64; the clipped precision is
course_lib.bleu.clipped_counts, and for Papineni et al.'s own example their published 2/7.
"""

from collections import Counter

import numpy as np
import torch

from course_lib.bleu import clipped_counts, ngrams
from course_lib.exercises import attempt, exercise
from course_lib.grading import GradingError, check_all, check_output, returns
from course_lib.seq2seq import (
    attention,
    build_seq2seq,
    exhaustive_decode,
    length_penalty,
    sequence_loss,
    source_batch,
)

__all__ = ["check_masked_cross_entropy", "check_length_normalised", "check_masked_attention",
           "check_clipped_precision"]


# ----------------------------------------------------------------------------- exercise 1

def _cross_entropy_cases():
    """(case, logits (N, T, V), targets (N, T), pad_id): padded rows of different lengths."""
    for seed, N, T, V, pad_id, offset in [(0, 3, 5, 7, 0, 0.0), (1, 4, 6, 9, 0, 0.0), (2, 5, 4, 6, 3, 800.0)]:
        rng = np.random.default_rng(seed)
        logits = offset + 3.0 * rng.standard_normal((N, T, V))        # a confident model's logits: large
        real = [v for v in range(V) if v != pad_id]
        targets = rng.choice(real, (N, T))
        lengths = rng.integers(1, T + 1, N)
        lengths[0] = T                                                  # one row without padding
        targets[np.arange(T)[None, :] >= lengths[:, None]] = pad_id
        what = f"N = {N}, T = {T}, V = {V}, pad_id = {pad_id}, lengths {lengths.tolist()}"
        if offset:
            what += f", logits around {offset:.0f}"
        yield what, logits, targets, pad_id


def _log_softmax(a):
    a = a - a.max(axis=-1, keepdims=True)
    return a - np.log(np.exp(a).sum(axis=-1, keepdims=True))


@exercise(1, "the masked sequence cross-entropy")
def check_masked_cross_entropy(masked_cross_entropy):
    """masked_cross_entropy(logits, targets, pad_id) -> float, against sequence_loss."""
    for case, logits, targets, pad_id in _cross_entropy_cases():
        expected = sequence_loss(torch.from_numpy(logits), torch.from_numpy(targets), pad_id).item()
        with np.errstate(all="ignore"):           # the student's overflow shows in the message
            got = attempt(masked_cross_entropy, logits.copy(), targets.copy(), pad_id, case=case)
        nll = -np.take_along_axis(_log_softmax(logits), targets[..., None], axis=-1)[..., 0]   # (N, T)
        real = targets != pad_id
        per_sentence = np.where(real, nll, 0).sum(axis=1) / real.sum(axis=1)                 # (N,)
        mistakes = [
            ("the padding scored as if pad_id were a target: average over the real tokens only",
             nll.mean()),
            ("the sum over time averaged over the batch (a per-sentence loss); divide by the number "
             "of real tokens instead", np.where(real, nll, 0).sum() / len(targets)),
            ("the mean of each sentence's mean; every real token must weigh the same",
             per_sentence.mean()),
            ("the sum over the real tokens instead of their mean", np.where(real, nll, 0).sum()),
        ]
        if pad_id != 0:
            mistakes.append(("the padding found by comparing with 0 instead of pad_id", nll[targets != 0].mean()))
        hint = "loss = -(1/M) sum of log softmax(logits[n, t])[targets[n, t]] over the M real tokens."
        if np.abs(logits).max() > 700:
            hint = ("exp(logits) overflows for logits above 709: subtract the largest logit of each "
                    "position before exp (log softmax(a) = a - max a - log sum exp(a - max a)).")
        check_output("loss", got, expected, mistakes, hint=hint, case=case)
    return "the loss equals sequence_loss, large logits included."


# ----------------------------------------------------------------------------- exercise 2

BOS, EOS = 1, 2


def _tiny_outputs(seed, V=5, max_len=3):
    """Every output of a tiny random model for one source: (model, src, lengths, scores (K,),
    lengths (K,), tokens), the outputs in a fixed random order."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_seq2seq(6, V, embedding_size=3, hidden_size=4).eval()
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(3.0)                                              # sharper than at initialisation
    src, src_lengths = source_batch([np.random.default_rng(seed).integers(0, 6, 3)])
    size = sum((V - 1) ** (l - 1) for l in range(1, max_len + 1)) + (V - 1) ** max_len
    every = exhaustive_decode(model, src, src_lengths, max_len, BOS, EOS, n_best=size)[0]
    shuffled = [every[k] for k in np.random.default_rng(seed + 10).permutation(len(every))]
    return (model, src, src_lengths, max_len, size, np.array([h.score for h in shuffled]),
            np.array([len(h.tokens) for h in shuffled]), [h.tokens for h in shuffled])


def _ranking(values):
    return np.argsort(-values, kind="stable")


@exercise(2, "ranking by length-normalised score")
def check_length_normalised(length_normalised):
    """length_normalised(scores, lengths, alpha) -> (normalised, order), against exhaustive_decode
    with length_norm=alpha and length_penalty."""
    for seed, alpha in [(0, 0.6), (1, 1.0), (2, 2.0)]:
        model, src, src_lengths, max_len, size, scores, lengths, tokens = _tiny_outputs(seed)
        case = f"the {size} outputs of a tiny model (V = 5 symbols, at most {max_len} tokens), alpha = {alpha}"
        with np.errstate(all="ignore"):           # a division by zero shows in the message
            got = returns(attempt(length_normalised, scores.copy(), lengths.copy(), alpha, case=case),
                          "length_normalised", ("normalised", "order"), case)
        expected = scores / length_penalty(lengths, alpha)
        mistakes = [
            ("lengths without the <eos>: |y| counts every output token, <eos> included",
             scores / length_penalty(lengths - 1, alpha)),
            ("lp = |y| ** alpha; GNMT's penalty is ((5 + |y|) / 6) ** alpha", scores / lengths.astype(float) ** alpha),
            ("lp without the power alpha", scores / ((5 + lengths) / 6)),
            ("the score multiplied by lp instead of divided by it", scores * length_penalty(lengths, alpha)),
        ]
        check_output("normalised", got[0], expected, mistakes,
                     hint="normalised = scores / ((5 + lengths) / 6) ** alpha.", case=case)
        order = np.asarray(got[1])
        if order.dtype.kind not in "iu" or order.shape != (size,) or sorted(order.tolist()) != list(range(size)):
            raise GradingError(f"order must be an int array, a permutation of the {size} indices 0..{size - 1} "
                               f"best first, got {order.dtype} of shape {order.shape} (case: {case})")
        best = exhaustive_decode(model, src, src_lengths, max_len, BOS, EOS, n_best=10, length_norm=alpha)[0]
        if [tokens[k] for k in order[:10]] != [h.tokens for h in best]:
            hint = "order must put the highest normalised score first (np.argsort(-normalised))."
            if np.array_equal(order, _ranking(expected)[::-1]):
                hint = "Your order is worst first: sort by -normalised, or reverse the ascending order."
            elif np.array_equal(order, _ranking(scores)):
                hint = "Your order ranks by the raw scores: rank by the normalised ones."
            raise GradingError(f"the ten best outputs in your order are not those of exhaustive search with "
                               f"length_norm = {alpha} (case: {case}). {hint}")
    return "your ranking is exhaustive search's with length normalisation."


# ----------------------------------------------------------------------------- exercise 3

def _attention_cases():
    """(case, query (N, T, H), memory (N, S, H), lengths (N,)): garbage in the padded memory."""
    for seed, N, T, S, H, lengths in [(0, 3, 4, 6, 5, [6, 2, 4]), (1, 2, 5, 3, 7, [1, 3])]:
        rng = np.random.default_rng(seed)
        query = rng.standard_normal((N, T, H))
        memory = rng.standard_normal((N, S, H))                          # padding holds values too
        yield (f"N = {N}, T = {T}, S = {S}, H = {H}, src_lengths {lengths}", query, memory,
               np.array(lengths))


def _softmax(e, axis=-1):
    e = e - e.max(axis=axis, keepdims=True)
    w = np.exp(e)
    return w / w.sum(axis=axis, keepdims=True)


@exercise(3, "dot-product attention with a mask")
def check_masked_attention(masked_attention):
    """masked_attention(query, memory, src_lengths) -> (context, weights), against
    course_lib.seq2seq.attention."""
    for case, query, memory, lengths in _attention_cases():
        S = memory.shape[1]
        mask = np.arange(S)[None, :] < lengths[:, None]                  # (N, S)
        with torch.no_grad():
            context, weights = attention(torch.from_numpy(query), torch.from_numpy(memory),
                                         torch.from_numpy(mask), "dot")
        expected = (context.numpy(), weights.numpy())
        with np.errstate(all="ignore"):           # an overflow or 0/0 shows in the message
            got = returns(attempt(masked_attention, query.copy(), memory.copy(), lengths.copy(), case=case),
                          "masked_attention", ("context", "weights"), case)

        def outputs(w, memory=memory):
            return w @ memory, w

        e = query @ memory.transpose(0, 2, 1)                            # (N, T, S)
        masked = np.where(mask[:, None, :], e, -np.inf)
        one_more = np.arange(S)[None, :] <= lengths[:, None]
        with np.errstate(all="ignore"):                                   # all -inf columns: 0/0 below
            over_steps = np.nan_to_num(_softmax(masked, axis=1))
        mistakes = [
            ("no mask: the padded positions must get weight 0", outputs(_softmax(e))),
            ("the padding zeroed after the softmax without renormalising: mask the scores before it",
             outputs(_softmax(e) * mask[:, None, :])),
            ("the mask one position too long (s <= L_n); the real positions are s < L_n",
             outputs(_softmax(np.where(one_more[:, None, :], e, -np.inf)))),
            ("the softmax over the decoder steps T instead of the source positions S",
             outputs(over_steps)),
            ("scores divided by sqrt(H): the lecture's dot score is not scaled",
             outputs(_softmax(masked / np.sqrt(query.shape[-1])))),
        ]
        check_all(("context", "weights"), got, expected, case=case, mistakes=mistakes,
                  hints={"weights": "weights = softmax over s < L_n of query_t . memory_s, 0 at the padding.",
                         "context": "context = weights @ memory."})
    return "context and weights match course_lib.seq2seq.attention."


# ----------------------------------------------------------------------------- exercise 4

def _bleu_cases():
    """(case, hypothesis, references, n), Papineni et al.'s examples first."""
    refs = [["the", "cat", "is", "on", "the", "mat"], ["there", "is", "a", "cat", "on", "the", "mat"]]
    yield "Papineni et al.: 'the' seven times, n = 1", ["the"] * 7, refs, 1
    yield "'the cat the cat on the mat', n = 2", ["the", "cat", "the", "cat", "on", "the", "mat"], refs, 2
    yield "'the cat the cat on the mat', n = 1", ["the", "cat", "the", "cat", "on", "the", "mat"], refs, 1
    de = [["drei", "tausend", "drei", "hundert", "drei", "und", "dreißig"],
          ["drei", "hundert", "drei", "und", "drei", "tausend"]]
    yield ("German number words, two references, n = 1",
           ["drei", "drei", "drei", "drei", "hundert", "und", "drei"], de, 1)
    rng = np.random.default_rng(0)
    words = ["ein", "und", "zwanzig", "hundert", "zwei"]
    hyp = [words[k] for k in rng.integers(0, 5, 12)]
    many = [[words[k] for k in rng.integers(0, 5, m)] for m in (9, 14, 6)]
    for n in (1, 2, 3):
        yield f"random words, three references, n = {n}", hyp, many, n
    yield "a hypothesis shorter than n = 4", ["ein", "und"], [["ein", "und", "zwanzig"]], 4


@exercise(4, "the clipped n-gram precision of BLEU")
def check_clipped_precision(clipped_precision):
    """clipped_precision(hypothesis, references, n) -> (matches, total), against
    course_lib.bleu.clipped_counts (and Papineni et al.'s 2/7)."""
    for case, hyp, refs, n in _bleu_cases():
        expected = clipped_counts(hyp, refs, n)
        if case.startswith("Papineni"):
            assert expected == (2, 7)                                     # the paper's own numbers
        got = returns(attempt(clipped_precision, list(hyp), [list(r) for r in refs], n, case=case),
                      "clipped_precision", ("matches", "total"), case)
        counts = ngrams(hyp, n)
        refs_counts = [ngrams(r, n) for r in refs]
        union = set().union(*refs_counts)
        summed = sum(refs_counts, Counter())
        total = expected[1]
        mistakes = [
            ("no clipping: an n-gram of the hypothesis counts each time it occurs in any reference",
             (sum(k for g, k in counts.items() if g in union), total)),
            ("clipping by the sum of the references' counts; clip by the largest count in any one reference",
             (sum(min(k, summed[g]) for g, k in counts.items()), total)),
            ("clipping by the first reference only; take the maximum over all references",
             (sum(min(k, refs_counts[0][g]) for g, k in counts.items()), total)),
            ("total counting distinct n-grams; it counts every n-gram of the hypothesis",
             (expected[0], len(counts))),
        ]
        check_all(("matches", "total"), got, expected, case=case, mistakes=mistakes,
                  hints={"matches": "matches = sum over the hypothesis's n-grams g of "
                                    "min(count in hypothesis, max over references of count in it).",
                         "total": "total = len(hypothesis) - n + 1, or 0 when the hypothesis is shorter than n."})
    return "your counts are clipped_counts', Papineni et al.'s 2/7 included."
