"""Checks of the exercises of lecture 12 (PixelRNN).

Shape legend:
    N, M  images (training, test)       train (N, R, C), test (M, R, C)  0/1 pixels
    R, C  rows and columns              x (n, P)   pixels in raster order, i = r C + c
    P     pixels, P = R C               u (n, P)   uniform numbers, one per pixel
    k     kernel size                   m (k, k)   causal mask

Oracles: the mask is the definition by raster-order indices (position (u, v) of a k x k kernel
is number u k + v; the centre is (k//2) k + k//2), and course_lib.pixel_rnn.causal_mask; the
baseline is course_lib.pixel_rnn.BernoulliPixels and bits_per_dim; the sampler is
course_lib.pixel_rnn.LogisticAutoregressive.sample, which draws pixel i with the i-th row of
uniform numbers of its generator, so the same numbers given to the student must give the same
images.
"""

import numpy as np

from course_lib.exercises import attempt, exercise
from course_lib.grading import GradingError, check_output, check_scalar, returns, same
from course_lib.pixel_rnn import BernoulliPixels, LogisticAutoregressive, bits_per_dim, causal_mask

__all__ = ["check_causal_mask", "check_bernoulli_baseline", "check_sample_pixels"]


# ----------------------------------------------------------------------------- exercise 1

