"""Synthetic long-range tasks for recurrent networks, with the baselines a model must beat.

Shape legend:
    N  sequences (the argument n)      T  the task's length parameter (see each task)

    adding_problem(n, T, rng)   -> x (N, T, 2) float64,   y (N,) float64     regression
    copy_task(n, T, rng)        -> x (N, T + 20) int,     y (N, T + 20) int  per-step classes
    temporal_order(n, T, rng)   -> x (N, T) int,          y (N,) int         4 classes

Every generator draws from the rng it is given (a np.random.Generator, or an int seed for
np.random.default_rng), so the same seed gives the same data. The baselines are what a model
that ignores the long-range dependency achieves; a model has learnt the task only when it
beats them clearly:

    ADDING_BASELINE_MSE = 1/6                   predict 1, the mean of the target
    copy_baseline_cross_entropy(T) = 10 ln 8 / (T + 20)    blanks, then a uniform guess
    TEMPORAL_ORDER_CHANCE = 1/4                 guess a class
"""

import math

import numpy as np

__all__ = [
    "adding_problem",
    "ADDING_BASELINE_MSE",
    "copy_task",
    "copy_baseline_cross_entropy",
    "COPY_LENGTH",
    "COPY_ALPHABET",
    "COPY_BLANK",
    "COPY_DELIMITER",
    "COPY_VOCAB",
    "temporal_order",
    "TEMPORAL_ORDER_SYMBOLS",
    "TEMPORAL_ORDER_CLASSES",
    "TEMPORAL_ORDER_CHANCE",
]


def _check_count(name, value, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_rng(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)) and rng >= 0:
        return np.random.default_rng(rng)
    raise ValueError("rng must be a np.random.Generator (np.random.default_rng(seed)) or a "
                     f"non-negative int seed, got {rng!r}")


# ----------------------------------------------------------------------------- adding problem

ADDING_BASELINE_MSE = 1 / 6
"""MSE of always predicting 1 on the adding problem: Var(u1 + u2) = 2 * 1/12 = 1/6."""


def adding_problem(n, T, rng):
    """The adding problem (Hochreiter and Schmidhuber 1997), in the version of Le et al.
    (2015) and Arjovsky et al. (2016).

        x[:, t, 0] = u_t ~ U(0, 1) independently               values
        x[:, t, 1] = 1 at t = t1 and t = t2, else 0            markers
        t1 ~ uniform on {0, ..., T//2 - 1}                     first half
        t2 ~ uniform on {T//2, ..., T - 1}                     second half
        y = u_{t1} + u_{t2}

    Baseline: y has mean 1 and variance 2/12, so predicting 1 whatever the input gives
    MSE = Var(y) = 1/6 ~ 0.167 (ADDING_BASELINE_MSE), the best any input-ignoring model can
    do. (The original Experiment 4 of Hochreiter and Schmidhuber drew values from [-1, 1],
    placed the markers differently and rescaled the target.)

    Args:
        n: number of sequences N (>= 1).
        T: sequence length (>= 2).
        rng: np.random.Generator, or an int seed.
    Returns:
        x: (N, T, 2) float64 inputs, values in channel 0 and markers in channel 1.
        y: (N,) float64 targets in [0, 2).
    Raises:
        ValueError on a bad n, T or rng.
    """
    n = _check_count("n", n, 1)
    T = _check_count("T", T, 2)
    rng = _check_rng(rng)
    half = T // 2
    values = rng.random((n, T))                                  # (N, T)
    t1 = rng.integers(0, half, size=n)                           # (N,)
    t2 = rng.integers(half, T, size=n)
    markers = np.zeros((n, T))
    rows = np.arange(n)
    markers[rows, t1] = 1
    markers[rows, t2] = 1
    x = np.stack([values, markers], axis=-1)                     # (N, T, 2)
    y = values[rows, t1] + values[rows, t2]                      # (N,)
    return x, y


# ----------------------------------------------------------------------------- copy task

COPY_LENGTH = 10        # symbols to remember
COPY_ALPHABET = 8       # data symbols 0..7
COPY_BLANK = 8
COPY_DELIMITER = 9
COPY_VOCAB = 10         # input and output symbols 0..9


