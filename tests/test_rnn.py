"""course_lib.rnn against finite differences (check_backward) and torch (float64)."""

import numpy as np
import pytest
import torch
from sequence_checks import (
    assert_float64_and_inputs_untouched,
    assert_one_step_sequence_is_the_step,
    torch_grads,
)

from course_lib.gradcheck import check_backward
from course_lib.rnn import rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward
from course_lib.training import numpy_to_torch

N, T, D, H = 2, 5, 3, 4            # distinct sizes: a transpose cannot broadcast silently
TOL = dict(rtol=1e-10, atol=1e-12)


def make_inputs(rng, N=N, T=T, D=D, H=H):
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((N, H))
    Wx = rng.standard_normal((D, H)) / np.sqrt(D)
    Wh = rng.standard_normal((H, H)) / np.sqrt(H)
    b = rng.standard_normal(H) * 0.1
    return x, h0, Wx, Wh, b


def torch_rnn(Wx, Wh, b):
    """A torch.nn.RNN with the NumPy parameters copied in (course_lib.training.numpy_to_torch)."""
    D, H = Wx.shape
    rnn = torch.nn.RNN(D, H, nonlinearity="tanh", batch_first=True).double()
    numpy_to_torch([[{"Wx": Wx, "Wh": Wh, "b": b}]], rnn)
    return rnn


def torch_sequence_grads(rnn, x_t, h0_t):
    """The torch gradients in the NumPy layout: (dx, dh0, dWx, dWh, db)."""
    g = torch_grads(rnn)[0][0]
    return x_t.grad.numpy(), h0_t.grad.numpy(), g["dWx"], g["dWh"], g["db"]


def assert_grads_equal(ours, theirs, tol=TOL):
    for name, a, b in zip(["dx", "dh0", "dWx", "dWh", "db"], ours, theirs):
        np.testing.assert_allclose(a, b, err_msg=name, **tol)


# ----------------------------------------------------------------------------- one step

def test_step_backward_matches_finite_differences(rng):
    x, h0, Wx, Wh, b = make_inputs(rng)
    assert check_backward(rnn_step_forward, rnn_step_backward, [x[:, 0], h0, Wx, Wh, b]).passed


def test_step_matches_torch_autograd(rng):
    x, h0, Wx, Wh, b = make_inputs(rng)
    x = x[:, 0]
    h, cache = rnn_step_forward(x, h0, Wx, Wh, b)
    dh = rng.standard_normal((N, H))
    grads = rnn_step_backward(dh, cache)

    ts = [torch.tensor(a, requires_grad=True) for a in (x, h0, Wx, Wh, b)]
    x_t, h0_t, Wx_t, Wh_t, b_t = ts
    h_t = torch.tanh(x_t @ Wx_t + h0_t @ Wh_t + b_t)
    h_t.backward(torch.from_numpy(dh))
    np.testing.assert_allclose(h, h_t.detach().numpy(), **TOL)
    for name, g, t in zip(["dx", "dh_prev", "dWx", "dWh", "db"], grads, ts):
        assert g.shape == tuple(t.shape), name
        np.testing.assert_allclose(g, t.grad.numpy(), err_msg=name, **TOL)


# ----------------------------------------------------------------------------- sequence

def test_sequence_backward_matches_finite_differences(rng):
    report = check_backward(rnn_forward, rnn_backward, list(make_inputs(rng)))
    assert [c.name for c in report.inputs] == ["x", "h0", "Wx", "Wh", "b"]


def test_sequence_matches_torch_nn_rnn(rng):
    x, h0, Wx, Wh, b = make_inputs(rng)
    h, cache = rnn_forward(x, h0, Wx, Wh, b)
    dh = rng.standard_normal((N, T, H))
    grads = rnn_backward(dh, cache)

    rnn = torch_rnn(Wx, Wh, b)
    x_t = torch.tensor(x, requires_grad=True)
    h0_t = torch.tensor(h0, requires_grad=True)
    out, h_last = rnn(x_t, h0_t[None])
    (out * torch.from_numpy(dh)).sum().backward()

    assert h.shape == (N, T, H)
    np.testing.assert_allclose(h, out.detach().numpy(), **TOL)
    np.testing.assert_allclose(h[:, -1], h_last[0].detach().numpy(), **TOL)
    assert [g.shape for g in grads] == [(N, T, D), (N, H), (D, H), (H, H), (H,)]
    assert_grads_equal(grads, torch_sequence_grads(rnn, x_t, h0_t))


