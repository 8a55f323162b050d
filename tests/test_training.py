"""course_lib.training: the parameter map against torch (stacked, bidirectional NumPy layers
built from course_lib.rnn/lstm/gru give torch's outputs and gradients), the round trip, and
train() against hand-written loops (torch.optim.Adam, and Adam's equations written out),
hand-computed clipping, a quadratic that overflows at a known step, and brute-force helpers."""

import copy
import dataclasses
import re

import numpy as np
import pytest
import torch
from sequence_checks import torch_grads
from torch import nn

from course_lib.gru import gru_backward, gru_forward, gru_step_forward
from course_lib.lstm import lstm_backward, lstm_forward, lstm_step_forward
from course_lib.optim import TrainingDiverged
from course_lib.rnn import rnn_backward, rnn_forward, rnn_step_forward
from course_lib.training import (
    History,
    count_parameters,
    numpy_to_torch,
    smooth,
    torch_to_numpy,
    train,
)

N, T, D, H = 2, 5, 3, 4            # distinct sizes, and 2H, 3H, 4H differ from all of them
TOL = dict(rtol=1e-10, atol=1e-12)
MODULES = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}
REFERENCES = {"RNN": (rnn_forward, rnn_backward), "LSTM": (lstm_forward, lstm_backward),
              "GRU": (gru_forward, gru_backward)}
KEYS = {"RNN": ["Wx", "Wh", "b"], "LSTM": ["Wx", "Wh", "b"], "GRU": ["Wx", "Wh", "bx", "bh"]}
CONFIGS = [(kind, layers, bidirectional) for kind in MODULES for layers in (1, 2)
           for bidirectional in (False, True)]


def make_module(kind, layers, bidirectional, seed=0):
    torch.manual_seed(seed)
    return MODULES[kind](D, H, num_layers=layers, bidirectional=bidirectional,
                         batch_first=True).double()


def numpy_stack(kind, params, x, h0):
    """The stacked layer from the NumPy references: direction 1 of each layer reads the
    time-reversed input, and [forward | backward] of every step is the next layer's input.
    h0: (layers * directions, N, H) as torch orders it. Returns the output and a backward."""
    forward, backward = REFERENCES[kind]
    dirs = len(params[0])
    caches = []
    for l, layer in enumerate(params):
        outs = []
        for d, p in enumerate(layer):
            h, cache = forward(x if d == 0 else x[:, ::-1], h0[l * dirs + d], *[p[k] for k in KEYS[kind]])
            outs.append(h if d == 0 else h[:, ::-1])                # back in forward time
            caches.append(cache)
        x = np.concatenate(outs, axis=2)                           # (N, T, dirs * H)

    def stack_backward(dout):
        grads, dh0 = [None] * len(params), [None] * len(caches)
        for l in reversed(range(len(params))):
            dx, grads[l] = 0, []
            for d in range(dirs):
                dh = dout[:, :, d * H:(d + 1) * H]
                dx_d, dh0[l * dirs + d], *dparams = backward(dh if d == 0 else dh[:, ::-1],
                                                             caches[l * dirs + d])
                dx = dx + (dx_d if d == 0 else dx_d[:, ::-1])
                grads[l].append(dict(zip(["d" + k for k in KEYS[kind]], dparams)))
            dout = dx
        return dout, np.stack(dh0), grads

    return x, stack_backward


# ----------------------------------------------------------------------------- torch -> NumPy

