"""course_lib.gru, both candidate forms: reset-after against torch.nn.GRU / GRUCell,
reset-before against a torch autograd transcription of Cho et al. (2014), both against
finite differences, and the invariants that relate the two forms."""

import warnings

import numpy as np
import pytest
import torch
from sequence_checks import (
    assert_float64_and_inputs_untouched,
    assert_one_step_sequence_is_the_step,
    torch_grads,
)

from course_lib.gradcheck import check_backward
from course_lib.gru import gru_backward, gru_forward, gru_step_backward, gru_step_forward
from course_lib.training import torch_to_numpy

# (N, T, D, H): distinct sizes, and 3H differs from every other size.
SHAPES = [(2, 5, 3, 4), (3, 4, 5, 2), (4, 2, 3, 5)]
N, T, D, H = SHAPES[0]
TOL = dict(rtol=1e-10, atol=1e-12)
NAMES = ["x", "h0", "Wx", "Wh", "bx", "bh"]


def make_inputs(rng, N=N, T=T, D=D, H=H):
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((N, H))
    Wx = rng.standard_normal((D, 3 * H)) / np.sqrt(D)
    Wh = rng.standard_normal((H, 3 * H)) / np.sqrt(H)
    bx = rng.standard_normal(3 * H) * 0.5
    bh = rng.standard_normal(3 * H) * 0.5
    return x, h0, Wx, Wh, bx, bh


def torch_params(module):
    """The NumPy parameters of a torch GRU/GRUCell: Wx, Wh, bx, bh."""
    p = torch_to_numpy(module)[0][0]
    return p["Wx"], p["Wh"], p["bx"], p["bh"]


def torch_param_grads(module):
    """The torch parameter gradients in the NumPy layout: (dWx, dWh, dbx, dbh)."""
    g = torch_grads(module)[0][0]
    return g["dWx"], g["dWh"], g["dbx"], g["dbh"]


def cho_gru_step(x, h, Wx, Wh, bx, bh):
    """Reset-before GRU step (Cho et al. 2014), written from the paper's equations in torch,
    independent of course_lib; h = (1 - z) n + z h_prev as in the paper."""
    Wxr, Wxz, Wxn = Wx.chunk(3, dim=1)
    Whr, Whz, Whn = Wh.chunk(3, dim=1)
    bxr, bxz, bxn = bx.chunk(3)
    bhr, bhz, bhn = bh.chunk(3)
    r = torch.sigmoid(x @ Wxr + bxr + h @ Whr + bhr)
    z = torch.sigmoid(x @ Wxz + bxz + h @ Whz + bhz)
    n = torch.tanh(x @ Wxn + bxn + (r * h) @ Whn + bhn)
    return (1 - z) * n + z * h


def assert_all_close(ours, theirs, names, tol=TOL):
    for name, a, b in zip(names, ours, theirs):
        assert np.shape(a) == np.shape(b), name
        np.testing.assert_allclose(a, b, err_msg=name, **tol)


# ----------------------------------------------------------------------------- reset-after

@pytest.mark.parametrize("N, T, D, H", SHAPES)
def test_reset_after_step_matches_torch_gru_cell(rng, N, T, D, H):
    torch.manual_seed(N)
    cell = torch.nn.GRUCell(D, H).double()
    params = torch_params(cell)
    x, h_prev = rng.standard_normal((N, D)), rng.standard_normal((N, H))
    h, cache = gru_step_forward(x, h_prev, *params)          # reset_after=True by default
    dh = rng.standard_normal((N, H))
    grads = gru_step_backward(dh, cache)

    x_t = torch.tensor(x, requires_grad=True)
    h_prev_t = torch.tensor(h_prev, requires_grad=True)
    h_t = cell(x_t, h_prev_t)
    h_t.backward(torch.from_numpy(dh))
    np.testing.assert_allclose(h, h_t.detach().numpy(), **TOL)
    assert_all_close(grads, (x_t.grad.numpy(), h_prev_t.grad.numpy(), *torch_param_grads(cell)),
                     ["dx", "dh_prev", "dWx", "dWh", "dbx", "dbh"])


@pytest.mark.parametrize("N, T, D, H", SHAPES)
def test_reset_after_sequence_matches_torch_nn_gru(rng, N, T, D, H):
    torch.manual_seed(T)
    gru = torch.nn.GRU(D, H, batch_first=True).double()
    params = torch_params(gru)
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    h, cache = gru_forward(x, h0, *params, reset_after=True)
    dh = rng.standard_normal((N, T, H))
    grads = gru_backward(dh, cache)

    x_t = torch.tensor(x, requires_grad=True)
    h0_t = torch.tensor(h0, requires_grad=True)
    out, h_last = gru(x_t, h0_t[None])
    (out * torch.from_numpy(dh)).sum().backward()
    assert h.shape == (N, T, H)
    np.testing.assert_allclose(h, out.detach().numpy(), **TOL)
    np.testing.assert_allclose(h[:, -1], h_last[0].detach().numpy(), **TOL)
    assert_all_close(grads, (x_t.grad.numpy(), h0_t.grad.numpy(), *torch_param_grads(gru)),
                     ["d" + n for n in NAMES])