def test_sequence_backward_is_the_step_backward_summed_over_time(rng):
    """The dW accumulation over steps: T = 1 is exactly one step."""
    assert_one_step_sequence_is_the_step(rnn_forward, rnn_step_forward, rnn_backward, rnn_step_backward,
                                         make_inputs(rng, T=1), rng.standard_normal((N, 1, H)))


def test_forward_computes_in_float64_and_leaves_inputs_alone(rng):
    assert_float64_and_inputs_untouched(rnn_forward, rnn_backward, make_inputs(rng), (N, T, H))


# ----------------------------------------------------------------------------- truncated BPTT

@pytest.mark.parametrize("k", [None, T, T + 3])
def test_truncation_at_or_beyond_T_is_full_bptt(rng, k):
    x, h0, Wx, Wh, b = make_inputs(rng)
    _, cache = rnn_forward(x, h0, Wx, Wh, b)
    dh = rng.standard_normal((N, T, H))
    full = rnn_backward(dh, cache)
    for a, a_k in zip(full, rnn_backward(dh, cache, truncate=k)):
        np.testing.assert_array_equal(a, a_k)


@pytest.mark.parametrize("k", [1, 2, 3, T - 1])
def test_truncated_bptt_matches_torch_with_detach_at_chunk_boundaries(rng, k):
    x, h0, Wx, Wh, b = make_inputs(rng)
    _, cache = rnn_forward(x, h0, Wx, Wh, b)
    dh = rng.standard_normal((N, T, H))
    grads = rnn_backward(dh, cache, truncate=k)

    rnn = torch_rnn(Wx, Wh, b)
    x_t = torch.tensor(x, requires_grad=True)
    h0_t = torch.tensor(h0, requires_grad=True)
    state, outs = h0_t[None], []
    for start in range(0, T, k):                       # chunks [0, k), [k, 2k), ...
        out, state = rnn(x_t[:, start:start + k], state)
        outs.append(out)
        state = state.detach()                         # carry the value, stop the gradient
    (torch.cat(outs, dim=1) * torch.from_numpy(dh)).sum().backward()

    assert_grads_equal(grads, torch_sequence_grads(rnn, x_t, h0_t))


def test_truncation_changes_the_gradient(rng):
    """Truncated BPTT is not the gradient of the loss: finite differences must reject it."""
    inputs = list(make_inputs(rng))
    report = check_backward(rnn_forward, lambda dh, cache: rnn_backward(dh, cache, truncate=2),
                            inputs, raise_on_failure=False)
    assert not report["Wh"].passed and not report["x"].passed


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "2"])
def test_truncate_must_be_a_positive_int(rng, k):
    _, cache = rnn_forward(*make_inputs(rng))
    with pytest.raises(ValueError, match="truncate must be None or a positive int"):
        rnn_backward(np.zeros((N, T, H)), cache, truncate=k)


# ----------------------------------------------------------------------------- validation

@pytest.mark.parametrize(
    "which, bad, message",
    [
        ("x", lambda a: a[0], r"x must have shape \(N, T, D\), got \(5, 3\)"),
        ("h0", lambda a: a[:1], r"h0 must have shape \(N, H\) = \(2, H\), got \(1, 4\)"),
        ("Wx", lambda a: a.T, r"Wx must have shape \(D, H\) = \(3, 4\), got \(4, 3\)"),
        ("Wh", lambda a: a[:, :3], r"Wh must have shape \(H, H\) = \(4, 4\), got \(4, 3\)"),
        ("b", lambda a: a[None], r"b must have shape \(H,\) = \(4,\), got \(1, 4\)"),
        ("x", lambda a: np.where(a > 1, np.nan, a), r"x must be finite; it has \d+ NaN or inf"),
        ("Wh", lambda a: a.astype(complex), r"Wh must hold real numbers, got dtype complex128"),
    ],
)
def test_forward_rejects_bad_inputs_with_a_message(rng, which, bad, message):
    inputs = dict(zip(["x", "h0", "Wx", "Wh", "b"], make_inputs(rng)))
    inputs[which] = bad(inputs[which])
    with pytest.raises(ValueError, match=message):
        rnn_forward(**inputs)


def test_backward_rejects_a_wrong_dh(rng):
    _, cache = rnn_forward(*make_inputs(rng))
    with pytest.raises(ValueError, match=r"dh must have shape \(N, T, H\) = \(2, 5, 4\), got \(2, 4, 5\)"):
        rnn_backward(np.zeros((N, H, T)), cache)
