"""course_lib.layers against torch, finite differences and the definitions."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.gradcheck import check_backward, check_gradient
from course_lib.layers import (
    temporal_affine_backward,
    temporal_affine_forward,
    temporal_softmax_loss,
    word_embedding_backward,
    word_embedding_forward,
)

N, T, D, H, V = 2, 3, 4, 5, 7      # distinct sizes: a transpose cannot broadcast silently
TOL = dict(rtol=1e-10, atol=1e-13)


# ----------------------------------------------------------------------------- embedding

def embedding_inputs(rng):
    x = rng.integers(0, V, size=(N, T))
    x[1, 2] = x[0, 0]                               # a repeated symbol must accumulate
    return x, rng.standard_normal((V, D))


def test_word_embedding_matches_torch(rng):
    x, W = embedding_inputs(rng)
    out, cache = word_embedding_forward(x, W)
    dout = rng.standard_normal((N, T, D))
    dW = word_embedding_backward(dout, cache)

    W_t = torch.tensor(W, requires_grad=True)
    out_t = F.embedding(torch.from_numpy(x), W_t)
    out_t.backward(torch.from_numpy(dout))
    assert out.shape == (N, T, D) and dW.shape == (V, D)
    np.testing.assert_allclose(out, out_t.detach().numpy(), **TOL)
    np.testing.assert_allclose(dW, W_t.grad.numpy(), **TOL)


def test_word_embedding_backward_matches_finite_differences(rng):
    report = check_backward(word_embedding_forward, word_embedding_backward,
                            list(embedding_inputs(rng)))
    assert [c.name for c in report.inputs] == ["W"]


def test_word_embedding_rejects_bad_inputs(rng):
    x, W = embedding_inputs(rng)
    x_bad = x.copy()
    x_bad[1, 0] = V
    with pytest.raises(ValueError, match=r"x must hold values in \[0, V\) = \[0, 7\), got 7 at index \(1, 0\)"):
        word_embedding_forward(x_bad, W)
    with pytest.raises(ValueError, match="x must hold integers, got dtype float64"):
        word_embedding_forward(x.astype(float), W)
    with pytest.raises(ValueError, match=r"W must have shape \(V, D\), got \(7,\)"):
        word_embedding_forward(x, W[:, 0])
    _, cache = word_embedding_forward(x, W)
    with pytest.raises(ValueError, match=r"dout must have shape \(N, T, D\) = \(2, 3, 4\), got \(2, 3, 7\)"):
        word_embedding_backward(np.zeros((N, T, V)), cache)


# ----------------------------------------------------------------------------- temporal affine

def affine_inputs(rng):
    return rng.standard_normal((N, T, H)), rng.standard_normal((H, V)), rng.standard_normal(V)


def test_temporal_affine_matches_torch(rng):
    x, W, b = affine_inputs(rng)
    out, cache = temporal_affine_forward(x, W, b)
    dout = rng.standard_normal((N, T, V))
    grads = temporal_affine_backward(dout, cache)

    ts = [torch.tensor(a, requires_grad=True) for a in (x, W, b)]
    out_t = F.linear(ts[0], ts[1].T, ts[2])
    out_t.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(out, out_t.detach().numpy(), **TOL)
    for name, g, t in zip(["dx", "dW", "db"], grads, ts):
        assert g.shape == tuple(t.shape), name
        np.testing.assert_allclose(g, t.grad.numpy(), err_msg=name, **TOL)


def test_temporal_affine_backward_matches_finite_differences(rng):
    assert check_backward(temporal_affine_forward, temporal_affine_backward,
                          list(affine_inputs(rng))).passed


def test_temporal_affine_rejects_a_transposed_weight(rng):
    x, W, b = affine_inputs(rng)
    with pytest.raises(ValueError, match=r"W must have shape \(H, V\) = \(5, V\), got \(7, 5\)"):
        temporal_affine_forward(x, W.T, b)
    with pytest.raises(ValueError, match=r"b must have shape \(V,\) = \(7,\), got \(5,\)"):
        temporal_affine_forward(x, W, b[:H])


# ----------------------------------------------------------------------------- softmax loss

def loss_inputs(rng):
    scores = 3 * rng.standard_normal((N, T, V))
    y = rng.integers(0, V, size=(N, T))
    mask = rng.random((N, T)) < 0.6
    mask[0, 0], mask[1, 2] = True, False            # at least one step in and one out
    return scores, y, mask


def torch_loss(scores, y, mask):
    """cross_entropy per step, masked, summed over time, averaged over the batch."""
    s = torch.tensor(scores, requires_grad=True)
    ce = F.cross_entropy(s.reshape(-1, V), torch.from_numpy(y).reshape(-1), reduction="none")
    loss = (ce.reshape(N, T) * torch.from_numpy(mask.astype(np.float64))).sum() / N
    loss.backward()
    return loss.item(), s.grad.numpy()


def test_softmax_loss_matches_torch_cross_entropy(rng):
    scores, y, mask = loss_inputs(rng)
    loss, dscores = temporal_softmax_loss(scores, y, mask)
    loss_t, dscores_t = torch_loss(scores, y, mask)
    assert isinstance(loss, float)
    assert loss == pytest.approx(loss_t, rel=1e-12)
    np.testing.assert_allclose(dscores, dscores_t, **TOL)


def test_softmax_loss_is_the_definition(rng):
    """Brute force: -log softmax at the target, summed over unmasked steps, divided by N."""
    scores, y, mask = loss_inputs(rng)
    total = 0.0
    for n in range(N):
        for t in range(T):
            if mask[n, t]:
                p = np.exp(scores[n, t]) / np.exp(scores[n, t]).sum()
                total -= np.log(p[y[n, t]])
    assert temporal_softmax_loss(scores, y, mask)[0] == pytest.approx(total / N, rel=1e-12)
    assert mask.sum() != N                           # so dividing by mask.sum() would differ


def test_softmax_loss_gradient_matches_finite_differences(rng):
    scores, y, mask = loss_inputs(rng)
    _, dscores = temporal_softmax_loss(scores, y, mask)
    check_gradient(lambda s: temporal_softmax_loss(s, y, mask)[0], [scores], [dscores])


def test_masked_steps_give_zero_loss_and_zero_gradient(rng):
    scores, y, mask = loss_inputs(rng)
    loss, dscores = temporal_softmax_loss(scores, y, np.zeros((N, T)))
    assert loss == 0.0
    np.testing.assert_array_equal(dscores, 0.0)
    _, dscores = temporal_softmax_loss(scores, y, mask)
    np.testing.assert_array_equal(dscores[~mask], 0.0)
    assert np.all(np.abs(dscores[mask]).sum(axis=-1) > 0)


def test_softmax_loss_is_stable_for_large_scores(rng):
    """Softmax is invariant to adding a constant per step; huge scores must not overflow."""
    scores, y, mask = loss_inputs(rng)
    loss, dscores = temporal_softmax_loss(scores, y, mask)
    shift = 1e3 * rng.standard_normal((N, T, 1))
    loss_big, dscores_big = temporal_softmax_loss(scores + shift, y, mask)
    assert loss_big == pytest.approx(loss, rel=1e-10)
    np.testing.assert_allclose(dscores_big, dscores, rtol=1e-9, atol=1e-12)
    loss_t, _ = torch_loss(scores * 1e3, y, mask)
    assert temporal_softmax_loss(scores * 1e3, y, mask)[0] == pytest.approx(loss_t, rel=1e-12)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s, y, m: (s, np.where(y == y[1, 1], V, y), m),
         r"y must hold values in \[0, V\) = \[0, 7\), got 7 at index \(\d, \d\)"),
        (lambda s, y, m: (s, -np.ones_like(y), m), r"y must hold values in \[0, V\) = \[0, 7\), got -1"),
        (lambda s, y, m: (s, y.astype(float), m), "y must hold integers, got dtype float64"),
        (lambda s, y, m: (s, y, m.T), r"mask must have shape \(N, T\) = \(2, 3\), got \(3, 2\)"),
        (lambda s, y, m: (s, y, 2.0 * m), "mask must hold booleans or 0/1 values"),
        (lambda s, y, m: (s, y.T, m), r"y must have shape \(N, T\) = \(2, 3\), got \(3, 2\)"),
        (lambda s, y, m: (s[0], y, m), r"scores must have shape \(N, T, V\), got \(3, 7\)"),
        (lambda s, y, m: (np.full_like(s, np.inf), y, m), "scores must be finite"),
    ],
)
def test_softmax_loss_rejects_bad_inputs(rng, change, message):
    with pytest.raises(ValueError, match=message):
        temporal_softmax_loss(*change(*loss_inputs(rng)))
