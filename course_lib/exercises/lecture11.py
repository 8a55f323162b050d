"""Checks of the exercises of lecture 11 (image captioning).

Shape legend:
    N  batch (images)          scores (N, T, V) float   decoder scores per caption step
    T  caption steps           y, mask (N, T)           targets and which steps count
    V  vocabulary              features (N, F)          image features
    F  feature size            W_init (F, H), b_init (H,), h0 and dh0 (N, H)
    H  hidden size

Oracles: the temporal softmax loss is course_lib.layers.temporal_softmax_loss; the initial state
and its gradients are torch's tanh(features @ W + b) and autograd in float64; the greedy captions
are course_lib.seq2seq.search_greedy (the search of course_lib.captioning) on the same step
function, a small random GRU decoder whose captions end at different steps.
"""

import numpy as np
import torch

from course_lib.exercises import attempt, exercise
from course_lib.grading import GradingError, check_all, returns
from course_lib.layers import temporal_softmax_loss
from course_lib.seq2seq import search_greedy

__all__ = ["check_temporal_softmax_loss", "check_initial_state", "check_greedy_captions"]


# ----------------------------------------------------------------------------- exercise 1

def _loss_cases():
    """(case, scores (N, T, V), y (N, T), mask (N, T)): masks with whole rows padded after a length."""
    for seed, N, T, V, offset in [(0, 3, 5, 7, 0.0), (1, 4, 6, 9, 0.0), (2, 5, 4, 6, 1000.0)]:
        rng = np.random.default_rng(seed)
        scores = offset + 2.0 * rng.standard_normal((N, T, V))
        y = rng.integers(0, V, (N, T))
        lengths = rng.integers(1, T + 1, N)
        lengths[0] = T
        mask = np.arange(T)[None, :] < lengths[:, None]
        what = f"N = {N}, T = {T}, V = {V}, lengths {lengths.tolist()}"
        yield what + (f", scores around {offset:.0f}" if offset else ""), scores, y, mask


@exercise(1, "the temporal softmax loss with a mask")
def check_temporal_softmax_loss(fn):
    """fn(scores, y, mask) -> (loss, dscores), against course_lib.layers.temporal_softmax_loss."""
    for case, scores, y, mask in _loss_cases():
        expected = temporal_softmax_loss(scores, y, mask)
        with np.errstate(all="ignore"):           # the student's overflow shows in the message
            got = returns(attempt(fn, scores.copy(), y.copy(), mask.copy(), case=case),
                          "temporal_softmax_loss", ("loss", "dscores"), case)
        N = len(y)
        loss, dscores = expected
        per_word = mask.sum() / N                 # the loss per unmasked step is loss / per_word
        unmasked_loss, unmasked_d = temporal_softmax_loss(scores, y, np.ones_like(mask))
        mistakes = [
            ("a mean over the unmasked steps instead of a sum over time averaged over the batch "
             "(divide by N, the number of sequences)", (loss / per_word, dscores / per_word)),
            ("the mask ignored: masked steps must add nothing", (unmasked_loss, unmasked_d)),
            ("dscores not divided by N", (loss, dscores * N)),
            ("a sum over the batch: divide by N", (loss * N, dscores * N)),
        ]
        hints = {"loss": "loss = -(1/N) sum over n, t with mask of log softmax(scores[n, t])[y[n, t]].",
                 "dscores": "dscores[n, t] = mask[n, t] / N * (softmax(scores[n, t]) - onehot(y[n, t]))."}
        if np.abs(scores).max() > 700:
            hints = {k: "exp(scores) overflows above 709: subtract each row's maximum first." for k in hints}
        check_all(("loss", "dscores"), got, expected, hints=hints, case=case, mistakes=mistakes)
    return "your loss and gradient are course_lib.layers.temporal_softmax_loss', large scores included."


# ----------------------------------------------------------------------------- exercise 2

def _torch_initial_state(features, W, b, dh0):
    f, W, b = (torch.tensor(a, requires_grad=True) for a in (features, W, b))
    h0 = torch.tanh(f @ W + b)
    h0.backward(torch.from_numpy(dh0))
    return h0.detach().numpy(), f.grad.numpy(), W.grad.numpy(), b.grad.numpy()


@exercise(2, "the image as the initial state")
def check_initial_state(fn):
    """fn(features, W_init, b_init, dh0) -> (h0, dfeatures, dW_init, db_init), against torch autograd."""
    names = ("h0", "dfeatures", "dW_init", "db_init")
    for seed, N, F, H in [(0, 4, 6, 5), (1, 7, 3, 8)]:
        rng = np.random.default_rng(seed)
        features, W, b = rng.standard_normal((N, F)), rng.standard_normal((F, H)) / np.sqrt(F), rng.standard_normal(H)
        dh0 = rng.standard_normal((N, H))
        case = f"N = {N}, F = {F}, H = {H}"
        got = returns(attempt(fn, features.copy(), W.copy(), b.copy(), dh0.copy(), case=case),
                      "initial_state", names, case)
        expected = _torch_initial_state(features, W, b, dh0)
        h0 = expected[0]
        a = features @ W + b

        def through(da, h=h0, W=W, features=features):
            return h, da @ W.T, features.T @ da, da.sum(axis=0)

        mistakes = [
            ("the tanh derivative written 1 - h0 instead of 1 - h0^2", through(dh0 * (1 - h0))),
            ("the tanh derivative forgotten: da = dh0 (1 - h0^2)", through(dh0)),
            ("the tanh derivative taken at a, 1 - a^2, instead of at h0 = tanh(a)", through(dh0 * (1 - a ** 2))),
            ("no tanh: h0 = features W_init + b_init", (a, dh0 @ W.T, features.T @ dh0, dh0.sum(axis=0))),
        ]
        hints = {"h0": "h0 = tanh(features @ W_init + b_init).",
                 "dfeatures": "dfeatures = da @ W_init.T with da = dh0 * (1 - h0 ** 2).",
                 "dW_init": "dW_init = features.T @ da.",
                 "db_init": "db_init = da summed over the batch (axis 0)."}
        check_all(names, got, expected, hints=hints, case=case, mistakes=mistakes,
                  all_wrong_hint="Every gradient is wrong: check da = dh0 * (1 - h0 ** 2) first.")
    return "h0 and the three gradients are torch's."


