"""Autoregressive models of binary images, pixel by pixel (van den Oord et al. 2016, PixelRNN):
a raster-scan LSTM, the causal ordering that makes it a distribution, two baselines fitted in
closed form, likelihoods in nats and bits per dimension, sampling and completion.

Shape legend:
    N  batch of images                  x (N, R, C)  pixels in {0, 1} (float for the models)
    R  rows, C columns                  logits (N, R, C)  logit_i = log p(x_i=1 | x_<i) / p(x_i=0 | x_<i)
    P  pixels, P = R C                  raster index i = r C + c  (row by row, left to right)
    H  hidden size                      s (N, P, D)  inputs of the LSTM, D = 1 + R + C
    k  kernel size of a masked convolution

The chain rule in raster order is exact for every distribution over images,

    p(x) = prod_{i=0}^{P-1} p(x_i | x_0, ..., x_{i-1}),      -log p(x) = sum_i -log p(x_i | x_<i)

and a network gives each factor a Bernoulli, p(x_i = 1 | x_<i) = sigmoid(logit_i), as long as
logit_i is a function of x_<i only: d logit_i / d x_j = 0 for every j >= i (`check_causal`).
The raster LSTM gets this by its input: at step i it reads the previous pixel, the image
shifted right by one (`shift_right`), with START before the first. A convolution gets it by a
mask on its kernel (`causal_mask`, `MaskedConv2d`): type A on the image, type B after it.

    nll(model, x)   -> (N,)  nats per image, sum over the P pixels
    bits_per_dim    nats / (P ln 2)
    sample, complete: draw pixel i from sigmoid(logit_i), feed it back in, i = 0, ..., P-1
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.training import evaluating
from course_lib.validation import check_shape, is_int, is_real

__all__ = [
    "START",
    "shift_right",
    "causal_mask",
    "MaskedConv2d",
    "PixelLSTM",
    "dependency",
    "check_causal",
    "CausalityError",
    "nll_loss",
    "image_batches",
    "nll",
    "bits_per_dim",
    "sequential_log_probs",
    "sample",
    "complete",
    "BernoulliPixels",
    "LogisticAutoregressive",
]

START = 0.5          # what the model reads before the first pixel: neither off (0) nor on (1)


# ----------------------------------------------------------------------------- validation

def _check_images(name, images, shape=None, binary=True):
    """(N, R, C) array-like -> float64 array; R, C must equal `shape` when given."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    dims = {} if shape is None else {"R": shape[0], "C": shape[1]}
    arr = check_shape(name, images, ("N", "R", "C"), dims)
    if arr.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one image, got shape {arr.shape}")
    if binary and not np.all((arr == 0) | (arr == 1)):
        bad = tuple(int(i) for i in np.argwhere((arr != 0) & (arr != 1))[0])
        raise ValueError(f"{name} must hold binary pixels (0 or 1), got {arr[bad]} at index {bad}")
    return arr


def _check_shape2(name, shape):
    if not (isinstance(shape, (tuple, list)) and len(shape) == 2 and all(is_int(s) and s >= 1 for s in shape)):
        raise ValueError(f"{name} must be a pair (R, C) of positive ints, got {shape!r}")
    return int(shape[0]), int(shape[1])


def _check_rng(rng):
    if is_int(rng) and rng >= 0:
        return np.random.default_rng(int(rng))
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator or a non-negative int seed, "
                        f"got {type(rng).__name__}")
    return rng


def _check_model(model):
    if not isinstance(model, nn.Module) or not hasattr(model, "image_shape"):
        raise TypeError("model must be a torch.nn.Module with an image_shape (R, C) whose forward maps "
                        f"images (N, R, C) to logits (N, R, C), such as PixelLSTM; got {type(model).__name__}")
    return model.image_shape


def _dtype(model):
    return next(model.parameters()).dtype


# ----------------------------------------------------------------------------- causal order