# ----------------------------------------------------------------------------- reset-before

@pytest.mark.parametrize("N, T, D, H", SHAPES)
def test_reset_before_step_matches_the_cho_formula(rng, N, T, D, H):
    x, h0, Wx, Wh, bx, bh = make_inputs(rng, N, T, D, H)
    inputs = [x[:, 0], h0, Wx, Wh, bx, bh]
    h, cache = gru_step_forward(*inputs, reset_after=False)
    dh = rng.standard_normal((N, H))
    grads = gru_step_backward(dh, cache)

    ts = [torch.tensor(a, requires_grad=True) for a in inputs]
    h_t = cho_gru_step(*ts)
    h_t.backward(torch.from_numpy(dh))
    np.testing.assert_allclose(h, h_t.detach().numpy(), **TOL)
    assert_all_close(grads, [t.grad.numpy() for t in ts],
                     ["dx", "dh_prev", "dWx", "dWh", "dbx", "dbh"])


@pytest.mark.parametrize("N, T, D, H", SHAPES)
def test_reset_before_sequence_matches_the_cho_formula(rng, N, T, D, H):
    inputs = make_inputs(rng, N, T, D, H)
    h, cache = gru_forward(*inputs, reset_after=False)
    dh = rng.standard_normal((N, T, H))
    grads = gru_backward(dh, cache)

    ts = [torch.tensor(a, requires_grad=True) for a in inputs]
    x_t, h_t, *params = ts
    outs = []
    for t in range(T):
        h_t = cho_gru_step(x_t[:, t], h_t, *params)
        outs.append(h_t)
    out = torch.stack(outs, dim=1)
    (out * torch.from_numpy(dh)).sum().backward()
    np.testing.assert_allclose(h, out.detach().numpy(), **TOL)
    assert_all_close(grads, [t.grad.numpy() for t in ts], ["d" + n for n in NAMES])


# ----------------------------------------------------------------------------- finite differences

@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("N, T, D, H", SHAPES[:2])
def test_step_backward_matches_finite_differences(rng, N, T, D, H, reset_after):
    x, h0, Wx, Wh, bx, bh = make_inputs(rng, N, T, D, H)
    report = check_backward(gru_step_forward, gru_step_backward, [x[:, 0], h0, Wx, Wh, bx, bh],
                            forward_kwargs={"reset_after": reset_after})
    assert [c.name for c in report.inputs] == ["x", "h_prev", "Wx", "Wh", "bx", "bh"]


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("N, T, D, H", SHAPES)
def test_sequence_backward_matches_finite_differences(rng, N, T, D, H, reset_after):
    report = check_backward(gru_forward, gru_backward, list(make_inputs(rng, N, T, D, H)),
                            forward_kwargs={"reset_after": reset_after})
    assert [c.name for c in report.inputs] == NAMES


# ----------------------------------------------------------------------------- invariants

def test_the_two_forms_differ_in_general(rng):
    inputs = make_inputs(rng)
    h_after, _ = gru_forward(*inputs, reset_after=True)
    h_before, _ = gru_forward(*inputs, reset_after=False)
    assert np.max(np.abs(h_after - h_before)) > 1e-3


def test_the_two_forms_coincide_when_the_candidate_ignores_h_prev(rng):
    """Whn = 0 (and bhn = 0, since r * bhn differs from bhn): the same function of every input.

    The gradients agree too, except those of Whn and bhn: the two forms meet on the set
    Whn = bhn = 0 but leave it in different directions, as r scales h_prev Whn + bhn in one
    and only h_prev in the other: dWhn = h_prev^T (dan * r), dbhn = sum_n dan * r for
    reset-after, dWhn = (r * h_prev)^T dan, dbhn = sum_n dan for reset-before."""
    x, h0, Wx, Wh, bx, bh = make_inputs(rng)
    Wh, bh = Wh.copy(), bh.copy()
    Wh[:, 2 * H:], bh[2 * H:] = 0, 0
    h_after, c_after = gru_forward(x, h0, Wx, Wh, bx, bh, reset_after=True)
    h_before, c_before = gru_forward(x, h0, Wx, Wh, bx, bh, reset_after=False)
    np.testing.assert_allclose(h_after, h_before, **TOL)
    dh = rng.standard_normal((N, T, H))
    g_after, g_before = gru_backward(dh, c_after), gru_backward(dh, c_before)
    (dx, dh0, dWx, dWh, dbx, dbh), (dx_, dh0_, dWx_, dWh_, dbx_, dbh_) = g_after, g_before
    assert_all_close([dx, dh0, dWx, dWh[:, :2 * H], dbx, dbh[:2 * H]],
                     [dx_, dh0_, dWx_, dWh_[:, :2 * H], dbx_, dbh_[:2 * H]],
                     ["dx", "dh0", "dWx", "dWh[r|z]", "dbx", "dbh[r|z]"])
    assert np.max(np.abs(dWh[:, 2 * H:] - dWh_[:, 2 * H:])) > 1e-3
    assert np.max(np.abs(dbh[2 * H:] - dbh_[2 * H:])) > 1e-3


