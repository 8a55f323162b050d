"""Checks for the exercises of lecture 03 (the Elman RNN).

Shape legend:
    N  batch            x  (N, T, D)   inputs            Wx (D, H)   input-to-hidden
    T  time steps       h  (N, T, H)   hidden states     Wh (H, H)   hidden-to-hidden
    D  input size       o  (N, T, V)   output scores     Wr (V, H)   output-to-hidden (Jordan)
    H  hidden size      y0 (N, V)      given ŷ_0         Wy (H, V)   hidden-to-output
    V  output size      scores (N, T, C), y (N, T) int   b (H,), by (V,)
    C  classes

Time runs t = 1..T; arrays are 0-based, so `h[:, t-1]` holds h_t.

1. `jordan_forward`: the Jordan network, whose state is the previous prediction
       h_t = tanh(x_t Wx + ŷ_{t-1} Wr + b),  o_t = h_t Wy + by,  ŷ_t = softmax(o_t),  ŷ_0 = y0,
   against a float64 torch loop written here.
2. `sequence_loss`: the cross-entropy of a many-to-one and of a many-to-many network and its
   gradient with respect to the scores, against torch.nn.functional.cross_entropy and autograd.
3. `generate`: a one-step-ahead generator run with teacher forcing for the first inputs and on
   its own predictions after that; the teacher-forced case against course_lib.rnn, the rest
   against a torch loop.
"""

import numpy as np
import torch

from course_lib.exercises import attempt, exercise
from course_lib.grading import check_output, returns
from course_lib.rnn import rnn_forward

__all__ = ["check_jordan_forward", "check_sequence_loss", "check_generate"]


# ----------------------------------------------------------------------------- exercise 1

def _jordan_torch(x, y0, Wx, Wr, b, Wy, by, feedback="softmax", start="y0", softmax_dim=-1):
    """The Jordan recurrence in torch (float64); the keyword arguments produce typical mistakes."""
    x, y0, Wx, Wr, b, Wy, by = (torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (x, y0, Wx, Wr, b, Wy, by))
    fed = y0 if start == "y0" else torch.zeros_like(y0)                  # ŷ_0
    hs, os = [], []
    for t in range(x.shape[1]):                                          # index t holds step t + 1
        h = torch.tanh(x[:, t] @ Wx + fed @ Wr + b)                      # (N, H)
        o = h @ Wy + by                                                  # (N, V)
        hs.append(h)
        os.append(o)
        fed = torch.softmax(o, dim=softmax_dim) if feedback == "softmax" else o
    return torch.stack(hs, 1).numpy(), torch.stack(os, 1).numpy()


@exercise(1, "the Jordan network")
def check_jordan_forward(jordan_forward):
    rng = np.random.default_rng(30)
    N, T, D, H, V = 2, 5, 3, 4, 6          # distinct sizes: a transposed weight cannot broadcast
    x = rng.standard_normal((N, T, D))
    logits = rng.standard_normal((N, V))
    y0 = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)     # a given ŷ_0, rows sum to 1
    Wx, Wr = rng.standard_normal((D, H)), 2 * rng.standard_normal((V, H))
    b, Wy, by = 0.1 * rng.standard_normal(H), 2 * rng.standard_normal((H, V)), 0.1 * rng.standard_normal(V)
    args = (x, y0, Wx, Wr, b, Wy, by)
    case = f"N, T, D, H, V = {N}, {T}, {D}, {H}, {V}"
    h, o = returns(attempt(jordan_forward, *args, case=case), "jordan_forward", ["h", "o"], case)

    expected = _jordan_torch(*args)
    mistakes = [("the scores o_(t-1) fed back instead of softmax(o_(t-1))", _jordan_torch(*args, feedback="scores")),
                ("ŷ_0 = 0 instead of the given y0", _jordan_torch(*args, start="zeros")),
                ("the softmax taken over the batch (axis 0) instead of over the V outputs",
                 _jordan_torch(*args, softmax_dim=0))]
    for k, name in enumerate(["h", "o"]):
        check_output(name, [h, o][k], expected[k], [(d, m[k]) for d, m in mistakes],
                     hint="Check h_t = tanh(x_t Wx + ŷ_(t-1) Wr + b) with ŷ_(t-1) = softmax(o_(t-1)) "
                          "and ŷ_0 = y0.", case=case)
    return "h and o match a torch loop of the Jordan recurrence"


# ----------------------------------------------------------------------------- exercise 2

def _loss_torch(scores, y, config, reduce_time="mean", step=-1):
    """Loss and dL/dscores by torch autograd; the keyword arguments produce typical mistakes."""
    s = torch.tensor(scores, requires_grad=True)
    target = torch.from_numpy(y)
    if config == "many-to-one":
        loss = torch.nn.functional.cross_entropy(s[:, step], target[:, step])
    else:
        per_step = torch.nn.functional.cross_entropy(s.flatten(0, 1), target.flatten(), reduction="none")
        loss = per_step.mean() if reduce_time == "mean" else per_step.sum() / s.shape[0]
    loss.backward()
    return loss.item(), s.grad.numpy()


