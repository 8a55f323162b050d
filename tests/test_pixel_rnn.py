"""course_lib.pixel_rnn against oracles: the NumPy LSTM with copied weights, gradients of
autograd for causality (with models that must fail it), one-pass against pixel-by-pixel
likelihoods, exact enumeration of every image of a tiny size, chi-square bounds on sample
frequencies, hand formulas for the Bernoulli baseline and scikit-learn for the logistic one."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.stats import chi2
from sklearn.linear_model import LogisticRegression
from torch import nn

from course_lib.lstm import lstm_forward
from course_lib.pixel_rnn import (
    START,
    BernoulliPixels,
    CausalityError,
    LogisticAutoregressive,
    MaskedConv2d,
    PixelLSTM,
    bits_per_dim,
    causal_mask,
    check_causal,
    complete,
    dependency,
    image_batches,
    nll,
    nll_loss,
    sample,
    sequential_log_probs,
    shift_right,
)
from course_lib.training import torch_to_numpy

R, C, H = 3, 4, 5                    # distinct sizes: a transposed weight cannot broadcast silently


def tiny_lstm(shape=(R, C), seed=0, scale=1.0, **kwargs):
    torch.manual_seed(seed)
    model = PixelLSTM(H, shape, **kwargs).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)                                   # larger weights: sharper conditionals
    return model


def sharp_lstm(shape, seed=1, shift=True):
    """An untrained PixelLSTM whose conditionals depend strongly on the pixels before: the
    weights of the pixel input and of the read-out made larger."""
    model = tiny_lstm(shape, seed, shift=shift)
    with torch.no_grad():
        model.rnn.weight_ih_l0[:, 0] *= 6
        model.out.weight *= 4
    return model


def all_images(shape):
    """Every binary image of this shape, (2^P, R, C), in the order of the binary numbers."""
    P = shape[0] * shape[1]
    return np.array(list(itertools.product([0, 1], repeat=P)), dtype=np.float64).reshape(-1, *shape)


def random_images(rng, n, shape=(R, C)):
    """Correlated binary images: a pixel is likelier on when its left neighbour is."""
    x = np.zeros((n, *shape))
    for c in range(shape[1]):
        p = 0.3 + 0.4 * x[:, :, c - 1] if c else np.full((n, shape[0]), 0.4)
        x[:, :, c] = rng.random((n, shape[0])) < p
    return x


class MaskedConvModel(nn.Module):
    """Masked convolutions as a pixel model: logits (N, R, C) from images (N, R, C)."""

    def __init__(self, kinds, shape=(R, C), width=3, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.image_shape = shape
        channels = [1] + [width] * (len(kinds) - 1) + [1]
        self.layers = nn.ModuleList(MaskedConv2d(a, b, 3, k) for a, b, k in zip(channels, channels[1:], kinds))
        self.double()

    def forward(self, x):
        h = x[:, None]                                                           # (N, 1, R, C)
        for k, layer in enumerate(self.layers):
            h = layer(h if k == 0 else torch.tanh(h))
        return h[:, 0]


# ----------------------------------------------------------------------------- the model

def test_shift_right_is_the_definition():
    x = torch.arange(12.0).reshape(2, 6)
    s = shift_right(x, start=-7.0)
    assert torch.equal(s[:, 0], torch.tensor([-7.0, -7.0]))
    assert torch.equal(s[:, 1:], x[:, :-1])
    assert torch.equal(shift_right(x)[:, 0], torch.full((2,), START))


def test_pixel_lstm_matches_numpy_reference(rng):
    """Inputs built by hand (previous pixel, one-hot row and column), course_lib.lstm with the
    copied weights, then the affine read-out."""
    N = 2
    model = tiny_lstm()
    x = random_images(rng, N)
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).numpy()
    P = R * C
    s = np.zeros((N, P, 1 + R + C))
    for i in range(P):
        s[:, i, 0] = x.reshape(N, P)[:, i - 1] if i else START
        s[:, i, 1 + i // C] = 1
        s[:, i, 1 + R + i % C] = 1
    p = torch_to_numpy(model.rnn)[0][0]
    h, _ = lstm_forward(s, np.zeros((N, H)), p["Wx"], p["Wh"], p["b"])        # (N, P, H)
    w = model.out.weight.detach().numpy()[0]
    expected = (h @ w + model.out.bias.item()).reshape(N, R, C)
    np.testing.assert_allclose(logits, expected, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- causality

@pytest.mark.parametrize("positions", [True, False])
def test_lstm_is_causal_by_gradients(rng, positions):
    """d logit_i / d x_j is exactly 0 for j >= i, and nonzero for every j < i (so the check sees
    the gradients it must see)."""
    D = check_causal(tiny_lstm(positions=positions), random_images(rng, 3))
    P = R * C
    assert D.shape == (P, P)
    assert np.all(np.triu(D) == 0)
    assert np.all(D[np.tril_indices(P, -1)] > 1e-8)


def test_cheating_model_fails_the_check(rng):
    """Without the shift, the output for pixel i reads x_i: the check must say so."""
    model = tiny_lstm(shift=False)
    D = dependency(model, random_images(rng, 3))
    assert np.all(np.diag(D) > 0) and np.all(np.triu(D, 1) == 0)
    with pytest.raises(CausalityError, match=r"pixel i = 0 \(row 0, column 0\) depends on pixel j = 0"):
        check_causal(model, random_images(rng, 3))


def test_causal_mask_is_raster_order():
    """m[u, v] = 1 exactly when (u, v) comes before the centre in raster order (A), or is it (B)."""
    for k in (1, 3, 5):
        centre = (k // 2) * k + k // 2
        order = np.arange(k * k).reshape(k, k)
        np.testing.assert_array_equal(causal_mask("A", k), order < centre)
        np.testing.assert_array_equal(causal_mask("B", k), order <= centre)
    with pytest.raises(ValueError, match="odd"):
        causal_mask("A", 4)
    with pytest.raises(ValueError, match='"A"'):
        causal_mask("C", 3)


@pytest.mark.parametrize("kinds,causal", [("A", True), ("AB", True), ("ABB", True), ("AA", True), ("BA", True),
                                          ("B", False), ("BB", False)])
def test_masked_convolutions_by_gradients(rng, kinds, causal):
    """Causal exactly when some layer is of type A: every path from x_j to output i then moves
    strictly back in raster order once (A then B as in PixelCNN; B then A works as well).
    Only B layers: the output sees its own pixel."""
    model = MaskedConvModel(kinds)
    x = random_images(rng, 4)
    if causal:
        D = check_causal(model, x)
        assert D[C + 1, 0] > 0 or len(kinds) == 1                               # a diagonal neighbour, via 2 layers
        assert D[C + 1, 1] > 0                                                   # the pixel above
    else:
        with pytest.raises(CausalityError):
            check_causal(model, x)


# ----------------------------------------------------------------------------- likelihood

def test_nll_equals_pixel_by_pixel_log_probs(rng):
    """One teacher-forced pass against P steps of the cell with the state carried (the sampler's
    code path), in float64; and the masked convolution, recomputed on the image drawn so far."""
    x = random_images(rng, 6)
    for model in (tiny_lstm(scale=2.0), MaskedConvModel("AB")):
        one_pass = nll(model, x)
        step_by_step = -sequential_log_probs(model, x).sum(axis=(1, 2))
        assert one_pass.shape == (6,)
        np.testing.assert_allclose(one_pass, step_by_step, rtol=1e-10, atol=1e-10)


def test_probabilities_of_every_image_sum_to_one():
    """Exact enumeration of the 2^9 images of 3 x 3: a causal model is a distribution; the
    cheating model's one-pass probabilities are not (the check can fail), while the conditionals
    it is sampled from, computed pixel by pixel, are."""
    shape = (3, 3)
    images = all_images(shape)
    for model in (tiny_lstm(shape, scale=2.0), tiny_lstm(shape, positions=False), MaskedConvModel("AB", shape)):
        assert math.isclose(np.exp(-nll(model, images)).sum(), 1.0, rel_tol=1e-12)
    cheat = sharp_lstm(shape, shift=False)
    assert abs(np.exp(-nll(cheat, images)).sum() - 1.0) > 0.1
    # what the sampler draws from (pixel i computed with zeros from i on) is a distribution
    sequential = sequential_log_probs(cheat, images).sum(axis=(1, 2))
    assert math.isclose(np.exp(sequential).sum(), 1.0, rel_tol=1e-12)


def test_nll_loss_is_the_mean_nll(rng):
    model = tiny_lstm(scale=1.5)
    x = random_images(rng, 7)
    loss = nll_loss(model, torch.from_numpy(x.astype(np.uint8)))
    assert loss.requires_grad
    assert math.isclose(loss.item(), nll(model, x).mean(), rel_tol=1e-12)


def test_image_batches_draw_from_the_set(rng):
    x = random_images(rng, 9)
    batches = image_batches(x, 5)
    b1, b2 = batches(np.random.default_rng(3)), batches(np.random.default_rng(3))
    assert b1.shape == (5, R, C) and b1.dtype == torch.float32 and torch.equal(b1, b2)
    idx = np.random.default_rng(3).integers(0, 9, 5)
    np.testing.assert_array_equal(b1.numpy(), x[idx])


def test_bits_per_dim():
    assert bits_per_dim(64 * math.log(2)) == pytest.approx(1.0, rel=1e-15)
    np.testing.assert_allclose(bits_per_dim(np.array([784 * math.log(2) * 0.5, 0.0]), 784), [0.5, 0.0])
    assert bits_per_dim(10.0, 10) == pytest.approx(1 / math.log(2))
    with pytest.raises(ValueError, match="n_pixels"):
        bits_per_dim(1.0, 0)


# ----------------------------------------------------------------------------- sampling

def exact_probabilities(model, shape):
    return np.exp(-nll(model, all_images(shape)))


def chi_square(counts, probs):
    expected = counts.sum() * probs
    return np.sum((counts - expected) ** 2 / expected)


def test_sample_frequencies_match_the_model():
    """4000 samples of the 16 images of 2 x 2: Pearson's statistic below the 0.999 quantile of
    chi-square with 15 degrees of freedom; the same counts against the product of the model's
    marginals (a wrong distribution) far above it."""
    shape, n = (2, 2), 4000
    model = sharp_lstm(shape)
    probs = exact_probabilities(model, shape)
    assert probs.min() > 5 / n                                                  # the chi-square approximation holds
    x = sample(model, n, np.random.default_rng(1))
    assert x.shape == (n, 2, 2) and x.dtype == np.uint8
    codes = x.reshape(n, 4) @ (2 ** np.arange(3, -1, -1))
    counts = np.bincount(codes, minlength=16)
    bound = chi2.ppf(0.999, df=15)
    assert chi_square(counts, probs) < bound
    bits = all_images(shape).reshape(16, 4)
    marg = probs @ bits                                                          # (4,) p(x_i = 1)
    independent = np.prod(np.where(bits == 1, marg, 1 - marg), axis=1)
    assert chi_square(counts, independent) > 3 * bound
    np.testing.assert_array_equal(sample(model, 50, 7), sample(model, 50, 7))   # a seed repeats


def test_completion_frequencies_match_the_conditional():
    """The top row of 2 x 2 given: the bottom row is drawn from p(x_2, x_3 | x_0, x_1), computed
    by enumeration."""
    shape, n = (2, 2), 3000
    model = sharp_lstm(shape)
    probs = exact_probabilities(model, shape).reshape(4, 4)                      # [top code, bottom code]
    top = np.array([[[1, 0]]] * n)
    x = complete(model, top, np.random.default_rng(2))
    assert np.all(x[:, 0] == top[:, 0])
    counts = np.bincount(x[:, 1] @ np.array([2, 1]), minlength=4)
    conditional = probs[2] / probs[2].sum()
    assert chi_square(counts, conditional) < chi2.ppf(0.999, df=3)
    assert chi_square(counts, probs.sum(axis=0)) > chi2.ppf(0.999, df=3)        # the unconditional: wrong


def test_cheating_model_samples_from_its_logits_given_zeros():
    """The non-causal model is sampled by recomputing on the image drawn so far (pixels not yet
    drawn are 0): pixel i is drawn from sigmoid(logit_i) with x_i = 0 in its input."""
    shape = (2, 2)
    model = sharp_lstm(shape, shift=False)
    x = sample(model, 5, 0)
    with torch.no_grad():
        first = torch.sigmoid(model(torch.zeros(1, 2, 2, dtype=torch.float64)))[0, 0, 0].item()
    u = np.random.default_rng(0).random(5)
    np.testing.assert_array_equal(x[:, 0, 0], u < first)


# ----------------------------------------------------------------------------- baselines

def test_bernoulli_baseline_by_hand(rng):
    x = random_images(rng, 11)
    x[:, 0, 0] = 0                                                               # a pixel never on
    model = BernoulliPixels(alpha=0.5).fit(x)
    for r, c in [(0, 0), (1, 2), (2, 3)]:
        assert model.q[r, c] == pytest.approx((x[:, r, c].sum() + 0.5) / (11 + 1.0))
    new = random_images(np.random.default_rng(5), 4)
    new[0, 0, 0] = 1
    expected = [-sum(math.log(model.q[r, c] if new[n, r, c] else 1 - model.q[r, c])
                     for r in range(R) for c in range(C)) for n in range(4)]
    np.testing.assert_allclose(model.nll(new), expected, rtol=1e-12)
    assert np.isinf(BernoulliPixels(alpha=0).fit(x).nll(new)[0])                # why smoothing
    s = model.sample(20000, 0)
    assert np.abs(s.mean(axis=0) - model.q).max() < 0.015                       # 4.5 standard errors


def test_logistic_baseline_matches_sklearn(rng):
    """alpha = 0 and weight penalty l2: per pixel, sklearn's L2 logistic regression with
    C = 1 / l2 (its intercept is not penalised either); pixel 0 has no inputs: log(n1 / n0)."""
    x = random_images(rng, 300)
    l2 = 2.0
    model = LogisticAutoregressive(l2=l2, alpha=0.0).fit(x, tol=1e-12)
    X = x.reshape(300, -1)
    assert model.b[0] == pytest.approx(math.log(X[:, 0].mean() / (1 - X[:, 0].mean())), rel=1e-9)
    for i in (1, 5, R * C - 1):
        ref = LogisticRegression(C=1 / l2, tol=1e-12, max_iter=10_000).fit(X[:, :i], X[:, i])
        np.testing.assert_allclose(model.W[i, :i], ref.coef_[0], atol=1e-5)
        assert model.b[i] == pytest.approx(ref.intercept_[0], abs=1e-5)
    assert np.all(np.triu(model.W) == 0)
    a = model.logits(x)
    np.testing.assert_allclose(model.nll(x), (np.logaddexp(0, a) - x * a).sum(axis=(1, 2)), rtol=1e-12)


def test_logistic_baseline_without_weights_is_the_bernoulli_one(rng):
    """A huge weight penalty leaves the biases, whose pseudo-counts give add-alpha frequencies,
    also for a pixel constant in training."""
    x = random_images(rng, 40)
    x[:, 2, 3] = 1
    big = LogisticAutoregressive(l2=1e12, alpha=0.7).fit(x)
    bern = BernoulliPixels(alpha=0.7).fit(x)
    np.testing.assert_allclose(1 / (1 + np.exp(-big.b)), bern.q.ravel(), rtol=1e-8)
    np.testing.assert_allclose(big.nll(x), bern.nll(x), rtol=1e-7)


def test_logistic_sampling_matches_its_probabilities():
    shape, n = (2, 2), 4000
    x = random_images(np.random.default_rng(0), 200, shape)
    model = LogisticAutoregressive(l2=0.1, alpha=1.0).fit(x)
    probs = np.exp(-model.nll(all_images(shape)))
    assert math.isclose(probs.sum(), 1.0, rel_tol=1e-12)
    s = model.sample(n, 3)
    counts = np.bincount(s.reshape(n, 4) @ (2 ** np.arange(3, -1, -1)), minlength=16)
    assert chi_square(counts, probs) < chi2.ppf(0.999, df=15)


# ----------------------------------------------------------------------------- validation

def test_inputs_are_validated(rng):
    model = tiny_lstm()
    good = random_images(rng, 2)
    with pytest.raises(ValueError, match=r"images must have shape \(N, R, C\) = \(2, 3, 4\), got \(2, 4, 3\)"):
        nll(model, good.transpose(0, 2, 1))
    with pytest.raises(ValueError, match=r"binary pixels \(0 or 1\), got 0.5 at index \(0, 0, 0\)"):
        nll(model, np.where(np.arange(12).reshape(3, 4) == 0, 0.5, good))
    with pytest.raises(TypeError, match="image_shape"):
        sample(nn.Linear(2, 2), 3)
    with pytest.raises(ValueError, match="r < R = 3"):
        complete(model, good)
    with pytest.raises(TypeError, match="rng"):
        sample(model, 2, rng=np.random.RandomState(0))
    with pytest.raises(ValueError, match="n must be a positive int"):
        sample(model, 0)
    with pytest.raises(ValueError, match="image_shape must be a pair"):
        PixelLSTM(4, (8,))
    with pytest.raises(ValueError, match=r"batch must be an \(N, R, C\) = \(N, 3, 4\) tensor"):
        nll_loss(model, torch.zeros(2, 4, 3))
    with pytest.raises(RuntimeError, match="fit"):
        BernoulliPixels().nll(good)
    with pytest.raises(ValueError, match="alpha"):
        LogisticAutoregressive(alpha=-1)
