"""course_lib.deep_rnn: stacked and bidirectional layers against torch.nn.RNN / LSTM / GRU
with copied weights (values and every gradient), against finite differences, against
compositions of torch modules for mixed stacks, the time-reversal symmetry, and bad input."""

import numpy as np
import pytest
import torch

from course_lib.deep_rnn import (
    CELLS,
    bidirectional_backward,
    bidirectional_forward,
    stacked_backward,
    stacked_forward,
)
from course_lib.gradcheck import check_backward
from course_lib.training import torch_to_numpy

# Distinct sizes: N, T, D, H, 2H, 3H, 4H all differ, so neither a transpose nor layer 1
# reading D instead of 2H inputs can broadcast silently.
N, T, D, H = 2, 5, 3, 4
TOL = dict(rtol=1e-10, atol=1e-12)
# Finite differences cost two forward passes per parameter entry: smaller, still distinct.
FD_N, FD_T, FD_D, FD_H = 1, 4, 2, 3
MODULES = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def make_module(cell, num_layers, bidirectional, seed=0, D=D, H=H):
    torch.manual_seed(seed)
    return MODULES[cell](D, H, num_layers=num_layers, bidirectional=bidirectional,
                         batch_first=True, dtype=torch.float64)


def torch_run(module, x, h0, dh):
    """torch forward and backward of sum(dh * h): h, dx, dh0 and the module's gradients."""
    x_t = torch.tensor(x, requires_grad=True)
    h0_t = torch.tensor(h0, requires_grad=True)
    module.zero_grad(set_to_none=True)
    state = (h0_t, torch.zeros_like(h0_t)) if isinstance(module, torch.nn.LSTM) else h0_t
    h, _ = module(x_t, state)
    h.backward(torch.tensor(dh))
    return h.detach().numpy(), x_t.grad.numpy(), h0_t.grad.numpy()