@exercise(1, "the causal mask of a convolution")
def check_causal_mask(student_causal_mask):
    """causal_mask(kind, k) -> (k, k), against raster-order indices and course_lib.pixel_rnn.causal_mask."""
    for k in (3, 5, 1, 7):
        order = np.arange(k * k).reshape(k, k)                                 # raster number of (u, v)
        centre = (k // 2) * k + k // 2
        for kind in ("A", "B"):
            case = f'kind = "{kind}", k = {k}'
            expected = (order < centre) if kind == "A" else (order <= centre)
            assert np.array_equal(expected, causal_mask(kind, k))
            got = attempt(student_causal_mask, kind, k, case=case)
            other = (order <= centre) if kind == "A" else (order < centre)
            own = (order == centre) & (kind == "B")                             # the centre, when kept
            mistakes = [
                ("types A and B swapped: type A excludes the centre, type B includes it", other),
                ("the whole centre row kept: in the centre row only the positions left of the centre come "
                 "before it", (order // k < k // 2) | ((order // k == k // 2) & ((order != centre) | own))),
                ("column-major order: raster order goes row by row, left to right", expected.T),
                ("the rows above only: the positions left of the centre, in its row, come before it too",
                 (order // k < k // 2) | own),
                ("the mask flipped: 1 at the positions after the centre", (order > centre) | own),
            ]
            check_output("m", got, expected.astype(float), mistakes,
                         hint="m[u, v] = 1 when u < k // 2, or u == k // 2 and v < k // 2; the centre is 1 for B only.",
                         case=case)
    return "your masks keep exactly the positions before the centre in raster order."


# ----------------------------------------------------------------------------- exercise 2

def _baseline_cases():
    """(case, train, test, alpha): a pixel never on in training is on in a test image."""
    for seed, N, M, R, C, alpha in [(0, 30, 7, 3, 4, 1.0), (1, 50, 5, 4, 6, 0.5), (2, 9, 11, 5, 2, 2.0)]:
        rng = np.random.default_rng(seed)
        train = (rng.random((N, R, C)) < rng.uniform(0.1, 0.9, (R, C))).astype(np.uint8)
        train[:, 0, 0] = 0
        test = (rng.random((M, R, C)) < 0.4).astype(np.uint8)
        test[0, 0, 0] = 1
        yield f"N = {N} training and M = {M} test images of {R} x {C}, alpha = {alpha}", train, test, alpha


def _score(test, q):
    """-sum_i [x_i log q_i + (1 - x_i) log(1 - q_i)] of each (flattened) test image."""
    x = test.reshape(len(test), -1).astype(float)
    with np.errstate(all="ignore"):
        return -(x * np.log(q) + (1 - x) * np.log(1 - q)).sum(axis=1)


@exercise(2, "the independent-pixel baseline")
def check_bernoulli_baseline(bernoulli_baseline):
    """bernoulli_baseline(train, test, alpha) -> (nll (M,), bits), against BernoulliPixels and bits_per_dim."""
    for case, train, test, alpha in _baseline_cases():
        model = BernoulliPixels(alpha).fit(train)
        expected_nll = model.nll(test)
        P = train.shape[1] * train.shape[2]
        expected_bits = bits_per_dim(expected_nll.mean(), P)
        with np.errstate(all="ignore"):                     # a log(0) shows in the message
            got = returns(attempt(bernoulli_baseline, train.copy(), test.copy(), alpha, case=case),
                          "bernoulli_baseline", ("nll", "bits"), case)
        n1 = train.reshape(len(train), -1).sum(axis=0)
        N = len(train)
        mistakes = [
            ("alpha added to the count but not 2 alpha to N: q = (n_1 + alpha) / (N + 2 alpha)",
             _score(test, (n1 + alpha) / (N + alpha))),
            ("no smoothing (alpha = 0): a pixel never on in training makes a test image impossible",
             _score(test, n1 / N)),
            ("log base 2: the NLL is in nats, natural logarithms", _score(test, (n1 + alpha) / (N + 2 * alpha)) / np.log(2)),
            ("the mean over pixels instead of the sum: the NLL of an image sums its P pixels",
             _score(test, (n1 + alpha) / (N + 2 * alpha)) / P),
        ]
        check_output("nll", got[0], expected_nll, mistakes,
                     hint="nll_m = -sum_i [x_mi log q_i + (1 - x_mi) log(1 - q_i)], q from the training images.",
                     case=case)
        bits = got[1]
        hint = "bits = mean(nll) / (P ln 2), P = R C pixels."
        if same(bits, expected_nll.mean() / P):
            hint = "Your bits are nats per pixel: divide by ln 2 as well."
        elif same(bits, expected_nll.mean() * np.log(2) / P):
            hint = "Your bits multiply by ln 2: one bit is ln 2 nats, so divide by ln 2."
        elif same(bits, expected_nll.mean() / np.log(2)):
            hint = "Your bits are per image: divide by the P pixels too."
        check_scalar("bits", bits, expected_bits, hint=hint, case=case)
    return "your NLL and bits per dimension match BernoulliPixels and bits_per_dim."


# ----------------------------------------------------------------------------- exercise 3

def _sampling_cases():
    """(case, model, n): logistic autoregressions fitted to correlated images of several shapes."""
    for seed, n_fit, R, C, n in [(0, 60, 3, 4, 9), (1, 80, 2, 5, 6)]:
        rng = np.random.default_rng(seed)
        x = np.zeros((n_fit, R * C))
        x[:, 0] = rng.random(n_fit) < 0.5
        for i in range(1, R * C):                        # a pixel tends to copy the one before it
            x[:, i] = np.where(rng.random(n_fit) < 0.8, x[:, i - 1], rng.random(n_fit) < 0.5)
        model = LogisticAutoregressive(l2=0.3, alpha=1.0).fit(x.reshape(n_fit, R, C))
        yield f"n = {n} images of P = {R * C} pixels, a logistic autoregressive model", model, n


def _conditional(model, n, case):
    """The conditionals of a LogisticAutoregressive model as the student's sampler calls them."""
    P = model.W.shape[0]

    def conditional(x, i):
        x = np.asarray(x, dtype=float)
        if x.shape != (n, P):
            raise GradingError(f"conditional was called with x of shape {x.shape}; it takes the (n, P) = "
                               f"({n}, {P}) pixels drawn so far (case: {case})")
        a = x[:, :i] @ model.W[i, :i] + model.b[i]
        return 0.5 * (1.0 + np.tanh(0.5 * a))                                  # sigmoid, as the model's sampler

    return conditional


def _draw(conditional, u, from_zeros=False, greater=False, shifted=False):
    """Pixel-by-pixel sampling, right or with one of the typical mistakes."""
    n, P = u.shape
    x = np.zeros((n, P))
    for i in range(P):
        p = conditional(np.zeros((n, P)) if from_zeros else x, i)
        if shifted:
            p = conditional(x, i - 1) if i else np.full(n, 0.5)
        x[:, i] = (u[:, i] > p) if greater else (u[:, i] < p)
    return x


@exercise(3, "sampling pixel by pixel")
def check_sample_pixels(sample_pixels):
    """sample_pixels(conditional, u) -> x (n, P), against LogisticAutoregressive.sample with the same
    uniform numbers."""
    for case, model, n in _sampling_cases():
        R, C = model.image_shape
        P = R * C
        seed = 3
        u = np.random.default_rng(seed).random((P, n)).T.copy()               # the sampler's numbers, (n, P)
        expected = model.sample(n, np.random.default_rng(seed)).reshape(n, P).astype(float)
        conditional = _conditional(model, n, case)
        got = attempt(sample_pixels, conditional, u.copy(), case=case)
        mistakes = [
            ("every conditional computed from an empty image: feed the pixels drawn so far back in",
             _draw(conditional, u, from_zeros=True)),
            ("x_i = 1 where u >= p: that draws 1 with probability 1 - p", _draw(conditional, u, greater=True)),
            ("pixel i drawn with the probability of pixel i - 1", _draw(conditional, u, shifted=True)),
        ]
        check_output("x", got, expected, mistakes,
                     hint="for i in order: p = conditional(x, i); x[:, i] = u[:, i] < p.", case=case)
    return "your images are the ones the model's own sampler draws from the same numbers."
