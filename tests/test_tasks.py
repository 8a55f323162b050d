"""course_lib.tasks: structure from the definitions, baselines measured on generated data
(the documented numbers must be what the data gives), reproducibility, bad inputs."""

import math

import numpy as np
import pytest

from course_lib.tasks import (
    ADDING_BASELINE_MSE,
    COPY_ALPHABET,
    COPY_BLANK,
    COPY_DELIMITER,
    COPY_VOCAB,
    TEMPORAL_ORDER_CHANCE,
    TEMPORAL_ORDER_CLASSES,
    TEMPORAL_ORDER_SYMBOLS,
    adding_problem,
    copy_baseline_cross_entropy,
    copy_task,
    temporal_order,
)

GENERATORS = [adding_problem, copy_task, temporal_order]


# ----------------------------------------------------------------------------- adding problem

@pytest.mark.parametrize("n, T", [(7, 2), (5, 9), (3, 30)])
def test_adding_problem_structure(rng, n, T):
    x, y = adding_problem(n, T, rng)
    assert x.shape == (n, T, 2) and y.shape == (n,)
    assert x.dtype == y.dtype == np.float64
    values, markers = x[..., 0], x[..., 1]
    assert np.all((values >= 0) & (values < 1))
    assert set(np.unique(markers)) <= {0.0, 1.0}
    half = T // 2
    np.testing.assert_array_equal(markers[:, :half].sum(axis=1), 1)   # one in each half
    np.testing.assert_array_equal(markers[:, half:].sum(axis=1), 1)
    for k in range(n):                                                # y from the definition
        t1, t2 = np.flatnonzero(markers[k])
        assert y[k] == values[k, t1] + values[k, t2]


def test_adding_problem_baseline_is_one_sixth():
    """Predicting 1 gives MSE Var(u1 + u2) = 1/6; no constant does better."""
    _, y = adding_problem(40_000, 10, np.random.default_rng(1))
    assert ADDING_BASELINE_MSE == 1 / 6
    assert abs(np.mean((y - 1) ** 2) - ADDING_BASELINE_MSE) < 0.005   # sd of the mean ~0.001
    assert abs(y.mean() - 1) < 0.01                                   # 1 is the best constant
    assert abs(np.var(y) - ADDING_BASELINE_MSE) < 0.005