def torch_grads(module, cell):
    """The gradients of torch's parameters in the nesting and keys of torch_to_numpy.

    Written from torch's names directly (not with torch_to_numpy, which would add the two bias
    gradients): for the RNN and the LSTM b = bias_ih + bias_hh, so db = d bias_ih = d bias_hh.
    """
    dirs = 2 if module.bidirectional else 1
    grads = []
    for l in range(module.num_layers):
        grads.append([])
        for d in range(dirs):
            g = {w: getattr(module, f"{w}_l{l}{'_reverse' if d else ''}").grad.numpy()
                 for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
            out = {"Wx": g["weight_ih"].T, "Wh": g["weight_hh"].T}
            if cell == "gru":
                out["bx"], out["bh"] = g["bias_ih"], g["bias_hh"]
            else:
                np.testing.assert_allclose(g["bias_ih"], g["bias_hh"], **TOL)
                out["b"] = g["bias_ih"]
            grads[-1].append(out)
    return grads


def assert_same_params(got, expected, **tol):
    assert len(got) == len(expected)
    for l, (layer, layer_expected) in enumerate(zip(got, expected)):
        assert len(layer) == len(layer_expected), f"layer {l}"
        for p, q in zip(layer, layer_expected):
            assert sorted(p) == sorted(q)
            for k in p:
                np.testing.assert_allclose(p[k], q[k], err_msg=f"layer {l} {k}", **tol)


def random_params(rng, cell, directions, D=D, H=H):
    """params[layer][direction] with random entries; directions[l] = 1 or 2 for layer l."""
    G, keys = CELLS[cell]
    params, D_l = [], D
    for dirs in directions:
        layer = []
        for _ in range(dirs):
            shapes = {"Wx": (D_l, G * H), "Wh": (H, G * H), "b": (G * H,), "bx": (G * H,),
                      "bh": (G * H,)}
            layer.append({k: rng.standard_normal(shapes[k]) / np.sqrt(H) for k in keys})
        params.append(layer)
        D_l = dirs * H
    return params


# ----------------------------------------------------------------------------- against torch

@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("num_layers, bidirectional", [(2, True), (3, False), (1, True)])
def test_stacked_matches_torch(rng, cell, num_layers, bidirectional):
    module = make_module(cell, num_layers, bidirectional)
    S = num_layers * (2 if bidirectional else 1)
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((S, N, H))
    dh = rng.standard_normal((N, T, (2 if bidirectional else 1) * H))

    h, cache = stacked_forward(x, h0, torch_to_numpy(module), cell)
    dx, dh0, dparams = stacked_backward(dh, cache)
    h_t, dx_t, dh0_t = torch_run(module, x, h0, dh)

    np.testing.assert_allclose(h, h_t, **TOL)
    np.testing.assert_allclose(dx, dx_t, **TOL)
    np.testing.assert_allclose(dh0, dh0_t, **TOL)
    assert_same_params(dparams, torch_grads(module, cell), **TOL)


@pytest.mark.parametrize("cell", list(CELLS))
def test_bidirectional_layer_matches_torch(rng, cell):
    module = make_module(cell, 1, True, seed=1)
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((2, N, H))
    dh = rng.standard_normal((N, T, 2 * H))

    (params,) = torch_to_numpy(module)
    h, cache = bidirectional_forward(x, h0, params, cell)
    dx, dh0, dparams = bidirectional_backward(dh, cache)
    h_t, dx_t, dh0_t = torch_run(module, x, h0, dh)

    assert h.shape == (N, T, 2 * H) and dx.shape == x.shape and dh0.shape == h0.shape
    np.testing.assert_allclose(h, h_t, **TOL)
    np.testing.assert_allclose(dx, dx_t, **TOL)
    np.testing.assert_allclose(dh0, dh0_t, **TOL)
    assert_same_params([dparams], torch_grads(module, cell), **TOL)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("directions", [(2, 1), (1, 2)])
def test_mixed_stack_matches_a_chain_of_torch_modules(rng, cell, directions):
    """torch has no stack mixing uni- and bidirectional layers; two modules in a row do."""
    lower = make_module(cell, 1, directions[0] == 2, seed=2)
    upper = make_module(cell, 1, directions[1] == 2, seed=3, D=directions[0] * H)
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((sum(directions), N, H))
    dh = rng.standard_normal((N, T, directions[1] * H))

    params = torch_to_numpy(lower) + torch_to_numpy(upper)
    h, cache = stacked_forward(x, h0, params, cell)
    dx, dh0, dparams = stacked_backward(dh, cache)

    x_t = torch.tensor(x, requires_grad=True)
    h0_t = torch.tensor(h0, requires_grad=True)
    states = [h0_t[:directions[0]], h0_t[directions[0]:]]
    if cell == "lstm":
        states = [(s, torch.zeros_like(s)) for s in states]
    mid, _ = lower(x_t, states[0])
    h_t, _ = upper(mid, states[1])
    h_t.backward(torch.tensor(dh))

    np.testing.assert_allclose(h, h_t.detach().numpy(), **TOL)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), **TOL)
    np.testing.assert_allclose(dh0, h0_t.grad.numpy(), **TOL)
    assert_same_params(dparams, torch_grads(lower, cell) + torch_grads(upper, cell), **TOL)


# ----------------------------------------------------------------------------- finite differences

def flat_pair(forward, backward, params, cell):
    """forward(x, h0, *arrays) / backward(dh, cache) -> (dx, dh0, *darrays) over the parameter
    arrays in a fixed order, the calling convention check_backward differentiates."""
    keys = CELLS[cell][1]
    layout = [(l, d, k) for l, layer in enumerate(params) for d in range(len(layer)) for k in keys]

    def nest(arrays):
        nested = [[{} for _ in layer] for layer in params]
        for (l, d, k), a in zip(layout, arrays, strict=True):
            nested[l][d][k] = a
        return nested

    def flat_forward(x, h0, *arrays):
        p = nest(arrays)
        return forward(x, h0, p[0] if forward is bidirectional_forward else p, cell)

    def flat_backward(dh, cache):
        dx, dh0, dp = backward(dh, cache)
        dp = [dp] if backward is bidirectional_backward else dp
        return (dx, dh0, *(dp[l][d][k] for l, d, k in layout))

    names = ["x", "h0", *(f"params[{l}][{d}][{k}]" for l, d, k in layout)]
    return flat_forward, flat_backward, [params[l][d][k] for l, d, k in layout], names


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("pair, directions", [
    ((stacked_forward, stacked_backward), (2, 2)),
    ((bidirectional_forward, bidirectional_backward), (2,)),
], ids=["stacked", "bidirectional"])
def test_backward_matches_finite_differences(rng, cell, pair, directions):
    params = random_params(rng, cell, directions, D=FD_D, H=FD_H)
    f, b, arrays, names = flat_pair(*pair, params, cell)
    x = rng.standard_normal((FD_N, FD_T, FD_D))
    h0 = rng.standard_normal((sum(directions), FD_N, FD_H))
    check_backward(f, b, [x, h0, *arrays], names=names, rng=rng)


