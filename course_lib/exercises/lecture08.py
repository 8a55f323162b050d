"""Checks of the exercises of lecture 08 (deep and bidirectional RNNs).

Shape legend:
    N  batch            x   (N, T, D)    input sequences
    T  time steps       h0  (S, N, H)    initial states, one row per layer and direction
    D  input size       h   (N, T, H)    outputs of a unidirectional layer
    H  hidden size      h   (N, T, 2H)   outputs of a bidirectional layer, [forward | backward]
    L  layers           one direction's parameters: (Wx (D_l, H), Wh (H, H), b (H,))

Every exercise uses the Elman cell h_t = tanh(x_t Wx + h_{t-1} Wh + b). The oracle is a
float64 `torch.nn.RNN` (bidirectional or stacked) into which the check copies its random
parameters (course_lib.training.numpy_to_torch): its outputs, and its autograd gradients.
The typical mistakes are built from the sequence functions of course_lib.rnn.
"""

import numpy as np
import torch

from course_lib.exercises import attempt, exercise
from course_lib.grading import check_all, check_output, returns
from course_lib.rnn import rnn_backward, rnn_forward
from course_lib.training import numpy_to_torch

__all__ = ["check_bidirectional_rnn", "check_stacked_rnn", "check_bidirectional_rnn_backward"]


def _direction(rng, D, H):
    """Random parameters of one direction, (Wx (D, H), Wh (H, H), b (H,)), scaled so that
    tanh stays in its sensitive range."""
    return (rng.standard_normal((D, H)) / np.sqrt(D), rng.standard_normal((H, H)) / np.sqrt(H),
            0.5 * rng.standard_normal(H))


def _torch_rnn(layers, D, bidirectional):
    """A float64 torch.nn.RNN holding `layers`: layers[l] is a list of (Wx, Wh, b), one per direction."""
    H = layers[0][0][1].shape[0]
    with torch.random.fork_rng(devices=[]):             # torch's own initialisation: leave the seed alone
        module = torch.nn.RNN(D, H, num_layers=len(layers), bidirectional=bidirectional,
                              batch_first=True, dtype=torch.float64)
    numpy_to_torch([[dict(zip(("Wx", "Wh", "b"), p)) for p in layer] for layer in layers], module)
    return module


def _copies(*params):
    """Fresh copies of parameter tuples, so that a student's in-place edit changes nothing here."""
    return [tuple(a.copy() for a in p) for p in params]


# ----------------------------------------------------------------------------- exercise 1

def _bidirectional_cases():
    for seed, (N, T, D, H) in [(0, (3, 7, 5, 4)), (1, (2, 5, 3, 6))]:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((N, T, D))
        h0 = 0.5 * rng.standard_normal((2, N, H))
        fwd, bwd = _direction(rng, D, H), _direction(rng, D, H)
        dh = rng.standard_normal((N, T, 2 * H))                         # upstream gradient (exercise 3)
        yield f"N, T, D, H = {N}, {T}, {D}, {H}", x, h0, fwd, bwd, dh


@exercise(1, "a bidirectional RNN layer")
def check_bidirectional_rnn(bidirectional_rnn):
    """bidirectional_rnn(x, h0, forward, backward) -> h (N, T, 2H), against torch.nn.RNN(bidirectional=True)."""
    for case, x, h0, fwd, bwd, _ in _bidirectional_cases():
        with torch.no_grad():
            expected = _torch_rnn([[fwd, bwd]], x.shape[2], True)(torch.from_numpy(x),
                                                                 torch.from_numpy(h0))[0].numpy()
        got = attempt(bidirectional_rnn, x.copy(), h0.copy(), *_copies(fwd, bwd), case=case)
        hf = rnn_forward(x, h0[0], *fwd)[0]                             # (N, T, H)
        hb_reversed = rnn_forward(x[:, ::-1], h0[1], *bwd)[0]           # (N, T, H), time reversed
        hb = hb_reversed[:, ::-1]
        mistakes = [
            ("the backward direction's outputs left in reversed time (flip them back with "
             "[:, ::-1])", np.concatenate([hf, hb_reversed], axis=2)),
            ("the two halves swapped; the forward states come first, [forward | backward]",
             np.concatenate([hb, hf], axis=2)),
            ("the backward direction reading x from left to right, like the forward one",
             np.concatenate([hf, rnn_forward(x, h0[1], *bwd)[0]], axis=2)),
            ("both directions starting from h0[0]; the backward one starts from h0[1]",
             np.concatenate([hf, rnn_forward(x[:, ::-1], h0[0], *bwd)[0][:, ::-1]], axis=2)),
            ("the backward direction using the forward parameters",
             np.concatenate([hf, rnn_forward(x[:, ::-1], h0[1], *fwd)[0][:, ::-1]], axis=2)),
        ]
        check_output("h", got, expected, mistakes, case=case,
                     hint="h[:, t, :H] is the forward state after x_0..x_t, h[:, t, H:] the "
                          "backward state after x_{T-1}..x_t.")
    return "h matches torch.nn.RNN(bidirectional=True) with the same weights."


