"""Checks for the exercises of lecture 04 (backpropagation through time).

Shape legend:
    N  batch            x  (N, T, D)   inputs              Wx (D, H)   input-to-hidden
    T  time steps       h0 (N, H)      given initial state Wh (H, H)   hidden-to-hidden
    D  input size       h  (N, T, H)   hidden states       b  (H,)     bias
    H  hidden size      dh (N, T, H)   direct gradient of every h_t
    k  steps per chunk of truncated BPTT

Time runs t = 1..T; arrays are 0-based, so `h[:, t-1]` holds h_t.

1. `relu_rnn_backward`: BPTT for h_t = max(0, x_t Wx + h_{t-1} Wh + b), against torch.autograd
   and against central differences (course_lib.gradcheck.check_gradient).
2. `tbptt_chunks`: truncated BPTT computed chunk by chunk, against torch with the state
   detached at every chunk boundary.
"""

import numpy as np
import torch

from course_lib.exercises import attempt, exercise
from course_lib.gradcheck import check_gradient
from course_lib.grading import GradingError, check_all, returns

__all__ = ["check_relu_rnn_backward", "check_tbptt_chunks"]

GRADS = ["dx", "dh0", "dWx", "dWh", "db"]


def _inputs(seed, N, T, D, H, wh_scale=1.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((N, T, D)), rng.standard_normal((N, H)),
            rng.standard_normal((D, H)) / np.sqrt(D), wh_scale * rng.standard_normal((H, H)) / np.sqrt(H),
            0.1 * rng.standard_normal(H), rng.standard_normal((N, T, H)))


# ----------------------------------------------------------------------------- exercise 1

def _relu_forward(x, h0, Wx, Wh, b):
    """h (N, T, H) of the ReLU RNN, NumPy."""
    h, h_prev = np.empty((x.shape[0], x.shape[1], h0.shape[1])), h0
    for t in range(x.shape[1]):                              # index t holds step t + 1
        h_prev = np.maximum(0.0, x[:, t] @ Wx + h_prev @ Wh + b)
        h[:, t] = h_prev
    return h


def _relu_torch_grads(x, h0, Wx, Wh, b, dh, recurrent=True, derivative=True, transpose=False):
    """Gradients of L = sum(dh * h) by torch.autograd. The keyword arguments change the graph so
    that its exact gradients are the typical mistakes: no path from h_t into h_(t+1) (except
    from h0), the ReLU taken as the identity in the backward pass, and dh_prev = da @ Wh in
    place of da @ Wh.T."""
    tx, th0, tWx, tWh, tb = (torch.tensor(a, requires_grad=True) for a in (x, h0, Wx, Wh, b))
    h_prev, total = th0, 0.0
    for t in range(x.shape[1]):                              # index t holds step t + 1
        prev = h_prev if recurrent or t == 0 else h_prev.detach()
        recur = _MatmulTransposedBackward.apply(prev, tWh) if transpose else prev @ tWh
        a = tx[:, t] @ tWx + recur + tb
        h = torch.relu(a) if derivative else a + (torch.relu(a) - a).detach()
        total = total + (h * torch.from_numpy(dh[:, t])).sum()
        h_prev = h
    total.backward()
    return tuple(v.grad.numpy() for v in (tx, th0, tWx, tWh, tb))


class _MatmulTransposedBackward(torch.autograd.Function):
    """h_prev @ Wh forwards; backwards it hands h_prev the gradient da @ Wh instead of da @ Wh.T."""

    @staticmethod
    def forward(ctx, h_prev, W):
        ctx.save_for_backward(h_prev, W)
        return h_prev @ W

    @staticmethod
    def backward(ctx, da):
        h_prev, W = ctx.saved_tensors
        return da @ W, h_prev.T @ da