def shift_right(x, start=START):
    """The sequence each step reads: the previous element, `start` before the first.

        s_0 = start,   s_i = x_{i-1}  for i = 1, ..., P-1

    Args:
        x: (N, P) tensor, a batch of sequences (images flattened in raster order).
        start: the value read at step 0.
    Returns:
        s: (N, P) tensor of x's dtype.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        raise ValueError(f"x must be an (N, P) tensor, got {type(x).__name__} of shape {tuple(getattr(x, 'shape', ()))}")
    first = torch.full_like(x[:, :1], float(start))                            # (N, 1)
    return torch.cat([first, x[:, :-1]], dim=1)                                 # (N, P)


def causal_mask(kind, size):
    """The mask of a k x k convolution that sees only pixels before the centre in raster order.

        m[u, v] = 1   for u < k // 2                     (the rows above the centre)
        m[u, v] = 1   for u = k // 2 and v < k // 2      (left of the centre, same row)
        m[k//2, k//2] = 1 for kind "B", 0 for kind "A"   (the centre pixel itself)
        m[u, v] = 0   otherwise                          (right of the centre, rows below)

    Type A is for the first layer, which reads the image: output i must not see x_i. Type B is
    for the layers after it, whose input at position i already depends on x_<i only.

    Args:
        kind: "A" or "B".
        size: k, an odd int >= 1.
    Returns:
        m: (k, k) float64 of 0s and 1s.
    """
    if kind not in ("A", "B"):
        raise ValueError(f'kind must be "A" (first layer: excludes the centre) or "B" (includes it), got {kind!r}')
    if not is_int(size) or size < 1 or size % 2 == 0:
        raise ValueError(f"size must be an odd positive int (a centred kernel), got {size!r}")
    m = np.zeros((size, size))
    c = size // 2
    m[:c, :] = 1
    m[c, :c] = 1
    m[c, c] = 1.0 if kind == "B" else 0.0
    return m


class MaskedConv2d(nn.Conv2d):
    """A k x k convolution whose weights are multiplied by causal_mask(kind, k) at every call.

        out[:, o, r, c] = sum_{q, u, v} (W[o, q] * m)[u, v] x[:, q, r + u - k//2, c + v - k//2] + b[o]

    (zero padding, stride 1: the output has the input's R x C). A masked weight is exactly 0 in
    the product, so the gradient of an output with respect to a masked input is exactly 0.

    Args:
        in_channels, out_channels: channels of the input and the output.
        kernel_size: k, odd.
        kind: "A" or "B", see causal_mask.
    """

    def __init__(self, in_channels, out_channels, kernel_size, kind):
        mask = causal_mask(kind, kernel_size)
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.kind = kind
        self.register_buffer("mask", torch.as_tensor(mask, dtype=self.weight.dtype))

    def forward(self, x):
        """x: (N, in_channels, R, C) -> (N, out_channels, R, C)."""
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


# ----------------------------------------------------------------------------- the model

class PixelLSTM(nn.Module):
    """An LSTM over the pixels in raster order, predicting each from the ones before it.

        x_seq = x reshaped to (N, P) in raster order, i = r C + c
        s_i = [x_{i-1} | onehot(r_i) | onehot(c_i)]     (N, P, 1 + R + C); x_{-1} = START
        h_i, c_i = LSTM(s_i, h_{i-1}, c_{i-1})           (N, P, H); h_{-1} = c_{-1} = 0
        logit_i = h_i w + b                              w (H,): p(x_i = 1 | x_<i) = sigmoid(logit_i)

    The one-hot row and column of pixel i (positions=True) tell the LSTM where it is; the
    pixel above pixel i was read C steps earlier. With shift=False the model reads x_i itself
    at step i instead of x_{i-1}: it is not causal, and exists to show what goes wrong.
    In torch's storage: the LSTM maps to course_lib.lstm with course_lib.training.torch_to_numpy,
    w = out.weight[0], b = out.bias[0].

    Args:
        hidden_size: H.
        image_shape: (R, C).
        positions: feed the one-hot row and column (True) or only the pixel (False, D = 1).
        shift: read x_{i-1} at step i (True: causal) or x_i (False: the cheating model).
    """

    def __init__(self, hidden_size=64, image_shape=(8, 8), positions=True, shift=True):
        super().__init__()
        if not is_int(hidden_size) or hidden_size < 1:
            raise ValueError(f"hidden_size must be a positive int, got {hidden_size!r}")
        R, C = _check_shape2("image_shape", image_shape)
        self.image_shape, self.hidden_size = (R, C), int(hidden_size)
        self.positions, self.shift = bool(positions), bool(shift)
        P = R * C
        where = torch.zeros(P, R + C)                                           # (P, R + C)
        where[torch.arange(P), torch.arange(P) // C] = 1.0                       # row of pixel i
        where[torch.arange(P), R + torch.arange(P) % C] = 1.0                    # column of pixel i
        self.register_buffer("where", where if positions else where[:, :0])
        self.rnn = nn.LSTM(1 + self.where.shape[1], hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, 1)

    def inputs(self, x):
        """x: (N, R, C) float tensor -> s: (N, P, D), what the LSTM reads at each step."""
        N = x.shape[0]
        seq = x.reshape(N, -1)                                                  # (N, P) raster order
        read = shift_right(seq) if self.shift else seq
        where = self.where.to(x.dtype).expand(N, -1, -1)                        # (N, P, R + C)
        return torch.cat([read[:, :, None], where], dim=2)                      # (N, P, D)

    def forward(self, x):
        """x: (N, R, C) float tensor of pixels -> logits (N, R, C), teacher-forced (one pass)."""
        h, _ = self.rnn(self.inputs(x))                                          # (N, P, H)
        return self.out(h)[:, :, 0].reshape(x.shape)                            # (N, R, C)

    def step(self, x_prev, i, state=None):
        """One step of the recurrence: the logit of pixel i, given the pixel before it.

        Args:
            x_prev: (N,) tensor, x_{i-1} (use START for i = 0).
            i: the raster index of the pixel to predict, 0 <= i < P.
            state: the (h, c) the previous step returned, or None at i = 0.
        Returns:
            (logit (N,), state).
        """
        N = x_prev.shape[0]
        s = torch.cat([x_prev[:, None], self.where[i].to(x_prev.dtype).expand(N, -1)], dim=1)   # (N, D)
        h, state = self.rnn(s[:, None, :], state)                               # (N, 1, H)
        return self.out(h[:, 0])[:, 0], state                                   # (N,)


# ----------------------------------------------------------------------------- causality by gradients

class CausalityError(AssertionError):
    """A model's output for pixel i depends on a pixel j >= i."""


def dependency(model, images):
    """Which inputs each output sees, measured by autograd.

        D[i, j] = max_n | d logit_{n, i} / d x_{n, j} |        (raster indices i, j)

    A causal model has D[i, j] = 0 exactly for every j >= i (D is strictly lower triangular).

    Args:
        model: a callable f(x) -> logits mapping an (N, R, C) float tensor to (N, R, C), such as
            a PixelLSTM (its parameters' dtype is used for x) or any function of the pixels.
        images: (N, R, C) pixels where the gradients are taken (values need not be binary).
    Returns:
        D: (P, P) float64, P = R C.
    """
    x = _check_images("images", images, binary=False)
    N, R, C = x.shape
    dtype = _dtype(model) if isinstance(model, nn.Module) and any(True for _ in model.parameters()) \
        else torch.float64
    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    logits = model(xt)
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (N, R, C):
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"model must map images (N, R, C) = ({N}, {R}, {C}) to logits of the same shape, got {got}")
    flat = logits.reshape(N, R * C)                                             # (N, P)
    D = np.zeros((R * C, R * C))
    for i in range(R * C):                       # the images are independent: one backward per output
        (g,) = torch.autograd.grad(flat[:, i].sum(), xt, retain_graph=True, allow_unused=True)
        if g is not None:
            D[i] = g.reshape(N, R * C).abs().max(dim=0).values.double().numpy()
    return D


def check_causal(model, images):
    """dependency(model, images), after checking that it is strictly lower triangular.

        d logit_i / d x_j == 0   for every j >= i        (no output sees its own or a later pixel)

    Returns:
        D: (P, P), see dependency.
    Raises:
        CausalityError naming how many pairs (i, j >= i) have a nonzero gradient, and the first.
    """
    D = dependency(model, images)
    C = np.shape(images)[2]
    bad = np.argwhere(np.triu(D) != 0)                                          # pairs with j >= i
    if bad.size:
        i, j = (int(v) for v in bad[0])
        raise CausalityError(
            f"the model is not causal: {len(bad)} pairs (i, j) with j >= i have d logit_i / d x_j != 0; "
            f"the first: the output for pixel i = {i} (row {i // C}, column {i % C}) depends on pixel "
            f"j = {j} (row {j // C}, column {j % C}), |gradient| = {D[i, j]:.3g}")
    return D


# ----------------------------------------------------------------------------- loss, batches, likelihood

def nll_loss(model, batch):
    """The training loss: the negative log-likelihood in nats per image, averaged over the batch.

        loss = (1 / N) sum_n sum_i [ softplus(logit_{n,i}) - x_{n,i} logit_{n,i} ]
             = -(1 / N) sum_n log p(x_n)

    Args:
        model: a PixelLSTM (or a module with the same forward).
        batch: (N, R, C) tensor of 0/1 pixels (any dtype; cast to the model's).
    Returns:
        a scalar tensor.
    """
    shape = _check_model(model)
    if not isinstance(batch, torch.Tensor) or batch.ndim != 3 or tuple(batch.shape[1:]) != shape:
        got = tuple(batch.shape) if isinstance(batch, torch.Tensor) else type(batch).__name__
        raise ValueError(f"batch must be an (N, R, C) = (N, {shape[0]}, {shape[1]}) tensor of pixels, got {got}")
    x = batch.to(_dtype(model))
    logits = model(x)                                                           # (N, R, C)
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]


def image_batches(images, batch_size):
    """A batch function for course_lib.training.train: random images of a set, with replacement.

        batch = images[rng.integers(0, N, batch_size)]

    Args:
        images: (N, R, C) 0/1 pixels.
        batch_size: images per batch.
    Returns:
        batches(rng) -> (batch_size, R, C) float32 tensor.
    """
    x = _check_images("images", images)
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    data = torch.from_numpy(x.astype(np.float32))

    def batches(rng):
        return data[torch.from_numpy(rng.integers(0, len(data), batch_size))]

    return batches


@torch.no_grad()
def nll(model, images):
    """-log p(x) of each image, in nats: one teacher-forced pass, computed in float64.

        nll_n = sum_i softplus(logit_{n,i}) - x_{n,i} logit_{n,i} = -sum_i log p(x_{n,i} | x_{n,<i})

    Args:
        model: a PixelLSTM (or a module with the same forward and image_shape).
        images: (N, R, C) 0/1 pixels.
    Returns:
        (N,) float64, nats per image.
    """
    shape = _check_model(model)
    x = _check_images("images", images, shape)
    with evaluating(model):
        logits = model(torch.from_numpy(x).to(_dtype(model))).double()           # (N, R, C)
    per_pixel = F.binary_cross_entropy_with_logits(logits, torch.from_numpy(x), reduction="none")
    return per_pixel.sum(dim=(1, 2)).numpy()


def bits_per_dim(nats_per_image, n_pixels=64):
    """A negative log-likelihood in nats per image, in bits per pixel (PixelRNN's unit).

        bits/dim = nats / (n_pixels ln 2)

    Args:
        nats_per_image: a number or an array of them.
        n_pixels: P, the dimensions of one image.
    Returns:
        float (or array), bits per dimension.
    """
    if not is_int(n_pixels) or n_pixels < 1:
        raise ValueError(f"n_pixels must be a positive int, got {n_pixels!r}")
    if is_real(nats_per_image):
        return float(nats_per_image) / (n_pixels * math.log(2))
    return np.asarray(nats_per_image, dtype=np.float64) / (n_pixels * math.log(2))


# ----------------------------------------------------------------------------- pixel by pixel

@torch.no_grad()
def _pixel_by_pixel(model, given, n_given, rng):
    """Pixels 0..n_given-1 from `given`, the rest drawn; returns (pixels (N, P), log_p (N, P)).

    A causal PixelLSTM steps its recurrence, carrying (h, c): P steps of the cell. Any other
    model is run, for each pixel i, on the image with the pixels before i and zeros from i on:
    P passes. That is also how the cheating model (shift=False) is sampled and scored: it never
    sees the pixel it predicts.
    """
    R, C = model.image_shape
    P = R * C
    dtype = _dtype(model)
    x = torch.zeros(given.shape[0], P, dtype=dtype)                             # (N, P)
    x[:, :n_given] = torch.from_numpy(given[:, :n_given]).to(dtype)
    log_p = np.zeros((given.shape[0], P))
    stepping = isinstance(model, PixelLSTM) and model.shift
    state, prev = None, torch.full((given.shape[0],), START, dtype=dtype)
    before = torch.zeros(P, dtype=dtype)                                        # 1 at the pixels < i
    for i in range(P):
        if stepping:
            logit, state = model.step(prev, i, state)                           # (N,)
        else:
            logit = model((x * before).reshape(-1, R, C)).reshape(-1, P)[:, i]
            before[i] = 1.0
        logit = logit.double().numpy()
        if i >= n_given:
            p1 = _sigmoid(logit)
            x[:, i] = torch.from_numpy((rng.random(len(p1)) < p1).astype(np.float64)).to(dtype)
        xi = x[:, i].double().numpy()
        log_p[:, i] = xi * logit - np.logaddexp(0.0, logit)                     # log sigmoid(+-logit)
        prev = x[:, i]
    return x.double().numpy(), log_p


def sequential_log_probs(model, images):
    """log p(x_i | x_<i) of every pixel, computed pixel by pixel in the order sample draws them.

        for i = 0, ..., P-1:  logit_i from the pixels before i (the LSTM: one step of the cell,
                              state carried; another model: a pass on x_<i with zeros from i on)
                              log_p_i = x_i logit_i - log(1 + exp(logit_i))

    For a causal model, -log_p.sum((1, 2)) equals nll(model, images), the one-pass value. For any
    model these are the conditionals `sample` draws from, so they define a distribution.

    Args:
        model: a PixelLSTM (or a module with the same forward and image_shape).
        images: (N, R, C) 0/1 pixels.
    Returns:
        log_p: (N, R, C) float64, in nats.
    """
    R, C = _check_model(model)
    x = _check_images("images", images, (R, C))
    with evaluating(model):
        _, log_p = _pixel_by_pixel(model, x.reshape(len(x), R * C), R * C, None)
    return log_p.reshape(x.shape)


def sample(model, n, rng=0):
    """n images drawn from the model, pixel by pixel in raster order (P sequential steps).

        for i = 0, ..., P-1:   p_i = sigmoid(logit_i(x_<i))      (n,)
                               u_i = rng.random(n);   x_i = 1 where u_i < p_i, else 0

    The uniform numbers are drawn pixel after pixel in raster order, n at a time: the same
    generator state gives the same images, and any sampler fed those numbers must agree.

    Args:
        model: a PixelLSTM (or a module with the same forward and image_shape).
        n: the number of images, drawn as one batch.
        rng: np.random.Generator or an int seed.
    Returns:
        (n, R, C) uint8 images.
    """
    R, C = _check_model(model)
    if not is_int(n) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    rng = _check_rng(rng)
    with evaluating(model):
        x, _ = _pixel_by_pixel(model, np.zeros((n, R * C)), 0, rng)
    return x.reshape(n, R, C).astype(np.uint8)


def complete(model, top, rng=0):
    """Complete images whose first rows are given: the rows below are drawn pixel by pixel.

        x_i = top_i for i < r C;     x_i ~ Bernoulli(sigmoid(logit_i(x_<i)))  for i >= r C
        (rng.random(N) for each drawn pixel, in raster order, as in sample)

    Args:
        model: a PixelLSTM (or a module with the same forward and image_shape).
        top: (N, r, C) 0/1 pixels, the first r < R rows of each image (e.g. the top halves).
        rng: np.random.Generator or an int seed.
    Returns:
        (N, R, C) uint8 images, whose first r rows are `top`.
    """
    R, C = _check_model(model)
    t = _check_images("top", top, binary=True)
    if t.shape[2] != C or not 0 <= t.shape[1] < R:
        raise ValueError(f"top must have shape (N, r, C) = (N, r, {C}) with r < R = {R} rows, got {t.shape}")
    rng = _check_rng(rng)
    N, r, _ = t.shape
    given = np.zeros((N, R * C))
    given[:, :r * C] = t.reshape(N, r * C)
    with evaluating(model):
        x, _ = _pixel_by_pixel(model, given, r * C, rng)
    return x.reshape(N, R, C).astype(np.uint8)


# ----------------------------------------------------------------------------- baselines

def _softplus(a):
    return np.logaddexp(0.0, a)


def _sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))          # no overflow for large |a|