@pytest.mark.parametrize("kind, layers, bidirectional", CONFIGS)
def test_copied_weights_give_torch_outputs_and_gradients(rng, kind, layers, bidirectional):
    module = make_module(kind, layers, bidirectional)
    dirs = 2 if bidirectional else 1
    params = torch_to_numpy(module)
    assert [len(layer) for layer in params] == [dirs] * layers
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((layers * dirs, N, H))
    out, stack_backward = numpy_stack(kind, params, x, h0)
    dout = rng.standard_normal((N, T, dirs * H))
    dx, dh0, grads = stack_backward(dout)

    x_t, h0_t = torch.tensor(x, requires_grad=True), torch.tensor(h0, requires_grad=True)
    state = (h0_t, torch.zeros_like(h0_t)) if kind == "LSTM" else h0_t     # NumPy LSTM: c0 = 0
    out_t, _ = module(x_t, state)
    (out_t * torch.from_numpy(dout)).sum().backward()

    np.testing.assert_allclose(out, out_t.detach().numpy(), **TOL)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), **TOL)
    np.testing.assert_allclose(dh0, h0_t.grad.numpy(), **TOL)
    for l, layer in enumerate(torch_grads(module)):
        for d, theirs in enumerate(layer):
            assert list(grads[l][d]) == list(theirs)
            for name, g in theirs.items():
                np.testing.assert_allclose(grads[l][d][name], g, err_msg=f"layer {l} direction {d} {name}", **TOL)


@pytest.mark.parametrize("kind, layers, bidirectional", CONFIGS)
def test_shapes_and_layout(kind, layers, bidirectional):
    """Keys and shapes by the legend; Wx is weight_ih transposed, and the biases are summed
    (RNN, LSTM) or kept apart (GRU), read off torch's parameters by name."""
    module = make_module(kind, layers, bidirectional)
    g = {"RNN": 1, "LSTM": 4, "GRU": 3}[kind]
    dirs = 2 if bidirectional else 1
    for l, layer in enumerate(torch_to_numpy(module)):
        for d, p in enumerate(layer):
            suffix = f"_l{l}" + ("_reverse" if d else "")
            assert list(p) == KEYS[kind]
            assert p["Wx"].shape == (D if l == 0 else dirs * H, g * H) and p["Wh"].shape == (H, g * H)
            assert all(v.dtype == np.float64 for v in p.values())
            np.testing.assert_array_equal(p["Wx"], getattr(module, "weight_ih" + suffix).detach().numpy().T)
            np.testing.assert_array_equal(p["Wh"], getattr(module, "weight_hh" + suffix).detach().numpy().T)
            b_ih = getattr(module, "bias_ih" + suffix).detach().numpy()
            b_hh = getattr(module, "bias_hh" + suffix).detach().numpy()
            if kind == "GRU":
                np.testing.assert_array_equal(p["bx"], b_ih)
                np.testing.assert_array_equal(p["bh"], b_hh)
            else:
                np.testing.assert_array_equal(p["b"], b_ih + b_hh)


@pytest.mark.parametrize("kind, cell, step", [("RNN", nn.RNNCell, rnn_step_forward),
                                               ("LSTM", nn.LSTMCell, lstm_step_forward),
                                               ("GRU", nn.GRUCell, gru_step_forward)])
def test_cells_map_as_one_layer(rng, kind, cell, step):
    torch.manual_seed(1)
    module = cell(D, H).double()
    params = torch_to_numpy(module)
    assert len(params) == 1 and len(params[0]) == 1
    p = [params[0][0][k] for k in KEYS[kind]]
    x, h_prev = rng.standard_normal((N, D)), rng.standard_normal((N, H))
    x_t, h_t = torch.from_numpy(x), torch.from_numpy(h_prev)
    if kind == "LSTM":
        c_prev = rng.standard_normal((N, H))
        h, c, _ = step(x, h_prev, c_prev, *p)
        h_torch, c_torch = module(x_t, (h_t, torch.from_numpy(c_prev)))
        np.testing.assert_allclose(c, c_torch.detach().numpy(), **TOL)
    else:
        h, _ = step(x, h_prev, *p)
        h_torch = module(x_t, h_t)
    np.testing.assert_allclose(h, h_torch.detach().numpy(), **TOL)


def test_the_arrays_are_float64_copies():
    module = nn.LSTM(D, H, batch_first=True)                       # float32
    params = torch_to_numpy(module)
    before = module.weight_ih_l0.detach().clone()
    params[0][0]["Wx"][:] = 0.0
    assert params[0][0]["Wx"].dtype == np.float64
    assert torch.equal(module.weight_ih_l0, before)