# ----------------------------------------------------------------------------- exercise 3

BOS, EOS = 1, 2


def _decoder(seed, V, H, eos_bias):
    """A small random GRU decoder: the student's step(y_prev, h) -> (log_p, h) over NumPy arrays,
    and the same step for search_greedy, over (1, N, H) tensors."""
    gen = torch.Generator().manual_seed(seed)
    embed = 2.0 * torch.randn(V, H, generator=gen, dtype=torch.float64)
    cell = torch.nn.GRUCell(H, H).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(0.6 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    out = torch.randn(H, V, generator=gen, dtype=torch.float64)
    bias = torch.zeros(V, dtype=torch.float64)
    bias[EOS], bias[BOS] = eos_bias, -30.0                  # bos is never written

    @torch.no_grad()
    def log_probs(y_prev, h):
        h = cell(embed[y_prev], h)
        return torch.log_softmax(h @ out + bias, dim=-1), h

    def numpy_step(y_prev, h):
        y_prev, h = np.asarray(y_prev), np.asarray(h, dtype=np.float64)
        if h.ndim != 2 or h.shape[1] != H or y_prev.shape != (len(h),) or y_prev.dtype.kind not in "iu":
            raise ValueError(f"step needs y_prev (M,) ints and h (M, H) = (M, {H}), got {y_prev.shape} "
                             f"{y_prev.dtype} and {h.shape}")
        log_p, h = log_probs(torch.from_numpy(y_prev).long(), torch.from_numpy(h))
        return log_p.numpy(), h.numpy()

    def search_step(y_prev, state, context):
        log_p, h = log_probs(y_prev, state[0])
        return log_p, h[None]

    return numpy_step, search_step


@exercise(3, "greedy captioning with an end symbol")
def check_greedy_captions(fn):
    """fn(step, h0, bos, eos, max_len) -> list of N id lists, against seq2seq.search_greedy."""
    # eos biases chosen so that the captions of a batch end at different steps, max_len included
    for seed, N, V, H, max_len, eos_bias in [(0, 6, 7, 5, 5, 0.5), (1, 9, 9, 4, 6, 0.5), (3, 8, 8, 6, 6, -0.5)]:
        numpy_step, search_step = _decoder(seed, V, H, eos_bias)
        h0 = np.random.default_rng(seed).standard_normal((N, H))
        hyps = search_greedy(search_step, torch.from_numpy(h0)[None], (), max_len, BOS, EOS)
        expected = [[w for w in h.tokens if w != EOS] for h in hyps]
        case = f"N = {N} images, V = {V}, H = {H}, max_len = {max_len}, caption lengths {[len(e) for e in expected]}"
        got = attempt(fn, numpy_step, h0.copy(), BOS, EOS, max_len, case=case)
        if not isinstance(got, (list, tuple)) or len(got) != N:
            what = f"{len(got)} entries" if isinstance(got, (list, tuple)) else type(got).__name__
            raise GradingError(f"greedy_captions must return a list of N = {N} captions, got {what} (case: {case})")
        got = [[int(w) for w in np.asarray(g).ravel()] for g in got]
        for n, (g, e) in enumerate(zip(got, expected)):
            if g == e:
                continue
            hint = "Take the argmax of log_p for every row at every step, starting from bos and h0."
            if g and g[0] == BOS:
                hint = "Your caption starts with bos: return only the words the decoder wrote."
            elif g == e + [EOS]:
                hint = "Your caption keeps its eos: leave it out."
            elif EOS in g:
                hint = ("Your caption goes on after its eos: a row is finished at its first eos, even while "
                        "other rows go on.")
            elif len(g) > len(e) and g[:len(e)] == e and len(e) < max_len:
                hint = ("Your caption goes on after the decoder wrote eos: a row is finished at its first "
                        "eos, even while other rows go on.")
            elif len(g) > max_len:
                hint = f"Your caption is longer than max_len = {max_len} words (eos counts as a word)."
            elif len(g) < len(e) and g == e[:len(g)]:
                hint = ("Your caption stops too early: each row stops at its own eos, not when another row "
                        "stops (or max_len counts eos as a word: max_len words at most, eos included).")
            raise GradingError(f"caption {n} is wrong (case: {case}): expected {e}, got {g}. {hint}")
    return "your captions are course_lib's greedy search's, and every row stops at its own eos."

