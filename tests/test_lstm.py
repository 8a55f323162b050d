"""course_lib.lstm against torch.nn.LSTM / LSTMCell (float64) and finite differences."""

import warnings

import numpy as np
import pytest
import torch
from sequence_checks import assert_float64_and_inputs_untouched, torch_grads

from course_lib.gradcheck import check_backward
from course_lib.lstm import lstm_backward, lstm_forward, lstm_step_backward, lstm_step_forward
from course_lib.training import torch_to_numpy

# (N, T, D, H): distinct sizes, and 4H differs from every other size, so that a transpose
# or a swapped argument cannot broadcast silently.
SHAPES = [(2, 5, 3, 4), (3, 4, 5, 2), (4, 2, 3, 5)]
N, T, D, H = SHAPES[0]
TOL = dict(rtol=1e-10, atol=1e-12)
GRAD_NAMES = ["dx", "dh0", "dWx", "dWh", "db"]


def torch_params(module):
    """The NumPy parameters of a torch LSTM/LSTMCell: Wx (D, 4H), Wh (H, 4H), b (4H,)."""
    p = torch_to_numpy(module)[0][0]
    return p["Wx"], p["Wh"], p["b"]


def torch_param_grads(module):
    """The torch parameter gradients in the NumPy layout: (dWx, dWh, db)."""
    g = torch_grads(module)[0][0]
    return g["dWx"], g["dWh"], g["db"]


def make_inputs(rng, N=N, T=T, D=D, H=H):
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((N, H))
    Wx = rng.standard_normal((D, 4 * H)) / np.sqrt(D)
    Wh = rng.standard_normal((H, 4 * H)) / np.sqrt(H)
    b = rng.standard_normal(4 * H) * 0.5
    return x, h0, Wx, Wh, b


# ----------------------------------------------------------------------------- one step

@pytest.mark.parametrize("N, T, D, H", SHAPES)
def test_step_matches_torch_lstm_cell(rng, N, T, D, H):
    torch.manual_seed(N)
    cell = torch.nn.LSTMCell(D, H).double()
    Wx, Wh, b = torch_params(cell)
    x = rng.standard_normal((N, D))
    h_prev, c_prev = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    h, c, cache = lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b)
    dh, dc = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    dx, dh_prev, dc_prev, *dparams = lstm_step_backward(dh, dc, cache)

    ts = [torch.tensor(a, requires_grad=True) for a in (x, h_prev, c_prev)]
    h_t, c_t = cell(ts[0], (ts[1], ts[2]))
    ((h_t * torch.from_numpy(dh)).sum() + (c_t * torch.from_numpy(dc)).sum()).backward()

    assert h.shape == c.shape == (N, H)
    np.testing.assert_allclose(h, h_t.detach().numpy(), **TOL)
    np.testing.assert_allclose(c, c_t.detach().numpy(), **TOL)
    for name, g, t in zip(["dx", "dh_prev", "dc_prev"], (dx, dh_prev, dc_prev), ts):
        assert g.shape == tuple(t.shape), name
        np.testing.assert_allclose(g, t.grad.numpy(), err_msg=name, **TOL)
    for name, g, g_t in zip(["dWx", "dWh", "db"], dparams, torch_param_grads(cell)):
        assert g.shape == g_t.shape, name
        np.testing.assert_allclose(g, g_t, err_msg=name, **TOL)


@pytest.mark.parametrize("N, T, D, H", SHAPES)
def test_step_backward_matches_finite_differences(rng, N, T, D, H):
    x, h0, Wx, Wh, b = make_inputs(rng, N, T, D, H)
    c_prev = rng.standard_normal((N, H))
    report = check_backward(lstm_step_forward, lstm_step_backward,
                            [x[:, 0], h0, c_prev, Wx, Wh, b])
    assert [c.name for c in report.inputs] == ["x", "h_prev", "c_prev", "Wx", "Wh", "b"]


def test_saturated_gates_hold_the_cell_exactly_and_warn_nothing(rng):
    """i = 0, f = 1 (the constant error carousel): c = c_prev, dc_prev = dc, no overflow."""
    x, h0, Wx, Wh, b = make_inputs(rng)
    c_prev = rng.standard_normal((N, H))
    b = b.copy()
    b[:H], b[H:2 * H] = -1e4, 1e4                            # a_i -> -inf, a_f -> +inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h, c, cache = lstm_step_forward(x[:, 0], h0, c_prev, Wx, Wh, b)
        dc = rng.standard_normal((N, H))
        _, _, dc_prev, *_ = lstm_step_backward(np.zeros((N, H)), dc, cache)
    np.testing.assert_array_equal(c, c_prev)
    np.testing.assert_array_equal(dc_prev, dc)