# ----------------------------------------------------------------------------- NumPy -> torch

@pytest.mark.parametrize("kind, layers, bidirectional", CONFIGS)
def test_round_trip_reproduces_the_module(rng, kind, layers, bidirectional):
    source = make_module(kind, layers, bidirectional, seed=0)
    copy_ = make_module(kind, layers, bidirectional, seed=1)
    x = torch.from_numpy(rng.standard_normal((N, T, D)))
    assert (copy_(x)[0] - source(x)[0]).abs().max() > 1e-3          # different before
    numpy_to_torch(torch_to_numpy(source), copy_)
    torch.testing.assert_close(copy_(x)[0], source(x)[0], **TOL)
    for p, q in zip(sum(torch_to_numpy(copy_), []), sum(torch_to_numpy(source), [])):
        for k in p:
            np.testing.assert_array_equal(p[k], q[k])
    if kind != "GRU":                                               # the sum is kept in bias_ih
        assert all(torch.all(b == 0) for name, b in copy_.named_parameters() if name.startswith("bias_hh"))


def test_numpy_parameters_drive_torch(rng):
    """NumPy parameters drawn here, copied into a float32 torch.nn.GRU: torch computes the NumPy
    reference's states (to float32 rounding)."""
    p = {"Wx": rng.standard_normal((D, 3 * H)), "Wh": rng.standard_normal((H, 3 * H)) / 2,
         "bx": rng.standard_normal(3 * H), "bh": rng.standard_normal(3 * H)}
    gru = nn.GRU(D, H, batch_first=True)
    numpy_to_torch([[p]], gru)
    x = rng.standard_normal((N, T, D))
    h, _ = gru_forward(x, np.zeros((N, H)), p["Wx"], p["Wh"], p["bx"], p["bh"])
    np.testing.assert_allclose(gru(torch.tensor(x, dtype=torch.float32))[0].detach().numpy(), h,
                               rtol=1e-5, atol=1e-5)


def lstm_params(layers=2, dirs=2):
    return torch_to_numpy(nn.LSTM(D, H, num_layers=layers, bidirectional=dirs == 2))


@pytest.mark.parametrize("change, error, message", [
    (lambda p: p[:1], ValueError,
     r"params must be a list of 2 layers \(params\[layer\]\[direction\]\) for this LSTM, got 1 entries"),
    (lambda p: [p[0], p[1][:1]], ValueError, r"params\[1\] must be a list of 2 direction\(s\), got 1 entries"),
    (lambda p: p[0][0], ValueError, r"params must be a list of 2 layers .* got dict"),
    (lambda p: [p[0], [p[1][0], {**p[1][1], "bx": p[1][1]["b"]}]], ValueError,
     r"params\[1\]\[1\] must be a dict with keys \['Wx', 'Wh', 'b'\], got \['Wh', 'Wx', 'b', 'bx'\]"),
    (lambda p: [p[0], [{**p[1][0], "Wx": p[1][0]["Wx"].T}, p[1][1]]], ValueError,
     re.escape("params[1][0]['Wx'] must have shape (D, 4H) = (8, 16), got (16, 8)")),
    (lambda p: [[{**p[0][0], "b": p[0][0]["b"][:12]}, p[0][1]], p[1]], ValueError,
     re.escape("params[0][0]['b'] must have shape (4H,) = (16,), got (12,)")),
    (lambda p: [[{**p[0][0], "Wh": np.full((H, 4 * H), np.nan)}, p[0][1]], p[1]], ValueError,
     re.escape("params[0][0]['Wh'] must be finite")),
])
def test_numpy_to_torch_rejects_bad_params_with_a_message(change, error, message):
    module = nn.LSTM(D, H, num_layers=2, bidirectional=True)
    before = copy.deepcopy(module.state_dict())
    with pytest.raises(error, match=message):
        numpy_to_torch(change(lstm_params()), module)
    for k, v in module.state_dict().items():                        # nothing half-copied
        assert torch.equal(v, before[k]), k