# ----------------------------------------------------------------------------- exercise 2

def _stacked_cases():
    for seed, L, (N, T, D, H) in [(2, 2, (3, 6, 5, 4)), (3, 3, (2, 5, 3, 7))]:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((N, T, D))
        h0 = 0.5 * rng.standard_normal((L, N, H))
        layers = [_direction(rng, D if l == 0 else H, H) for l in range(L)]
        yield f"L = {L} layers, N, T, D, H = {N}, {T}, {D}, {H}", x, h0, layers


def _stack(x, h0, layers, late=False):
    """Outputs of every layer of a stack, from course_lib.rnn; late: layer l reads layer
    l - 1 one step late (h^(l-1)_{t-1}, zero at t = 0)."""
    outs, inp = [], x
    for l, p in enumerate(layers):
        if late and l > 0:
            inp = np.concatenate([np.zeros_like(inp[:, :1]), inp[:, :-1]], axis=1)
        inp = rnn_forward(inp, h0[l], *p)[0]                            # (N, T, H)
        outs.append(inp)
    return outs


@exercise(2, "a stack of RNN layers")
def check_stacked_rnn(stacked_rnn):
    """stacked_rnn(x, h0, layers) -> (h (N, T, H), h_last (L, N, H)), against torch.nn.RNN(num_layers=L)."""
    for case, x, h0, layers in _stacked_cases():
        with torch.no_grad():
            h_t, h_n = _torch_rnn([[p] for p in layers], x.shape[2], False)(torch.from_numpy(x),
                                                                            torch.from_numpy(h0))
        out = returns(attempt(stacked_rnn, x.copy(), h0.copy(), _copies(*layers), case=case),
                      "stacked_rnn", ("h", "h_last"), case)
        outs = _stack(x, h0, layers)
        late = _stack(x, h0, layers, late=True)
        same_h0 = _stack(x, np.repeat(h0[:1], len(layers), axis=0), layers)
        mistakes = [
            ("the outputs of the first layer instead of the top one",
             (outs[0], np.stack([o[:, -1] for o in outs]))),
            ("layer l reading the output of layer l - 1 one step late (h^(l-1)_{t-1} instead of "
             "h^(l-1)_t)", (late[-1], np.stack([o[:, -1] for o in late]))),
            ("every layer starting from h0[0]; layer l starts from h0[l]",
             (same_h0[-1], np.stack([o[:, -1] for o in same_h0]))),
            ("h_last holding every layer's first state instead of its last one",
             (outs[-1], np.stack([o[:, 0] for o in outs]))),
        ]
        check_all(("h", "h_last"), out, (h_t.numpy(), h_n.numpy()), case=case, mistakes=mistakes,
                  hints={"h": "h[:, t] is the top layer's state h^(L)_t; layer l reads the "
                              "outputs of layer l - 1 at the same step.",
                         "h_last": "h_last[l] is layer l's state after the last step, h^(l)_{T-1}."})
    return "h and h_last match torch.nn.RNN(num_layers=L) for L = 2 and L = 3."


# ----------------------------------------------------------------------------- exercise 3