@exercise(1, "BPTT for a ReLU RNN")
def check_relu_rnn_backward(relu_rnn_backward):
    # a larger case against torch.autograd, with typical mistakes named
    N, T, D, H = 3, 7, 4, 5                # distinct sizes: a transposed weight cannot broadcast
    x, h0, Wx, Wh, b, dh = _inputs(40, N, T, D, H)
    h = _relu_forward(x, h0, Wx, Wh, b)
    case = f"N, T, D, H = {N}, {T}, {D}, {H}"
    got = returns(attempt(relu_rnn_backward, dh.copy(), x.copy(), h0.copy(), Wx.copy(), Wh.copy(), h.copy(),
                          case=case), "relu_rnn_backward", GRADS, case)
    expected = _relu_torch_grads(x, h0, Wx, Wh, b, dh)
    mistakes = [("no recurrent path: the gradient from h_(t+1) is not added to dh[:, t]",
                 _relu_torch_grads(x, h0, Wx, Wh, b, dh, recurrent=False)),
                ("the ReLU derivative 1[h_t > 0] left out", _relu_torch_grads(x, h0, Wx, Wh, b, dh, derivative=False)),
                ("dh_prev = da @ Wh where da @ Wh.T belongs", _relu_torch_grads(x, h0, Wx, Wh, b, dh, transpose=True))]
    check_all(GRADS, got, expected, case=case, mistakes=mistakes,
              all_wrong_hint="All five are wrong: check da_t = (dh[:, t] + dh_next) * (h_t > 0) first.")

    # a small case against central differences of the forward pass
    N, T, D, H = 2, 4, 3, 5
    x, h0, Wx, Wh, b, dh = _inputs(41, N, T, D, H)
    h = _relu_forward(x, h0, Wx, Wh, b)
    case = f"N, T, D, H = {N}, {T}, {D}, {H}"
    grads = returns(attempt(relu_rnn_backward, dh.copy(), x.copy(), h0.copy(), Wx.copy(), Wh.copy(), h.copy(),
                            case=case), "relu_rnn_backward", GRADS, case)
    report = check_gradient(lambda x, h0, Wx, Wh, b: float(np.sum(dh * _relu_forward(x, h0, Wx, Wh, b))),
                            [x, h0, Wx, Wh, b], list(grads), names=["x", "h0", "Wx", "Wh", "b"],
                            raise_on_failure=False)
    if not report.passed:
        raise GradingError(f"({case}) {report.message()}")
    return (f"all five gradients match torch.autograd and central differences "
            f"(max relative error {report.max_rel_error:.1e})")



# ----------------------------------------------------------------------------- exercise 2

def _tbptt_torch(x, h0, Wx, Wh, b, dh, k, mode="truncated"):
    """Gradients of L = sum(dh * h) for the tanh RNN by torch.autograd, with the state cut at
    every chunk boundary (steps k+1, 2k+1, ...). mode: "truncated" (detached there: the
    answer), "full" (not cut), "reset" (each chunk restarts from h0), "dh0_sum" (cut, but
    the gradient reaching every chunk's start state is added into dh0)."""
    tx, th0, tWx, tWh, tb = (torch.tensor(a, requires_grad=True) for a in (x, h0, Wx, Wh, b))
    h_prev, total, starts = th0, 0.0, []
    for t in range(x.shape[1]):                              # index t holds step t + 1
        if t > 0 and t % k == 0 and mode != "full":
            if mode == "reset":
                h_prev = th0
            else:
                h_prev = h_prev.detach().requires_grad_(mode == "dh0_sum")
                starts.append(h_prev)
        h_prev = torch.tanh(tx[:, t] @ tWx + h_prev @ tWh + tb)
        total = total + (h_prev * torch.from_numpy(dh[:, t])).sum()
    total.backward()
    grads = [v.grad.numpy() for v in (tx, th0, tWx, tWh, tb)]
    if mode == "dh0_sum":
        grads[1] = grads[1] + sum(s.grad.numpy() for s in starts)
    return tuple(grads)


@exercise(2, "truncated BPTT, chunk by chunk")
def check_tbptt_chunks(tbptt_chunks):
    N, T, D, H = 2, 12, 3, 4               # distinct sizes: a transposed weight cannot broadcast
    x, h0, Wx, Wh, b, dh = _inputs(42, N, T, D, H)
    for k in [5, 1, T]:
        case = f"N, T, D, H = {N}, {T}, {D}, {H}, k = {k}"
        got = returns(attempt(tbptt_chunks, x.copy(), h0.copy(), Wx.copy(), Wh.copy(), b.copy(), dh.copy(), k,
                              case=case), "tbptt_chunks", GRADS, case)
        expected = _tbptt_torch(x, h0, Wx, Wh, b, dh, k)
        mistakes = []
        if k < T:
            mistakes = [("full BPTT: the gradient also flows across the chunk boundaries",
                         _tbptt_torch(x, h0, Wx, Wh, b, dh, k, mode="full")),
                        ("every chunk started from h0 instead of the state the previous chunk ended in",
                         _tbptt_torch(x, h0, Wx, Wh, b, dh, k, mode="reset")),
                        ("dh0 summed over the chunks: only the first chunk starts from h0",
                         _tbptt_torch(x, h0, Wx, Wh, b, dh, k, mode="dh0_sum"))]
        check_all(GRADS, got, expected, case=case, mistakes=mistakes,
                  hints={"dh0": "dh0 is the gradient the first chunk sends into h0."})
    return "dx, dh0, dWx, dWh and db match torch with the state detached at every chunk boundary"