def test_adding_problem_markers_are_uniform_within_each_half():
    T = 8
    x, _ = adding_problem(16_000, T, np.random.default_rng(2))
    freq = x[..., 1].mean(axis=0)                                     # P(marker at t)
    np.testing.assert_allclose(freq, np.full(T, 1 / (T // 2)), atol=0.02)


# ----------------------------------------------------------------------------- copy task

@pytest.mark.parametrize("n, T", [(4, 1), (3, 5), (2, 17)])
def test_copy_task_layout(rng, n, T):
    x, y = copy_task(n, T, rng)
    assert x.shape == y.shape == (n, T + 20)
    assert np.issubdtype(x.dtype, np.integer) and np.issubdtype(y.dtype, np.integer)
    assert (COPY_ALPHABET, COPY_BLANK, COPY_DELIMITER, COPY_VOCAB) == (8, 8, 9, 10)
    data = x[:, :10]
    assert np.all((data >= 0) & (data < 8))
    assert np.all(x[:, 10:T + 9] == COPY_BLANK)                       # T - 1 blanks
    assert np.all(x[:, T + 9] == COPY_DELIMITER)                      # the cue
    assert np.all(x[:, T + 10:] == COPY_BLANK)
    assert np.all(y[:, :T + 10] == COPY_BLANK)
    np.testing.assert_array_equal(y[:, T + 10:], data)                # the copy, in order
    assert np.all(x < COPY_VOCAB) and np.all(y < COPY_VOCAB)


@pytest.mark.parametrize("T", [1, 10, 100])
def test_copy_baseline_is_the_best_memoryless_cross_entropy(T):
    """Fit p(y_t = v) per step from one sample, measure its cross-entropy on another."""
    fit_y = copy_task(4_000, T, np.random.default_rng(3))[1]
    _, y = copy_task(4_000, T, np.random.default_rng(4))
    counts = np.stack([(fit_y == v).sum(axis=0) for v in range(COPY_VOCAB)], axis=1)
    p = (counts + 1e-3) / (counts + 1e-3).sum(axis=1, keepdims=True)  # (T + 20, V)
    steps = np.arange(T + 20)
    ce = -np.mean(np.log(p[steps, y]))
    expected = 10 * math.log(8) / (T + 20)
    assert copy_baseline_cross_entropy(T) == pytest.approx(expected, rel=1e-15)
    assert ce == pytest.approx(expected, rel=0.01)


def test_copy_symbols_are_uniform_and_independent():
    x, _ = copy_task(8_000, 3, np.random.default_rng(5))
    freq = np.bincount(x[:, :10].ravel(), minlength=8) / x[:, :10].size
    np.testing.assert_allclose(freq, 1 / 8, atol=0.01)
    np.testing.assert_allclose(np.mean(x[:, 0] == x[:, 1]), 1 / 8, atol=0.01)


# ----------------------------------------------------------------------------- temporal order

@pytest.mark.parametrize("n, T", [(6, 10), (5, 37), (4, 100)])
def test_temporal_order_structure(rng, n, T):
    x, y = temporal_order(n, T, rng)
    assert x.shape == (n, T) and y.shape == (n,)
    assert TEMPORAL_ORDER_SYMBOLS == ("a", "b", "c", "d", "X", "Y", "E", "B")
    assert np.all(x[:, 0] == 6) and np.all(x[:, -1] == 7)            # E ... B
    assert np.all((x[:, 1:-1] >= 0) & (x[:, 1:-1] < 6))
    for k in range(n):
        t1, t2 = np.flatnonzero((x[k] == 4) | (x[k] == 5))            # exactly two X/Y
        assert T // 10 <= t1 <= T // 5 and T // 2 <= t2 <= 3 * T // 5
        order = TEMPORAL_ORDER_SYMBOLS[x[k, t1]] + TEMPORAL_ORDER_SYMBOLS[x[k, t2]]
        assert TEMPORAL_ORDER_CLASSES[y[k]] == order


def test_temporal_order_windows_are_the_papers_for_T_100():
    x, _ = temporal_order(4_000, 100, np.random.default_rng(6))
    t = np.argwhere((x == 4) | (x == 5))[:, 1].reshape(-1, 2)
    assert (t[:, 0].min(), t[:, 0].max(), t[:, 1].min(), t[:, 1].max()) == (10, 20, 50, 60)


def test_temporal_order_classes_are_balanced_so_chance_is_a_quarter():
    _, y = temporal_order(20_000, 12, np.random.default_rng(7))
    freq = np.bincount(y, minlength=4) / y.size
    np.testing.assert_allclose(freq, 1 / 4, atol=0.015)
    assert TEMPORAL_ORDER_CHANCE == 1 / 4
    assert abs(freq.max() - TEMPORAL_ORDER_CHANCE) < 0.015            # best constant guess


# ----------------------------------------------------------------------------- all generators

@pytest.mark.parametrize("generate", GENERATORS)
def test_same_seed_same_data_and_int_seeds_work(generate):
    a = generate(5, 20, np.random.default_rng(11))
    b = generate(5, 20, np.random.default_rng(11))
    c = generate(5, 20, 11)
    d = generate(5, 20, np.random.default_rng(12))
    for u, v, w in zip(a, b, c):
        np.testing.assert_array_equal(u, v)
        np.testing.assert_array_equal(u, w)
    assert not np.array_equal(a[0], d[0])


@pytest.mark.parametrize("generate, T_min", [(adding_problem, 2), (copy_task, 1), (temporal_order, 10)])
def test_bad_inputs_give_messages(generate, T_min):
    rng = np.random.default_rng(0)
    generate(1, T_min, rng)                                           # the smallest valid call
    for n in [0, -3, 2.0, True, "4"]:
        with pytest.raises(ValueError, match=rf"n must be an int >= 1, got {n!r}"):
            generate(n, 20, rng)
    for T in [T_min - 1, 12.5, None]:
        with pytest.raises(ValueError, match=rf"T must be an int >= {T_min}, got {T!r}"):
            generate(3, T, rng)
    for bad in [None, -1, 1.5, np.random.RandomState(0)]:
        with pytest.raises(ValueError, match="rng must be a np.random.Generator"):
            generate(3, 20, bad)
    with pytest.raises(ValueError, match="T must be an int >= 1, got 0"):
        copy_baseline_cross_entropy(0)
