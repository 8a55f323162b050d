"""course_lib.gradcheck: the checker itself is checked against analytic derivatives and
against backward functions broken on purpose."""

import numpy as np
import pytest

from course_lib.gradcheck import (
    GradCheckReport,
    check_backward,
    check_gradient,
    numerical_gradient,
    rel_error,
)
from course_lib.layers import word_embedding_backward, word_embedding_forward
from course_lib.rnn import rnn_step_backward, rnn_step_forward

N, D, H, V = 2, 3, 4, 5            # distinct sizes: a transpose cannot broadcast silently


def affine_forward(x, W, b):
    out = x @ W + b
    return out, (x, W)


def affine_backward(dout, cache):
    x, W = cache
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def two_outputs_forward(x, W):
    """Two outputs, so L = <d1, out1> + <d2, out2>."""
    y = x @ W
    return np.sin(y), y**2, (x, W, y)


def two_outputs_backward(d1, d2, cache):
    x, W, y = cache
    dy = d1 * np.cos(y) + d2 * 2 * y
    return dy @ W.T, x.T @ dy


# ----------------------------------------------------------------------------- rel_error

def test_rel_error_is_the_cs231n_definition():
    assert rel_error(1.0, 1.1) == pytest.approx(0.1 / 2.1, rel=1e-12)
    assert rel_error(0.0, 1e-9) == pytest.approx(1e-9 / 1e-8, rel=1e-12)     # the 1e-8 floor
    a = np.array([1.0, -2.0, 3.0])
    b = np.array([1.0, -2.2, 3.0])
    assert rel_error(a, b) == pytest.approx(0.2 / 4.2, rel=1e-12)             # max over entries
    assert rel_error(a, a) == 0.0


# ----------------------------------------------------------------------------- numerical_gradient

def test_numerical_gradient_of_scalar_functions(rng):
    x = rng.standard_normal((D, H))
    np.testing.assert_allclose(numerical_gradient(lambda z: np.sum(np.sin(z)), x), np.cos(x),
                               rtol=1e-8, atol=1e-9)
    A = rng.standard_normal((D, D))
    v = rng.standard_normal(D)
    np.testing.assert_allclose(numerical_gradient(lambda z: z @ A @ z, v), (A + A.T) @ v,
                               rtol=1e-8, atol=1e-9)


def test_numerical_gradient_of_array_function_with_upstream_gradient(rng):
    x = rng.standard_normal((N, D))
    df = rng.standard_normal((N, D))
    np.testing.assert_allclose(numerical_gradient(lambda z: z**3, x, df=df), 3 * x**2 * df,
                               rtol=1e-7, atol=1e-9)


def test_numerical_gradient_does_not_modify_its_argument(rng):
    x = rng.standard_normal((N, D))
    x_before = x.copy()
    numerical_gradient(lambda z: np.sum(z**2), x)
    np.testing.assert_array_equal(x, x_before)


def test_numerical_gradient_needs_df_for_array_outputs(rng):
    with pytest.raises(ValueError, match="must return a scalar"):
        numerical_gradient(lambda z: z**2, rng.standard_normal(D))


# ----------------------------------------------------------------------------- check_backward

def test_check_backward_passes_a_correct_pair(rng):
    inputs = [rng.standard_normal((N, D)), rng.standard_normal((D, H)), rng.standard_normal(H)]
    report = check_backward(affine_forward, affine_backward, inputs)
    assert isinstance(report, GradCheckReport)
    assert report.passed
    assert [c.name for c in report.inputs] == ["x", "W", "b"]     # from the signature
    assert report.max_rel_error < 1e-6
    assert report["W"].shape == (D, H) and report[2].name == "b"


def test_check_backward_handles_several_outputs(rng):
    inputs = [rng.standard_normal((N, D)), rng.standard_normal((D, H))]
    assert check_backward(two_outputs_forward, two_outputs_backward, inputs).passed

    def backward_forgets_second_output(d1, d2, cache):
        return two_outputs_backward(d1, 0 * d2, cache)

    with pytest.raises(AssertionError, match="dx"):
        check_backward(two_outputs_forward, backward_forgets_second_output, inputs)


def test_check_backward_passes_the_rnn_step(rng):
    inputs = [rng.standard_normal((N, D)), rng.standard_normal((N, H)),
              rng.standard_normal((D, H)), rng.standard_normal((H, H)), rng.standard_normal(H)]
    report = check_backward(rnn_step_forward, rnn_step_backward, inputs)
    assert [c.name for c in report.inputs] == ["x", "h_prev", "Wx", "Wh", "b"]


def test_check_backward_fails_a_transposed_gradient_and_names_it(rng):
    W = rng.standard_normal((H, H))                                # square: shapes agree

    def backward_transposed(dout, cache):
        dx, dW, db = affine_backward(dout, cache)
        return dx, dW.T, db

    inputs = [rng.standard_normal((N, H)), W, rng.standard_normal(H)]
    report = check_backward(affine_forward, backward_transposed, inputs, raise_on_failure=False)
    assert [c.name for c in report.failures] == ["W"]               # only dW is blamed
    with pytest.raises(AssertionError, match=r"(?s)dW \(gradient of input 1 'W'.*transpose.*"
                                             r"These gradients are correct: dx, db"):
        check_backward(affine_forward, backward_transposed, inputs)