def test_the_two_forms_coincide_when_the_reset_gate_is_open(rng):
    """r = 1 exactly (saturated by its bias): r * (h Whn + bhn) = (r * h) Whn + bhn."""
    x, h0, Wx, Wh, bx, bh = make_inputs(rng)
    Wx, Wh, bx = Wx.copy(), Wh.copy(), bx.copy()
    Wx[:, :H], Wh[:, :H], bx[:H] = 0, 0, 1e4                 # a_r = 1e4 + bhr: r == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")                       # no overflow in the sigmoid
        h_after, _ = gru_forward(x, h0, Wx, Wh, bx, bh, reset_after=True)
        h_before, _ = gru_forward(x, h0, Wx, Wh, bx, bh, reset_after=False)
    np.testing.assert_allclose(h_after, h_before, **TOL)


@pytest.mark.parametrize("reset_after", [True, False])
def test_z_is_the_weight_of_the_old_state(rng, reset_after):
    """h = (1 - z) n + z h_prev: z = 1 copies h0 through every step, z = 0 gives h = n."""
    x, h0, Wx, Wh, bx, bh = make_inputs(rng)
    bx = bx.copy()
    bx[H:2 * H] = 1e4                                        # z == 1.0
    h, _ = gru_forward(x, h0, Wx, Wh, bx, bh, reset_after=reset_after)
    np.testing.assert_array_equal(h, np.repeat(h0[:, None], T, axis=1))

    bx[H:2 * H] = -1e4                                       # z == 0.0: h = n
    h, cache = gru_step_forward(x[:, 0], h0, Wx, Wh, bx, bh, reset_after=reset_after)
    n = cache[6]
    np.testing.assert_array_equal(h, n)


def test_sequence_of_one_step_is_one_step(rng):
    for reset_after in (True, False):
        assert_one_step_sequence_is_the_step(gru_forward, gru_step_forward, gru_backward, gru_step_backward,
                                             make_inputs(rng, T=1), rng.standard_normal((N, 1, H)),
                                             reset_after=reset_after)


def test_forward_computes_in_float64_and_leaves_inputs_alone(rng):
    assert_float64_and_inputs_untouched(gru_forward, gru_backward, make_inputs(rng), (N, T, H),
                                        reset_after=False)


# ----------------------------------------------------------------------------- validation

@pytest.mark.parametrize(
    "which, bad, message",
    [
        ("x", lambda a: a[..., None], r"x must have shape \(N, T, D\), got \(2, 5, 3, 1\)"),
        ("h0", lambda a: a.T, r"h0 must have shape \(N, H\) = \(2, H\), got \(4, 2\)"),
        ("Wx", lambda a: a.T, r"Wx must have shape \(D, 3H\) = \(3, 12\), got \(12, 3\)"),
        ("Wh", lambda a: a[:, :8], r"Wh must have shape \(H, 3H\) = \(4, 12\), got \(4, 8\)"),
        ("bx", lambda a: a[:8], r"bx must have shape \(3H,\) = \(12,\), got \(8,\)"),
        ("bh", lambda a: np.concatenate([a, a]), r"bh must have shape \(3H,\) = \(12,\), got \(24,\)"),
        ("h0", lambda a: np.where(a == a[1, 2], np.nan, a),
         r"h0 must be finite; it has 1 NaN or inf entries, the first at index \(1, 2\)"),
    ],
)
def test_forward_rejects_bad_inputs_with_a_message(rng, which, bad, message):
    inputs = dict(zip(NAMES, make_inputs(rng)))
    inputs[which] = bad(inputs[which])
    with pytest.raises(ValueError, match=message):
        gru_forward(**inputs)


@pytest.mark.parametrize("flag", ["yes", 1, None])
def test_reset_after_must_be_a_bool(rng, flag):
    with pytest.raises(ValueError, match=r"reset_after must be True \(PyTorch\) or False"):
        gru_forward(*make_inputs(rng), reset_after=flag)


def test_backward_rejects_a_wrong_dh(rng):
    _, cache = gru_forward(*make_inputs(rng))
    with pytest.raises(ValueError, match=r"dh must have shape \(N, T, H\) = \(2, 5, 4\), got \(5, 2, 4\)"):
        gru_backward(np.zeros((T, N, H)), cache)