@exercise(2, "many-to-one and many-to-many losses")
def check_sequence_loss(sequence_loss):
    rng = np.random.default_rng(31)
    N, T, C = 3, 5, 4
    scores = 3 * rng.standard_normal((N, T, C))
    scores[0, -1, 2] = 800.0                 # exp(800) overflows: a stable softmax is needed
    scores[1, 0, 1] = -800.0
    y = rng.integers(0, C, (N, T))
    for config in ["many-to-one", "many-to-many"]:
        case = f"config = {config!r}, N, T, C = {N}, {T}, {C}, one score of 800"
        out = attempt(sequence_loss, scores.copy(), y.copy(), config, case=case)
        loss, dscores = returns(out, "sequence_loss", ["loss", "dscores"], case)
        exp_loss, exp_d = _loss_torch(scores, y, config)
        if config == "many-to-one":
            mistakes = [("the first step's output scored instead of the last one's", _loss_torch(scores, y, config, step=0)),
                        ("every step scored (the many-to-many loss)", _loss_torch(scores, y, "many-to-many"))]
        else:
            mistakes = [("the loss summed over time and averaged over the batch (the convention of "
                         "course_lib.layers.temporal_softmax_loss), not averaged over all N*T steps",
                         _loss_torch(scores, y, config, reduce_time="sum")),
                        ("only the last step scored (the many-to-one loss)", _loss_torch(scores, y, "many-to-one"))]
        stable = "Subtract each row's largest score before exp (log-sum-exp) so that nothing overflows."
        check_output("loss", loss, exp_loss, [(d, m[0]) for d, m in mistakes], hint=stable, case=case)
        check_output("dscores", dscores, exp_d, [(d, m[1]) for d, m in mistakes],
                     hint="dL/dscores is (softmax - onehot(y)) / (number of scored steps) at the scored "
                          "steps and 0 elsewhere. " + stable, case=case)
    return "both losses and their gradients match torch.nn.functional.cross_entropy and autograd"


# ----------------------------------------------------------------------------- exercise 3

def _generate_torch(y, warmup, Wx, Wh, b, Wy, by):
    """The generator in torch: steps t <= warmup read the true y_(t-1), later ones ŷ_(t-1)."""
    y, Wx, Wh, b, Wy, by = (torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (y, Wx, Wh, b, Wy, by))
    N, T = y.shape[0], y.shape[1] - 1
    h, preds = torch.zeros(N, Wh.shape[0], dtype=torch.float64), []
    for t in range(1, T + 1):
        inp = y[:, t - 1] if t <= warmup else preds[-1]
        h = torch.tanh(inp @ Wx + h @ Wh + b)
        preds.append(h @ Wy + by)                                        # ŷ_t
    return torch.stack(preds, 1).numpy()


@exercise(3, "teacher forcing and free running")
def check_generate(generate):
    rng = np.random.default_rng(32)
    N, T, D, H = 3, 8, 2, 5
    y = rng.standard_normal((N, T + 1, D))                               # y_0 .. y_T
    Wx, Wh = rng.standard_normal((D, H)), rng.standard_normal((H, H)) / np.sqrt(H)
    b, Wy, by = 0.1 * rng.standard_normal(H), rng.standard_normal((H, D)), 0.1 * rng.standard_normal(D)
    params = (Wx, Wh, b, Wy, by)

    # teacher forcing at every step is rnn_forward on y_0 .. y_(T-1) and a linear read-out
    h, _ = rnn_forward(y[:, :-1], np.zeros((N, H)), Wx, Wh, b)
    teacher_forced = h @ Wy + by                                         # (N, T, D)
    for warmup in [T, 3, 1]:
        case = f"warmup = {warmup}, N, T, D, H = {N}, {T}, {D}, {H}"
        got = attempt(generate, y.copy(), warmup, *params, case=case)
        expected = teacher_forced if warmup == T else _generate_torch(y, warmup, *params)
        mistakes = []
        if warmup < T:
            mistakes += [("the true y_(t-1) as input at every step (teacher forcing throughout)", teacher_forced),
                         ("the switch to free running one step too late (true inputs up to step warmup + 1)",
                          _generate_torch(y, warmup + 1, *params))]
        if warmup > 1:
            mistakes += [("the switch to free running one step too early (true inputs only up to step "
                          "warmup - 1)", _generate_torch(y, warmup - 1, *params))]
        check_output("pred", got, expected, mistakes,
                     hint="Step t reads y_(t-1) while t <= warmup and its own ŷ_(t-1) after that; h_0 = 0.",
                     case=case)
    return "teacher forced and free-running predictions match course_lib.rnn and a torch loop"