@pytest.mark.parametrize("module, error, message", [
    (nn.Linear(D, H), TypeError, "module must be a torch.nn.RNN, LSTM or GRU, or an RNNCell, "
                                 "LSTMCell or GRUCell, got Linear"),
    (nn.LSTM(D, H, proj_size=2), ValueError, r"proj_size = 2"),
    (nn.GRU(D, H, bias=False), ValueError, "GRU was built with bias=False"),
])
def test_unsupported_modules_are_rejected(module, error, message):
    with pytest.raises(error, match=message):
        torch_to_numpy(module)
    with pytest.raises(error, match=message):
        numpy_to_torch([[{}]], module)


# ----------------------------------------------------------------------------- train

class Regressor(nn.Module):
    """A GRU read at the last step by a linear layer: (N, T, D) -> (N,)."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(D, H, batch_first=True)
        self.head = nn.Linear(H, 1)

    def forward(self, x):
        return self.head(self.gru(x)[0][:, -1])[:, 0]


def make_regressor(seed=0):
    torch.manual_seed(seed)
    return Regressor().double()


def draw(rng):
    """A fresh batch: y = x_0 . (1, -1, 2), the first step's input, to be carried to the end."""
    x = rng.standard_normal((N + 4, T, D))
    return torch.from_numpy(x), torch.from_numpy(x[:, 0] @ np.array([1.0, -1.0, 2.0]))