# ----------------------------------------------------------------------------- sequence

@pytest.mark.parametrize("N, T, D, H", SHAPES)
def test_sequence_matches_torch_nn_lstm(rng, N, T, D, H):
    torch.manual_seed(T)
    lstm = torch.nn.LSTM(D, H, batch_first=True).double()
    Wx, Wh, b = torch_params(lstm)
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    h, cache = lstm_forward(x, h0, Wx, Wh, b)
    dh = rng.standard_normal((N, T, H))
    grads = lstm_backward(dh, cache)

    x_t = torch.tensor(x, requires_grad=True)
    h0_t = torch.tensor(h0, requires_grad=True)
    out, (h_last, c_last) = lstm(x_t, (h0_t[None], torch.zeros(1, N, H, dtype=torch.float64)))
    (out * torch.from_numpy(dh)).sum().backward()

    assert h.shape == (N, T, H)
    np.testing.assert_allclose(h, out.detach().numpy(), **TOL)
    np.testing.assert_allclose(h[:, -1], h_last[0].detach().numpy(), **TOL)
    assert [g.shape for g in grads] == [(N, T, D), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,)]
    theirs = (x_t.grad.numpy(), h0_t.grad.numpy(), *torch_param_grads(lstm))
    for name, a, a_t in zip(GRAD_NAMES, grads, theirs):
        np.testing.assert_allclose(a, a_t, err_msg=name, **TOL)


@pytest.mark.parametrize("N, T, D, H", SHAPES)
def test_sequence_backward_matches_finite_differences(rng, N, T, D, H):
    report = check_backward(lstm_forward, lstm_backward, list(make_inputs(rng, N, T, D, H)))
    assert [c.name for c in report.inputs] == ["x", "h0", "Wx", "Wh", "b"]


def test_sequence_of_one_step_is_one_step_from_a_zero_cell(rng):
    x, h0, Wx, Wh, b = make_inputs(rng, T=1)
    h, cache = lstm_forward(x, h0, Wx, Wh, b)
    h1, _, step_cache = lstm_step_forward(x[:, 0], h0, np.zeros((N, H)), Wx, Wh, b)
    np.testing.assert_array_equal(h[:, 0], h1)
    dh = rng.standard_normal((N, 1, H))
    dx, dh0, *dparams = lstm_backward(dh, cache)
    dx1, dh_prev1, _, *dparams1 = lstm_step_backward(dh[:, 0], np.zeros((N, H)), step_cache)
    np.testing.assert_array_equal(dx[:, 0], dx1)
    np.testing.assert_array_equal(dh0, dh_prev1)
    for a, a1 in zip(dparams, dparams1):
        np.testing.assert_array_equal(a, a1)


def test_forward_computes_in_float64_and_leaves_inputs_alone(rng):
    assert_float64_and_inputs_untouched(lstm_forward, lstm_backward, make_inputs(rng), (N, T, H))


# ----------------------------------------------------------------------------- validation

@pytest.mark.parametrize(
    "which, bad, message",
    [
        ("x", lambda a: a[0], r"x must have shape \(N, T, D\), got \(5, 3\)"),
        ("h0", lambda a: a[:1], r"h0 must have shape \(N, H\) = \(2, H\), got \(1, 4\)"),
        ("Wx", lambda a: a.T, r"Wx must have shape \(D, 4H\) = \(3, 16\), got \(16, 3\)"),
        ("Wx", lambda a: a[:, :4], r"Wx must have shape \(D, 4H\) = \(3, 16\), got \(3, 4\)"),
        ("Wh", lambda a: a[:, :12], r"Wh must have shape \(H, 4H\) = \(4, 16\), got \(4, 12\)"),
        ("b", lambda a: a[:4], r"b must have shape \(4H,\) = \(16,\), got \(4,\)"),
        ("x", lambda a: np.where(a > 1, np.inf, a), r"x must be finite; it has \d+ NaN or inf"),
        ("b", lambda a: a.astype(complex), r"b must hold real numbers, got dtype complex128"),
    ],
)
def test_forward_rejects_bad_inputs_with_a_message(rng, which, bad, message):
    inputs = dict(zip(["x", "h0", "Wx", "Wh", "b"], make_inputs(rng)))
    inputs[which] = bad(inputs[which])
    with pytest.raises(ValueError, match=message):
        lstm_forward(**inputs)


def test_backward_rejects_a_wrong_dh(rng):
    _, cache = lstm_forward(*make_inputs(rng))
    with pytest.raises(ValueError, match=r"dh must have shape \(N, T, H\) = \(2, 5, 4\), got \(2, 5, 16\)"):
        lstm_backward(np.zeros((N, T, 4 * H)), cache)