def copy_task(n, T, rng):
    """The copy task of Arjovsky, Shah and Bengio (2016): remember 10 symbols for T steps.

    Symbols: 0..7 data (COPY_ALPHABET = 8), 8 blank (COPY_BLANK), 9 delimiter
    (COPY_DELIMITER); COPY_VOCAB = 10. Each sequence has T + 20 steps, laid out as

        step:    0 ... 9  | 10 ... T+8  |   T+9     | T+10 ... T+19
        x:       s_0..s_9 | T-1 blanks  | delimiter | 10 blanks
        y:       blank    | blank       | blank     | s_0..s_9

    with s_k uniform on {0, ..., 7}, independent. Between reading s_k (step k) and having to
    write it (step T+10+k) lie exactly T+10 steps; the delimiter is the cue to start writing.

    Baseline: a memoryless model (one that may know the step but not the input) outputs
    blank with certainty on the first T+10 steps (loss 0) and the uniform distribution over
    the 8 data symbols on the last 10 (loss ln 8 each), so its cross-entropy averaged over
    all T+20 steps is 10 ln 8 / (T + 20) (copy_baseline_cross_entropy(T)).

    Args:
        n: number of sequences N (>= 1).
        T: the delay parameter (>= 1).
        rng: np.random.Generator, or an int seed.
    Returns:
        x: (N, T + 20) int64 input symbols.
        y: (N, T + 20) int64 target symbols.
    Raises:
        ValueError on a bad n, T or rng.
    """
    n = _check_count("n", n, 1)
    T = _check_count("T", T, 1)
    rng = _check_rng(rng)
    L = COPY_LENGTH
    data = rng.integers(0, COPY_ALPHABET, size=(n, L))           # (N, 10)
    x = np.full((n, T + 2 * L), COPY_BLANK, dtype=np.int64)      # (N, T + 20)
    x[:, :L] = data
    x[:, T + L - 1] = COPY_DELIMITER
    y = np.full((n, T + 2 * L), COPY_BLANK, dtype=np.int64)
    y[:, T + L:] = data
    return x, y


def copy_baseline_cross_entropy(T):
    """Cross-entropy per step (nats) of the best memoryless model on copy_task(n, T):

        10 ln 8 / (T + 20)
    """
    T = _check_count("T", T, 1)
    return COPY_LENGTH * math.log(COPY_ALPHABET) / (T + 2 * COPY_LENGTH)


# ----------------------------------------------------------------------------- temporal order

TEMPORAL_ORDER_SYMBOLS = ("a", "b", "c", "d", "X", "Y", "E", "B")   # symbol k is x == k
TEMPORAL_ORDER_CLASSES = ("XX", "XY", "YX", "YY")
TEMPORAL_ORDER_CHANCE = 1 / 4


def temporal_order(n, T, rng):
    """The temporal order problem (Hochreiter and Schmidhuber 1997, Experiment 6a): classify
    a long sequence by the order of two relevant symbols hidden among distractors.

    Symbols (TEMPORAL_ORDER_SYMBOLS): 0..3 distractors a, b, c, d; 4 X; 5 Y; 6 E (start);
    7 B (end). Each sequence of length T is

        x[0] = E,  x[T-1] = B
        x[t1], x[t2] in {X, Y}, independent and uniform
        t1 uniform on {T//10, ..., T//5},  t2 uniform on {T//2, ..., 3T//5}
        every other step a distractor, uniform on {a, b, c, d}
        y = 2 [x[t1] = Y] + [x[t2] = Y]        classes 0..3 = XX, XY, YX, YY

    For T = 100 the windows are the paper's, t1 in [10, 20] and t2 in [50, 60] (the paper
    also varied the length between 100 and 110; here every sequence has length T). The four
    classes are equally likely, so chance is TEMPORAL_ORDER_CHANCE = 1/4.

    Args:
        n: number of sequences N (>= 1).
        T: sequence length (>= 10, so that the windows fit between E and B).
        rng: np.random.Generator, or an int seed.
    Returns:
        x: (N, T) int64 symbols in [0, 8).
        y: (N,) int64 classes in [0, 4).
    Raises:
        ValueError on a bad n, T or rng.
    """
    n = _check_count("n", n, 1)
    T = _check_count("T", T, 10)
    rng = _check_rng(rng)
    X, Y, E, B = 4, 5, 6, 7
    x = rng.integers(0, 4, size=(n, T))                          # (N, T) distractors
    x[:, 0], x[:, -1] = E, B
    t1 = rng.integers(T // 10, T // 5 + 1, size=n)               # (N,)
    t2 = rng.integers(T // 2, 3 * T // 5 + 1, size=n)
    first_is_Y = rng.integers(0, 2, size=n)                      # (N,) 0 = X, 1 = Y
    second_is_Y = rng.integers(0, 2, size=n)
    rows = np.arange(n)
    x[rows, t1] = np.where(first_is_Y, Y, X)
    x[rows, t2] = np.where(second_is_Y, Y, X)
    y = 2 * first_is_Y + second_is_Y                             # (N,)
    return x.astype(np.int64), y.astype(np.int64)