def mse(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def params_of(model):
    return [p.detach().clone() for p in model.parameters()]


def test_train_is_a_hand_written_adam_loop_with_clipping():
    """The same seed gives the same batches and bit for bit the same run as the loop written
    out with torch.optim.Adam and clip_grad_norm_."""
    model = make_regressor()
    twin = copy.deepcopy(model)
    n_steps, lr, clip, seed = 12, 0.05, 0.5, 3
    history = train(model, mse, draw, n_steps, lr=lr, clip=clip, seed=seed, progress=False)

    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(twin.parameters(), lr=lr)
    losses, norms = [], []
    for _ in range(n_steps):
        loss = mse(twin, draw(rng))
        opt.zero_grad()
        loss.backward()
        norms.append(nn.utils.clip_grad_norm_(twin.parameters(), clip).item())
        opt.step()
        losses.append(loss.item())
    np.testing.assert_array_equal(history.loss, losses)
    np.testing.assert_array_equal(history.grad_norm, norms)
    assert max(norms) > clip                                         # the clipping acted
    for p, q in zip(model.parameters(), twin.parameters()):
        assert torch.equal(p, q)
    assert history.eval_steps == history.eval_values == [] and not history.stopped_early
    assert history.seconds > 0


def test_train_follows_adams_equations():
    """Adam written out (Kingma and Ba 2015), on the gradient clipped by hand:

        g <- g * min(1, c / (||g|| + 1e-6))          (torch's clip_grad_norm_)
        m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
        p <- p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    """
    model = make_regressor(seed=4)
    hand = copy.deepcopy(model)
    n_steps, lr, clip, (b1, b2), eps = 10, 0.02, 0.3, (0.9, 0.999), 1e-8
    history = train(model, mse, draw, n_steps, lr=lr, clip=clip, seed=5, progress=False)

    rng = np.random.default_rng(5)
    params = list(hand.parameters())
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    losses = []
    for t in range(1, n_steps + 1):
        loss = mse(hand, draw(rng))
        grads = torch.autograd.grad(loss, params)
        norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
        scale = min(1.0, clip / (norm.item() + 1e-6))
        with torch.no_grad():
            for k, (p, g) in enumerate(zip(params, grads)):
                g = g * scale
                m[k] = b1 * m[k] + (1 - b1) * g
                v[k] = b2 * v[k] + (1 - b2) * g ** 2
                p -= lr * (m[k] / (1 - b1 ** t)) / (torch.sqrt(v[k] / (1 - b2 ** t)) + eps)
        losses.append(loss.item())
    np.testing.assert_allclose(history.loss, losses, rtol=1e-10)
    for p, q in zip(model.parameters(), params):
        torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("clip", [None, 1e-3])
def test_clipping_bounds_the_step_and_the_norm_is_recorded_before_it(clip):
    """One SGD step: the parameters move by lr * g scaled to norm clip (torch divides by
    ||g|| + 1e-6); without clipping by lr * g. ||g|| is computed here by hand."""
    model = make_regressor(seed=6)
    batch = draw(np.random.default_rng(7))
    grads = torch.autograd.grad(mse(model, batch), list(model.parameters()))
    norm = torch.sqrt(sum((g ** 2).sum() for g in grads)).item()
    before = params_of(model)
    history = train(model, mse, [batch], 1, optimizer="sgd", lr=0.1, clip=clip, progress=False)

    assert history.grad_norm[0] == pytest.approx(norm, rel=1e-12)
    step = torch.sqrt(sum(((p - q) ** 2).sum() for p, q in zip(model.parameters(), before))).item()
    if clip is None:
        assert step == pytest.approx(0.1 * norm, rel=1e-12)
    else:
        assert norm > 100 * clip
        assert step == pytest.approx(0.1 * clip * norm / (norm + 1e-6), rel=1e-12)
    for p, q, g in zip(model.parameters(), before, grads):           # the direction is kept
        torch.testing.assert_close(p - q, -0.1 * g * (step / (0.1 * norm)), rtol=1e-9, atol=1e-15)


def test_a_ready_optimizer_is_used_as_it_is():
    model = make_regressor()
    twin = copy.deepcopy(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    history = train(model, mse, draw, 6, optimizer=opt, clip=None, seed=1, progress=False)
    opt_twin = torch.optim.SGD(twin.parameters(), lr=0.05, momentum=0.9)
    history_twin = train(twin, mse, draw, 6, optimizer=opt_twin, clip=None, seed=1, progress=False)
    plain = train(make_regressor(), mse, draw, 6, optimizer="sgd", lr=0.05, clip=None, seed=1,
                  progress=False)
    np.testing.assert_array_equal(history.loss, history_twin.loss)
    assert not np.allclose(history.loss[2:], plain.loss[2:])         # the momentum mattered


def test_fixed_batches_are_cycled_in_order():
    seen = []
    batches = [draw(np.random.default_rng(k)) for k in range(3)]

    def loss_fn(model, batch):
        seen.append(next(k for k, b in enumerate(batches) if b is batch))
        return mse(model, batch)

    train(make_regressor(), loss_fn, batches, 7, progress=False)
    assert seen == [0, 1, 2, 0, 1, 2, 0]


def test_a_run_is_repeatable_from_its_seed():
    """Dropout draws from torch's generator and the batches from the NumPy one: both are seeded."""
    def make():
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(T * D, 16), nn.Dropout(0.5), nn.Linear(16, 1),
                             nn.Flatten(0)).double()

    runs = [train(make(), mse, draw, 15, lr=0.01, seed=seed, progress=False).loss for seed in (8, 8, 9)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_early_stop_on_target_and_evaluation_mode():
    """Full-batch training; evaluate is the loss on the training batch, target half the first."""
    model = make_regressor(seed=2)
    batch = draw(np.random.default_rng(3))
    calls = []

    def evaluate(m):
        calls.append((torch.is_grad_enabled(), m.training))
        return mse(m, batch).item()

    with torch.no_grad():
        start = mse(model, batch).item()
    history = train(model, mse, [batch], 500, lr=0.02, evaluate=evaluate, eval_every=5,
                    target=start / 2, mode="min", progress=False)
    k = len(history.loss)
    assert history.stopped_early and k < 500 and k % 5 == 0
    assert history.eval_steps == list(range(5, k + 1, 5))
    assert history.eval_values[-1] <= start / 2 < min(history.eval_values[:-1])
    assert calls == [(False, False)] * len(history.eval_steps)      # no_grad and eval mode ...
    assert model.training                                           # ... then train mode again
    assert len(history.grad_norm) == k

    # mode "max" on the negated metric stops at the same step; without a target no early stop
    again = train(make_regressor(seed=2), mse, [batch], 500, lr=0.02, eval_every=5,
                  evaluate=lambda m: -mse(m, batch).item(), target=-start / 2, progress=False)
    np.testing.assert_array_equal(again.loss, history.loss)
    full = train(make_regressor(seed=2), mse, [batch], 12, lr=0.02, evaluate=evaluate, progress=False)
    assert full.eval_steps == [12] and not full.stopped_early and len(full.loss) == 12


def test_an_early_stop_closes_a_full_progress_bar(capsys):
    batch = draw(np.random.default_rng(3))
    history = train(make_regressor(seed=2), mse, [batch], 500, lr=0.02, evaluate=lambda m: 1.0,
                    eval_every=4, target=1.0, desc="probe")
    assert history.stopped_early and len(history.loss) == 4
    last = capsys.readouterr().err.split("\r")[-1]
    assert "probe" in last and "4/4" in last and "100%" in last and "/500" not in last


def test_divergence_raises_with_the_history():
    """SGD with lr = 3 on 0.5 w^2 maps w to -2 w: in float32 the loss 0.5 * 4^k is exact until
    w^2 = 2^128 overflows, at step 64; no update is made with that step's gradient."""
    class Quadratic(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))

    model = Quadratic()
    with pytest.raises(TrainingDiverged, match="step 64: loss = inf") as info:
        train(model, lambda m, batch: 0.5 * (m.w ** 2).sum(), [None], 100, optimizer="sgd", lr=3.0,
              clip=None, progress=False)
    history = info.value.history
    assert isinstance(history, History) and info.value.step == 64
    assert len(history.loss) == len(history.grad_norm) == 65 and np.isinf(history.loss[-1])
    np.testing.assert_array_equal(history.loss[:-1], 0.5 * 4.0 ** np.arange(64))
    np.testing.assert_array_equal(history.grad_norm, 2.0 ** np.arange(65))
    assert model.w.item() == 2.0 ** 64


def test_history_fields():
    assert [f.name for f in dataclasses.fields(History)] == [
        "loss", "grad_norm", "eval_steps", "eval_values", "stopped_early", "seconds"]


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(model="net"), TypeError, "model must be a torch.nn.Module, got str"),
    (dict(loss_fn=None), TypeError, r"loss_fn must be a callable loss_fn\(model, batch\)"),
    (dict(batches=5), TypeError, r"batches must be a callable batches\(rng\) -> batch or a list"),
    (dict(batches=[]), ValueError, "batches must hold at least one batch"),
    (dict(n_steps=0), ValueError, "n_steps must be a positive int, got 0"),
    (dict(n_steps=2.5), ValueError, "n_steps must be a positive int, got 2.5"),
    (dict(lr=-1.0), ValueError, "lr must be a positive finite number, got -1.0"),
    (dict(optimizer="adagrad"), ValueError,
     'optimizer must be "adam", "sgd" or a torch.optim.Optimizer, got \'adagrad\''),
    (dict(optimizer=torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=0.1)), ValueError,
     r"the optimizer must be built on model.parameters\(\); it holds 1 tensors"),
    (dict(clip=0), ValueError, "clip must be None or a positive finite number, got 0"),
    (dict(seed=-1), ValueError, "seed must be a non-negative int, got -1"),
    (dict(evaluate=3), TypeError, "evaluate must be None or a callable"),
    (dict(eval_every=10), ValueError, "eval_every needs an evaluate function"),
    (dict(evaluate=lambda m: 0.0, eval_every=0), ValueError, "eval_every must be None or a positive int"),
    (dict(target=0.5), ValueError, "target needs an evaluate function"),
    (dict(evaluate=lambda m: 0.0, target=float("nan")), ValueError, "target must be None or a finite number"),
    (dict(evaluate=lambda m: 0.0, mode="up"), ValueError, 'mode must be "max"'),
    (dict(evaluate=lambda m: "good"), TypeError, "evaluate must return a number, got str"),
    (dict(loss_fn=lambda m, b: m(b[0]) - b[1]), TypeError,
     r"loss_fn must return a scalar tensor, got a tensor of shape \(6,\)"),
    (dict(loss_fn=lambda m, b: 1.0), TypeError, "loss_fn must return a scalar tensor, got float"),
    (dict(loss_fn=lambda m, b: b[1].sum()), ValueError, "the loss does not depend on any trainable"),
])
def test_train_rejects_bad_arguments_with_a_message(kwargs, error, message):
    args = dict(model=make_regressor(), loss_fn=mse, batches=[draw(np.random.default_rng(0))],
                n_steps=3, progress=False)
    with pytest.raises(error, match=message):
        train(**{**args, **kwargs})