# ----------------------------------------------------------------------------- invariants

@pytest.mark.parametrize("cell", list(CELLS))
def test_reversing_time_swaps_the_directions(rng, cell):
    """Run on x reversed in time with the two directions' parameters and h0 swapped, the layer
    computes the same states, reversed in time, with the halves swapped (exactly)."""
    (fwd, bwd), = random_params(rng, cell, (2,))
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((2, N, H))
    h, _ = bidirectional_forward(x, h0, [fwd, bwd], cell)
    h_rev, _ = bidirectional_forward(x[:, ::-1], h0[::-1], [bwd, fwd], cell)
    swapped = np.concatenate([h_rev[:, ::-1, H:], h_rev[:, ::-1, :H]], axis=2)
    np.testing.assert_array_equal(h, swapped)
    # the forward half at step t does not depend on later inputs, the backward half does
    x2 = x.copy()
    x2[:, -1] += 1.0
    h2, _ = bidirectional_forward(x2, h0, [fwd, bwd], cell)
    np.testing.assert_array_equal(h2[:, :-1, :H], h[:, :-1, :H])
    assert np.abs(h2[:, 0, H:] - h[:, 0, H:]).max() > 1e-8


@pytest.mark.parametrize("cell", list(CELLS))
def test_one_layer_stack_is_the_layer_and_none_is_zeros(rng, cell):
    params = random_params(rng, cell, (2,))
    x = rng.standard_normal((N, T, D))
    dh = rng.standard_normal((N, T, 2 * H))
    h, cache = stacked_forward(x, None, params, cell)
    h1, cache1 = bidirectional_forward(x, np.zeros((2, N, H)), params[0], cell)
    np.testing.assert_array_equal(h, h1)
    dx, dh0, dp = stacked_backward(dh, cache)
    dx1, dh01, dp1 = bidirectional_backward(dh, cache1)
    np.testing.assert_array_equal(dx, dx1)
    np.testing.assert_array_equal(dh0, dh01)
    assert_same_params(dp, [dp1], rtol=0, atol=0)


def test_float32_inputs_give_float64_and_stay_untouched(rng):
    params = random_params(rng, "lstm", (2, 1))
    params32 = [[{k: v.astype(np.float32) for k, v in p.items()} for p in layer] for layer in params]
    before = [[{k: v.copy() for k, v in p.items()} for p in layer] for layer in params32]
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    x_before = x.copy()
    h, cache = stacked_forward(x, None, params32, "lstm")
    dx, dh0, dp = stacked_backward(np.ones((N, T, H)), cache)
    assert h.dtype == dx.dtype == dh0.dtype == dp[0][1]["Wx"].dtype == np.float64
    np.testing.assert_array_equal(x, x_before)
    assert_same_params(params32, before, rtol=0, atol=0)


# ----------------------------------------------------------------------------- bad input

def _good(rng, cell="lstm", directions=(2, 2)):
    return rng.standard_normal((N, T, D)), random_params(rng, cell, directions)


def _set(params, l, d, k, value):
    params[l][d] = {**params[l][d], k: value}
    return params


