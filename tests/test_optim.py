"""course_lib.optim: clipping invariants, optimisers against torch.optim, the trainer on a
least-squares problem whose optimum np.linalg.lstsq gives."""

import numpy as np
import pytest
import torch

from course_lib.optim import SGD, Adam, TrainingDiverged, clip_grad_norm, global_norm, train

D, H, M = 3, 4, 40                 # distinct sizes: a transpose cannot broadcast silently


def make_grads(rng, scale=1.0):
    return {"Wx": scale * rng.standard_normal((D, H)), "Wh": scale * rng.standard_normal((H, H)),
            "b": scale * rng.standard_normal(H)}


def flat(grads):
    values = grads.values() if isinstance(grads, dict) else grads
    return np.concatenate([np.ravel(g) for g in values])


# ----------------------------------------------------------------------------- clipping

def test_global_norm_is_the_norm_of_the_concatenation(rng):
    grads = make_grads(rng)
    assert global_norm(grads) == pytest.approx(np.linalg.norm(flat(grads)), rel=1e-14)


def test_clipping_above_the_threshold_keeps_direction_and_caps_the_norm(rng):
    grads = make_grads(rng, scale=10.0)
    before = {k: g.copy() for k, g in grads.items()}
    norm = np.linalg.norm(flat(grads))
    max_norm = norm / 7

    clipped, total_norm = clip_grad_norm(grads, max_norm)
    assert total_norm == pytest.approx(norm, rel=1e-14)
    assert list(clipped) == list(grads)
    assert np.linalg.norm(flat(clipped)) == pytest.approx(max_norm, rel=1e-14)
    for k in grads:                                   # one common factor: direction kept
        np.testing.assert_allclose(clipped[k], grads[k] * max_norm / norm, rtol=1e-14)
        np.testing.assert_array_equal(grads[k], before[k])          # inputs untouched
        assert clipped[k] is not grads[k]


def test_clipping_below_the_threshold_changes_nothing(rng):
    grads = make_grads(rng)
    norm = np.linalg.norm(flat(grads))
    for max_norm in (norm * 1.01, norm):
        clipped, total_norm = clip_grad_norm(grads, max_norm)
        assert total_norm == pytest.approx(norm, rel=1e-14)
        for k in grads:
            np.testing.assert_array_equal(clipped[k], grads[k])
            assert clipped[k] is not grads[k]                        # still new arrays


def test_clipping_keeps_the_container_kind(rng):
    arrays = list(make_grads(rng, scale=10.0).values())
    for container in (list, tuple):
        clipped, _ = clip_grad_norm(container(arrays), 1.0)
        assert type(clipped) is container
        assert np.linalg.norm(flat(clipped)) == pytest.approx(1.0, rel=1e-14)


def test_clipping_agrees_with_torch(rng):
    grads = make_grads(rng, scale=10.0)
    params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads.values()]
    for p, g in zip(params, grads.values()):
        p.grad = torch.from_numpy(g.copy())
    total_t = torch.nn.utils.clip_grad_norm_(params, max_norm=2.0)
    clipped, total = clip_grad_norm(grads, 2.0)
    assert total == pytest.approx(total_t.item(), rel=1e-12)
    for c, p in zip(clipped.values(), params):          # torch divides by (norm + 1e-6)
        np.testing.assert_allclose(c, p.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("max_norm", [0, -1.0, np.inf, np.nan, "1"])
def test_clipping_rejects_a_bad_threshold(rng, max_norm):
    with pytest.raises(ValueError, match="max_norm must be a positive finite number"):
        clip_grad_norm(make_grads(rng), max_norm)


# ----------------------------------------------------------------------------- optimisers

def run_both(rng, ours, theirs_cls, theirs_kwargs, n_steps=3):
    """The same gradient sequence through our optimiser and torch's; final parameters."""
    params = {"W": rng.standard_normal((D, H)), "b": rng.standard_normal(H)}
    params_t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    opt_t = theirs_cls(list(params_t.values()), **theirs_kwargs)
    for _ in range(n_steps):
        grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        ours.step(params, grads)
        for k, p in params_t.items():
            p.grad = torch.from_numpy(grads[k].copy())
        opt_t.step()
    return params, {k: p.detach().numpy() for k, p in params_t.items()}


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_matches_torch(rng, momentum):
    ours, theirs = run_both(rng, SGD(lr=0.1, momentum=momentum), torch.optim.SGD,
                            dict(lr=0.1, momentum=momentum))
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, atol=1e-14)


def test_sgd_one_step_is_p_minus_lr_g(rng):
    params = {"W": rng.standard_normal((D, H))}
    p0 = params["W"].copy()
    g = rng.standard_normal((D, H))
    SGD(lr=0.3).step(params, {"W": g})
    np.testing.assert_allclose(params["W"], p0 - 0.3 * g, rtol=1e-15)


@pytest.mark.parametrize("n_steps", [1, 5])
def test_adam_matches_torch(rng, n_steps):
    ours, theirs = run_both(rng, Adam(lr=0.01, betas=(0.8, 0.99), eps=1e-6), torch.optim.Adam,
                            dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6), n_steps=n_steps)
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, atol=1e-14)


def test_optimisers_reject_mismatched_gradients(rng):
    params = {"W": rng.standard_normal((D, H))}
    with pytest.raises(ValueError, match=r"grads\['W'\] must have the shape of params\['W'\], \(3, 4\), got \(4, 3\)"):
        Adam().step(params, {"W": np.zeros((H, D))})
    with pytest.raises(KeyError, match="grads has key 'V'"):
        SGD(lr=0.1).step(params, {"V": np.zeros((D, H))})