class BernoulliPixels:
    """Independent pixels: p(x) = prod_i q_i^{x_i} (1 - q_i)^{1 - x_i}, fitted with add-alpha smoothing.

        q_i = (sum_n x_{n,i} + alpha) / (N + 2 alpha)
        nll_n = -sum_i [ x_{n,i} log q_i + (1 - x_{n,i}) log(1 - q_i) ]

    alpha > 0 keeps a pixel that is always off (or on) in training from getting probability 0
    (an infinite nll) on a new image.

    Args:
        alpha: the pseudo-count added to both outcomes of every pixel, >= 0.
    Attributes (after fit):
        q: (R, C) float64, p(x_i = 1).
    """

    def __init__(self, alpha=1.0):
        if not (is_real(alpha) and math.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
        self.alpha, self.q = float(alpha), None

    def fit(self, images):
        """images: (N, R, C) 0/1 pixels. Returns self."""
        x = _check_images("images", images)
        self.q = (x.sum(axis=0) + self.alpha) / (len(x) + 2 * self.alpha)       # (R, C)
        return self

    def _fitted(self):
        if self.q is None:
            raise RuntimeError("call fit(images) first")
        return self.q.shape

    def nll(self, images):
        """(N, R, C) 0/1 pixels -> (N,) nats per image."""
        x = _check_images("images", images, self._fitted())
        with np.errstate(divide="ignore"):
            log_q, log_1q = np.log(self.q), np.log1p(-self.q)
        return -(np.where(x == 1, log_q, 0.0) + np.where(x == 0, log_1q, 0.0)).sum(axis=(1, 2))

    def sample(self, n, rng=0):
        """n images, every pixel drawn on its own: x_i ~ Bernoulli(q_i). Returns (n, R, C) uint8."""
        shape = self._fitted()
        if not is_int(n) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        rng = _check_rng(rng)
        return (rng.random((n, *shape)) < self.q).astype(np.uint8)


class LogisticAutoregressive:
    """Each pixel by logistic regression on the pixels before it in raster order (a fully
    visible sigmoid belief network, Neal 1992; NADE without the hidden layer).

        logit_i = b_i + sum_{j < i} W[i, j] x_j        W (P, P) strictly lower triangular
        p(x_i = 1 | x_<i) = sigmoid(logit_i)

    fitted pixel by pixel (the objective separates) by Newton's method to the minimum of

        sum_n [softplus(logit_{n,i}) - x_{n,i} logit_{n,i}]  +  (l2 / 2) sum_{j<i} W[i, j]^2
              + alpha [softplus(b_i) + softplus(-b_i)]

    The last term is alpha pseudo-observations of each outcome with every input 0: with W = 0
    the optimum is BernoulliPixels' add-alpha estimate, and a pixel constant in training keeps
    a finite logit.

    Args:
        l2: the weight penalty, >= 0. alpha: the pseudo-count on each bias, >= 0.
    Attributes (after fit):
        W: (P, P) float64, strictly lower triangular; b: (P,) float64.
    """

    def __init__(self, l2=1.0, alpha=1.0):
        for name, value in [("l2", l2), ("alpha", alpha)]:
            if not (is_real(value) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        self.l2, self.alpha = float(l2), float(alpha)
        self.W = self.b = self.image_shape = None

    def fit(self, images, tol=1e-9, max_iter=100):
        """images: (N, R, C) 0/1 pixels. Newton steps until the largest gradient entry is below
        tol * N for every pixel. Returns self."""
        from threadpoolctl import threadpool_limits  # installed with scikit-learn

        x = _check_images("images", images)
        with threadpool_limits(1):                       # small matrices: one BLAS thread is fastest
            self.W, self.b = self._fit(x.reshape(len(x), -1), tol, max_iter)
        self.image_shape = x.shape[1:]
        return self

    def _fit(self, X, tol, max_iter):
        N, P = X.shape
        W, b = np.zeros((P, P)), np.zeros(P)
        for i in range(P):
            Z = np.concatenate([np.ones((N, 1)), X[:, :i]], axis=1)                # (N, 1 + i)
            theta = np.zeros(1 + i)
            y = X[:, i]
            for _ in range(max_iter):
                grad, hess = self._grad_hess(Z, y, theta)
                if np.abs(grad).max() < tol * N:
                    break
                step = np.linalg.solve(hess, grad)
                loss = self._loss(Z, y, theta)
                t = 1.0
                while self._loss(Z, y, theta - t * step) > loss and t > 1e-10:   # backtracking
                    t /= 2
                theta = theta - t * step
            else:
                raise RuntimeError(f"Newton's method did not converge for pixel {i} in {max_iter} "
                                   "iterations; with l2 = 0 and alpha = 0 a separable pixel has no optimum")
            b[i], W[i, :i] = theta[0], theta[1:]
        return W, b

    def _loss(self, Z, y, theta):
        a = Z @ theta
        return (np.sum(_softplus(a) - y * a) + 0.5 * self.l2 * theta[1:] @ theta[1:]
                + self.alpha * (_softplus(theta[0]) + _softplus(-theta[0])))

    def _grad_hess(self, Z, y, theta):
        s = _sigmoid(Z @ theta)                                                  # (N,)
        grad = Z.T @ (s - y)
        hess = (Z * (s * (1 - s))[:, None]).T @ Z
        sb = _sigmoid(theta[0])
        grad[0] += self.alpha * (2 * sb - 1)                                     # d/db of the pseudo-counts
        hess[0, 0] += 2 * self.alpha * sb * (1 - sb)
        grad[1:] += self.l2 * theta[1:]
        hess[np.arange(1, len(theta)), np.arange(1, len(theta))] += self.l2
        return grad, hess

    def _fitted(self):
        if self.W is None:
            raise RuntimeError("call fit(images) first")
        return self.image_shape

    def logits(self, images):
        """(N, R, C) pixels -> (N, R, C) logit_i = b_i + sum_{j<i} W[i, j] x_j."""
        x = _check_images("images", images, self._fitted())
        return (x.reshape(len(x), -1) @ self.W.T + self.b).reshape(x.shape)

    def nll(self, images):
        """(N, R, C) 0/1 pixels -> (N,) nats per image."""
        x = _check_images("images", images, self._fitted())
        a = self.logits(x)
        return (_softplus(a) - x * a).sum(axis=(1, 2))

    def sample(self, n, rng=0):
        """n images drawn pixel by pixel: x_i ~ Bernoulli(sigmoid(logit_i)). Returns (n, R, C) uint8."""
        R, C = self._fitted()
        if not is_int(n) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        rng = _check_rng(rng)
        x = np.zeros((n, R * C))
        for i in range(R * C):
            x[:, i] = rng.random(n) < _sigmoid(x @ self.W[i] + self.b[i])
        return x.reshape(n, R, C).astype(np.uint8)