def test_check_backward_fails_a_missing_factor_and_says_where(rng):
    def backward_half_dx(dout, cache):
        dx, dW, db = affine_backward(dout, cache)
        return 0.5 * dx, dW, db

    inputs = [rng.standard_normal((N, D)), rng.standard_normal((D, H)), rng.standard_normal(H)]
    report = check_backward(affine_forward, backward_half_dx, inputs, raise_on_failure=False)
    assert not report.passed
    assert [c.name for c in report.failures] == ["x"]
    bad = report["x"]
    assert bad.n_bad == bad.size == N * D
    assert 0.5 * abs(bad.numerical_at) == pytest.approx(bad.max_abs_error, rel=1e-5)
    assert "0.5 times the correct one" in report.message()
    with pytest.raises(AssertionError, match=r"max absolute error .* at x\[\d, \d\]"):
        check_backward(affine_forward, backward_half_dx, inputs)


def test_check_backward_reports_wrong_shapes_and_counts(rng):
    inputs = [rng.standard_normal((N, D)), rng.standard_normal((D, H)), rng.standard_normal(H)]

    def backward_wrong_shape(dout, cache):
        dx, dW, db = affine_backward(dout, cache)
        return dx, dW.T, db

    with pytest.raises(AssertionError, match=r"dW .* must have the shape of W, \(3, 4\), got \(4, 3\) \(transposed\?\)"):
        check_backward(affine_forward, backward_wrong_shape, inputs)
    with pytest.raises(AssertionError, match="returned 2 gradient"):
        check_backward(affine_forward, lambda dout, cache: affine_backward(dout, cache)[:2], inputs)


def test_check_backward_skips_integer_inputs_and_accepts_partial_gradients(rng):
    x = rng.integers(0, V, size=(N, H))
    W = rng.standard_normal((V, D))
    report = check_backward(word_embedding_forward, word_embedding_backward, [x, W])
    assert [c.name for c in report.inputs] == ["W"]

    def backward_all_inputs(dout, cache):                           # one entry per input
        return None, word_embedding_backward(dout, cache)

    assert check_backward(word_embedding_forward, backward_all_inputs, [x, W]).passed
    with pytest.raises(ValueError, match="input 0 .x. is int"):
        check_backward(word_embedding_forward, word_embedding_backward, [x, W], wrt=[0])


def test_check_backward_wrt_selects_inputs(rng):
    inputs = [rng.standard_normal((N, D)), rng.standard_normal((D, H)), rng.standard_normal(H)]

    def backward_bad_db(dout, cache):
        dx, dW, db = affine_backward(dout, cache)
        return dx, dW, db + 1

    report = check_backward(affine_forward, backward_bad_db, inputs, wrt=["x", 1])
    assert [c.name for c in report.inputs] == ["x", "W"]


def test_check_backward_does_not_modify_its_arguments(rng):
    inputs = [rng.standard_normal((N, D)).astype(np.float32), rng.standard_normal((D, H)),
              rng.standard_normal(H)]
    before = [a.copy() for a in inputs]
    check_backward(affine_forward, affine_backward, inputs)
    for a, a0 in zip(inputs, before):
        assert a.dtype == a0.dtype
        np.testing.assert_array_equal(a, a0)


def test_check_backward_catches_a_forward_that_modifies_its_input(rng):
    def forward_in_place(x, W, b):
        x += 1.0
        return affine_forward(x, W, b)

    inputs = [rng.standard_normal((N, D)), rng.standard_normal((D, H)), rng.standard_normal(H)]
    with pytest.raises(AssertionError, match=r"forward modified its input 0 \(x\) in place"):
        check_backward(forward_in_place, affine_backward, inputs)


def test_check_backward_ignores_noise_on_near_zero_entries(rng):
    """At x = 10, tanh'(x) ~ 8e-9 is close to the finite-difference noise, so the relative
    error of that entry is large (~1e-3) while its absolute error is ~1e-11: the check must
    pass with the default absolute floor, and fail without it."""
    def tanh_forward(x):
        y = np.tanh(x)
        return y, y

    def tanh_backward(dy, y):
        return dy * (1 - y**2)

    x = rng.standard_normal((N, D))
    x[0, 0] = 10.0
    assert check_backward(tanh_forward, tanh_backward, [x]).passed
    assert not check_backward(tanh_forward, tanh_backward, [x], atol=0,
                              raise_on_failure=False).passed


def test_check_backward_is_deterministic(rng):
    inputs = [rng.standard_normal((N, D)), rng.standard_normal((D, H)), rng.standard_normal(H)]
    r1 = check_backward(affine_forward, affine_backward, inputs, rng=3)
    r2 = check_backward(affine_forward, affine_backward, inputs, rng=np.random.default_rng(3))
    assert r1 == r2


def test_check_gradient_for_a_scalar_loss(rng):
    x = rng.standard_normal((N, D))
    W = rng.standard_normal((D, H))

    def loss(x, W):
        return 0.5 * np.sum((x @ W) ** 2)

    dx = (x @ W) @ W.T
    dW = x.T @ (x @ W)
    assert check_gradient(loss, [x, W], [dx, dW]).passed
    with pytest.raises(AssertionError, match=r"(?s)dW .*2 times the correct one"):
        check_gradient(loss, [x, W], [dx, 2 * dW])