# ----------------------------------------------------------------------------- trainer

def least_squares(rng):
    """loss(w) = ||A w - y||^2 / (2M); the optimum comes from np.linalg.lstsq."""
    A = rng.standard_normal((M, D))
    y = A @ rng.standard_normal(D) + 0.3 * rng.standard_normal(M)
    w_star = np.linalg.lstsq(A, y, rcond=None)[0]

    def loss_and_grads(params, rng):
        r = A @ params["w"] - y
        return r @ r / (2 * M), {"w": A.T @ r / M}

    L = np.linalg.eigvalsh(A.T @ A / M).max()        # smoothness constant
    return loss_and_grads, w_star, L


def test_trainer_reaches_the_least_squares_optimum(rng):
    loss_and_grads, w_star, L = least_squares(rng)
    params = {"w": np.zeros(D)}
    history = train(params, loss_and_grads, 200, SGD(lr=1 / L), progress=False)
    assert history["loss"].shape == history["grad_norm"].shape == (200,)
    assert np.all(np.diff(history["loss"]) <= 1e-15)  # gradient descent with lr = 1/L
    np.testing.assert_allclose(params["w"], w_star, rtol=1e-8, atol=1e-10)
    assert history["loss"][-1] == pytest.approx(loss_and_grads({"w": w_star}, None)[0], rel=1e-10)


def test_trainer_with_momentum_and_clipping_reaches_the_optimum(rng):
    loss_and_grads, w_star, L = least_squares(rng)
    params = {"w": np.zeros(D)}
    history = train(params, loss_and_grads, 300, SGD(lr=0.5 / L, momentum=0.5), clip=0.5,
                    progress=False)
    assert history["grad_norm"][0] > 0.5                    # the clipping was active
    np.testing.assert_allclose(params["w"], w_star, rtol=1e-8, atol=1e-10)


def test_trainer_with_adam_approaches_the_optimum(rng):
    """Adam with a constant step hovers near the optimum instead of landing on it."""
    loss_and_grads, w_star, L = least_squares(rng)
    params = {"w": np.zeros(D)}
    history = train(params, loss_and_grads, 1000, Adam(lr=0.01), progress=False)
    loss_star = loss_and_grads({"w": w_star}, None)[0]
    assert history["loss"][-1] == pytest.approx(loss_star, rel=1e-4)
    np.testing.assert_allclose(params["w"], w_star, atol=1e-2)


def test_trainer_clips_each_step(rng):
    loss_and_grads, _, _ = least_squares(rng)
    params = {"w": 10 * np.ones(D)}
    w0 = params["w"].copy()
    history = train(params, loss_and_grads, 1, SGD(lr=0.1), clip=0.01, progress=False)
    assert history["grad_norm"][0] > 0.01                   # recorded before clipping
    assert np.linalg.norm(params["w"] - w0) == pytest.approx(0.1 * 0.01, rel=1e-12)


def test_trainer_passes_its_rng_and_is_reproducible(rng):
    A = rng.standard_normal((M, D))
    y = A @ np.ones(D)

    def minibatch_loss_and_grads(params, rng):
        i = rng.choice(M, size=8, replace=False)
        r = A[i] @ params["w"] - y[i]
        return r @ r / 16, {"w": A[i].T @ r / 8}

    runs = []
    for _ in range(2):
        params = {"w": np.zeros(D)}
        runs.append(train(params, minibatch_loss_and_grads, 50, SGD(lr=0.05), rng=7, progress=False))
    np.testing.assert_array_equal(runs[0]["loss"], runs[1]["loss"])


def test_trainer_stops_on_divergence():
    def exploding(params, rng):
        return (np.nan if params["w"][0] > 2 else 0.0), {"w": -np.ones(1)}

    with pytest.raises(FloatingPointError, match="step 3: loss = nan"):
        train({"w": np.zeros(1)}, exploding, 10, SGD(lr=1.0), progress=False)


def test_a_diverged_run_keeps_its_history():
    """SGD on f(w) = w^2 / 2 with lr = 3 maps w to (1 - 3) w = -2 w: the loss grows by exactly
    4 per step until the gradient norm overflows; the history up to the overflow is returned with the error."""
    def quadratic(params, rng):
        w = params["w"]
        return float(0.5 * w @ w), {"w": w.copy()}

    with np.errstate(over="ignore"), pytest.raises(TrainingDiverged) as info:
        train({"w": np.ones(1)}, quadratic, 2000, SGD(lr=3.0), progress=False)
    loss, norm = info.value.history["loss"], info.value.history["grad_norm"]
    k = info.value.step
    assert len(loss) == len(norm) == k + 1 and not np.isfinite(norm[-1])
    np.testing.assert_array_equal(loss[:-1], 0.5 * 4.0 ** np.arange(k))    # powers of 2: exact
    np.testing.assert_array_equal(norm[:-1], 2.0 ** np.arange(k))
    assert k == 512            # w = (-2)^k: the norm's w·w = 2^(2k) overflows first at k = 512


def test_trainer_shows_a_progress_bar(rng, capsys):
    loss_and_grads, _, L = least_squares(rng)
    train({"w": np.zeros(D)}, loss_and_grads, 5, SGD(lr=1 / L), progress=True, desc="lsq")
    assert "lsq" in capsys.readouterr().err