def test_a_model_without_trainable_parameters_is_rejected():
    model = make_regressor().requires_grad_(False)
    with pytest.raises(ValueError, match="model has no trainable parameters: Regressor"):
        train(model, mse, draw, 3, progress=False)


# ----------------------------------------------------------------------------- helpers

def test_smooth_is_the_mean_of_each_window(rng):
    curve = rng.standard_normal(30)
    for window in (1, 4, 30):
        brute = [curve[k:k + window].mean() for k in range(len(curve) - window + 1)]
        np.testing.assert_allclose(smooth(curve, window), brute, rtol=1e-12, atol=1e-15)
    for window in (0, 31, 2.0):
        with pytest.raises(ValueError, match=r"window must be an int in \[1, len\(curve\)\] = \[1, 30\]"):
            smooth(curve, window)
    with pytest.raises(ValueError, match=r"curve must be one-dimensional, \(n,\), got shape \(3, 10\)"):
        smooth(curve.reshape(3, 10), 2)


def test_count_parameters_counts_the_trainable_entries():
    lstm = nn.LSTM(D, H)
    assert count_parameters(lstm) == 4 * H * (D + H + 2)             # two biases per block
    model = nn.Sequential(nn.GRU(D, H), nn.Linear(H, 2))
    model[1].requires_grad_(False)                                   # frozen: not counted
    assert count_parameters(model) == 3 * H * (D + H + 2)
    with pytest.raises(TypeError, match="module must be a torch.nn.Module, got list"):
        count_parameters([lstm])