@pytest.mark.parametrize("mutate, message", [
    (lambda p: _set(p, 0, 1, "Wh", np.zeros((H, 3 * H))),
     r"params\[0\]\[1\]\['Wh'\] must have shape \(H, 4H\) = \(4, 16\), got \(4, 12\)"),
    (lambda p: _set(p, 1, 0, "Wx", np.zeros((D, 4 * H))),
     r"params\[1\]\[0\]\['Wx'\] must have shape \(D, 4H\) = \(8, 16\), got \(3, 16\) "
     r"\(layer 1 reads the 2 \* H = 8 outputs of layer 0"),
    (lambda p: _set(p, 1, 1, "Wh", np.zeros((5, 20))),
     r"params\[1\]\[1\]\['Wh'\] must have shape \(H, 4H\) = \(4, 16\), got \(5, 20\).*"
     r"hidden size H = 4"),
    (lambda p: _set(p, 0, 0, "b", np.full(4 * H, np.nan)),
     r"params\[0\]\[0\]\['b'\] must be finite"),
    (lambda p: _set(p, 0, 0, "bx", np.zeros(4 * H)),
     r"params\[0\]\[0\] must have exactly the keys \['Wx', 'Wh', 'b'\] for cell 'lstm'; "
     r"missing \[\], unexpected \['bx'\]"),
    (lambda p: [p[0] + p[0][:1], p[1]], r"params\[0\] must be a list of 1 .* or 2 .*, got 3"),
    (lambda p: p[0][0], r"params must be a non-empty list of layers.*wrap it as \[\[params\]\]"),
    (lambda p: [], r"params must be a non-empty list of layers"),
])
def test_stacked_rejects_bad_params(rng, mutate, message):
    x, params = _good(rng)
    with pytest.raises(ValueError, match=message):
        stacked_forward(x, None, mutate(params), "lstm")


def test_gru_params_given_to_an_lstm_say_which_keys_are_wrong(rng):
    x, params = _good(rng, "gru")
    with pytest.raises(ValueError, match=r"missing \['b'\], unexpected \['bx', 'bh'\]"):
        stacked_forward(x, None, params, "lstm")


@pytest.mark.parametrize("cell", ["LSTM", "elman", None])
def test_unknown_cell(rng, cell):
    x, params = _good(rng)
    with pytest.raises(ValueError, match=r"cell must be one of 'rnn', 'lstm', 'gru', got"):
        stacked_forward(x, None, params, cell)
    with pytest.raises(ValueError, match=r"cell must be one of"):
        bidirectional_forward(x, None, params[0], cell)


def test_h0_and_x_shapes(rng):
    x, params = _good(rng)
    with pytest.raises(ValueError, match=r"h0 must have shape \(L \* num_directions, N, H\) = "
                                         r"\(4, 2, 4\) or be None for zeros, got \(2, 2, 4\)"):
        stacked_forward(x, np.zeros((2, N, H)), params, "lstm")
    with pytest.raises(ValueError, match=r"h0 must have shape .* = \(2, 2, 4\)"):
        bidirectional_forward(x, np.zeros((N, H)), params[0], "lstm")
    with pytest.raises(ValueError, match=r"x must have shape \(N, T, D\), got \(2, 5\)"):
        stacked_forward(x[:, :, 0], None, params, "lstm")


def test_bidirectional_needs_two_directions(rng):
    x, params = _good(rng)
    with pytest.raises(ValueError, match=r"\[forward dict, backward dict\].*got 1 entries"):
        bidirectional_forward(x, None, params[0][:1], "lstm")
    with pytest.raises(ValueError, match=r"\[forward dict, backward dict\].*got dict"):
        bidirectional_forward(x, None, params[0][0], "lstm")


def test_backward_rejects_a_wrong_dh(rng):
    x, params = _good(rng)
    _, cache = stacked_forward(x, None, params, "lstm")
    with pytest.raises(ValueError, match=r"dh must have shape \(N, T, 2H\) = \(2, 5, 8\), got \(2, 5, 4\)"):
        stacked_backward(np.zeros((N, T, H)), cache)
    _, cache = bidirectional_forward(x, None, params[0], "lstm")
    with pytest.raises(ValueError, match=r"dh must have shape \(N, T, 2H\) = \(2, 5, 8\), got \(5, 2, 8\)"):
        bidirectional_backward(np.zeros((T, N, 2 * H)), cache)