GRAD_NAMES = ("dx", "dh0", "dWx (forward)", "dWh (forward)", "db (forward)",
              "dWx (backward)", "dWh (backward)", "db (backward)")


def _torch_gradients(x, h0, fwd, bwd, dh):
    """The gradients of sum(h * dh) by torch autograd, in the order of GRAD_NAMES."""
    module = _torch_rnn([[fwd, bwd]], x.shape[2], True)
    x_t = torch.tensor(x, requires_grad=True)
    h0_t = torch.tensor(h0, requires_grad=True)
    h, _ = module(x_t, h0_t)
    h.backward(torch.from_numpy(dh))
    grads = [x_t.grad.numpy(), h0_t.grad.numpy()]
    for suffix in ("", "_reverse"):                     # bias_ih and bias_hh add up: either grad is db
        grads += [getattr(module, f"weight_ih_l0{suffix}").grad.numpy().T,
                  getattr(module, f"weight_hh_l0{suffix}").grad.numpy().T,
                  getattr(module, f"bias_ih_l0{suffix}").grad.numpy()]
    return tuple(grads)


def _mistaken_gradients(x, h0, fwd, bwd, dh, reverse_dh=True, reverse_dx=True, add_dx=True, swap=False):
    """The gradients by course_lib.rnn with one step of the bidirectional backward done wrong."""
    H = h0.shape[2]
    dhf, dhb = dh[:, :, :H], dh[:, :, H:]
    if swap:
        dhf, dhb = dhb, dhf
    dxf, dh0f, *gf = rnn_backward(dhf, rnn_forward(x, h0[0], *fwd)[1])
    dxb, dh0b, *gb = rnn_backward(dhb[:, ::-1] if reverse_dh else dhb,
                                  rnn_forward(x[:, ::-1], h0[1], *bwd)[1])
    dxb = dxb[:, ::-1] if reverse_dx else dxb
    return (dxf + dxb if add_dx else dxf, np.stack([dh0f, dh0b]), *gf, *gb)


@exercise(3, "backpropagation through a bidirectional layer")
def check_bidirectional_rnn_backward(bidirectional_rnn_backward):
    """bidirectional_rnn_backward(dh, x, h0, forward, backward) -> (dx, dh0, dforward, dbackward),
    against torch autograd through torch.nn.RNN(bidirectional=True)."""
    for case, x, h0, fwd, bwd, dh in _bidirectional_cases():
        expected = _torch_gradients(x, h0, fwd, bwd, dh)
        out = returns(attempt(bidirectional_rnn_backward, dh.copy(), x.copy(), h0.copy(),
                              *_copies(fwd, bwd), case=case),
                      "bidirectional_rnn_backward", ("dx", "dh0", "dforward", "dbackward"), case)
        dx, dh0, dforward, dbackward = out
        returns(tuple(dforward) if isinstance(dforward, (tuple, list)) else dforward,
                "bidirectional_rnn_backward's dforward", ("dWx", "dWh", "db"), case)
        returns(tuple(dbackward) if isinstance(dbackward, (tuple, list)) else dbackward,
                "bidirectional_rnn_backward's dbackward", ("dWx", "dWh", "db"), case)
        got = (dx, dh0, *dforward, *dbackward)
        mistakes = [
            ("the backward direction's half of dh not reversed in time before its BPTT "
             "(that direction ran on x[:, ::-1])", _mistaken_gradients(x, h0, fwd, bwd, dh, reverse_dh=False)),
            ("the backward direction's dx not reversed back to the order of x",
             _mistaken_gradients(x, h0, fwd, bwd, dh, reverse_dx=False)),
            ("dx from the forward direction only; both directions read x_t, so their dx add up",
             _mistaken_gradients(x, h0, fwd, bwd, dh, add_dx=False)),
            ("the halves of dh swapped: dh[:, :, :H] belongs to the forward direction",
             _mistaken_gradients(x, h0, fwd, bwd, dh, swap=True)),
        ]
        check_all(GRAD_NAMES, got, expected, case=case, mistakes=mistakes)
    return "Every gradient matches torch autograd."