def test_an_early_stop_leaves_a_full_green_widget_in_jupyter(monkeypatch, capsys):
    """In Jupyter tqdm.auto is tqdm.notebook, whose widget turns red when closed before its
    total: after an early stop the widget must be full and green ("success")."""
    import tqdm.auto
    import tqdm.notebook

    bars = []

    class RecordedBar(tqdm.notebook.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(tqdm.auto, "tqdm", RecordedBar)
    batch = draw(np.random.default_rng(3))
    train(make_regressor(seed=2), mse, [batch], 500, lr=0.02, evaluate=lambda m: 1.0, eval_every=3,
          target=1.0)
    widget = bars[0].container.children[1]
    assert (widget.value, widget.max, widget.bar_style) == (3, 3, "success")
    with pytest.raises(TrainingDiverged):                           # a failure stays red
        train(make_regressor(), lambda m, b: mse(m, b) * float("inf"), [batch], 500)
    widget = bars[1].container.children[1]
    assert (widget.value, widget.max, widget.bar_style) == (0, 500, "danger")
    capsys.readouterr()


def test_evaluating_switches_to_eval_and_restores_the_mode_even_on_error():
    from course_lib.training import evaluating

    model = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5))
    x = torch.ones(4, 3)
    with evaluating(model):
        assert not model.training and not model[1].training
        torch.testing.assert_close(model(x), model(x))      # dropout is off: deterministic
    assert model.training
    with pytest.raises(RuntimeError, match="inside"):
        with evaluating(model):
            raise RuntimeError("inside")
    assert model.training
    model.eval()
    with evaluating(model):
        pass
    assert not model.training                                  # an eval model stays in eval
