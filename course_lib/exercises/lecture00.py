"""Checks of the exercises of lecture 00: two numerical tools the later lectures rely on.

Shape legend:
    N  rows of a batch          a (N, D)    scores, one row per log-sum-exp
    D  entries summed per row   p (V,)      probabilities, F[v] = p[0] + ... + p[v]
    V  symbols                  u (n,)      uniforms in [0, 1), x (n,) symbols in [0, V)

    check_logsumexp(logsumexp)                   exercise 1, against scipy.special.logsumexp
    check_sample_categorical(sample_categorical) exercise 2, against np.searchsorted on the CDF
"""

import numpy as np
from scipy.special import logsumexp as scipy_logsumexp

from course_lib.exercises import attempt, exercise
from course_lib.grading import GradingError, check_array

__all__ = ["check_logsumexp", "check_sample_categorical"]


def _named(got, mistakes):
    """The description of the first mistake whose result `got` equals (equal infinities count
    as equal, since overflow is the mistake being named), or None."""
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    for description, value in mistakes:
        if got.shape == value.shape and np.allclose(got, value, rtol=1e-9, atol=1e-9):
            return description
    return None


# ----------------------------------------------------------------------------- exercise 1

def _logsumexp_cases():
    """(case, a, hint) with N = 4 rows of D = 7 entries: moderate, near +1000, near -1000, mixed."""
    rng = np.random.default_rng(2000)
    N, D = 4, 7
    moderate = rng.normal(0.0, 2.0, size=(N, D))
    high = 1000.0 + rng.normal(0.0, 1.0, size=(N, D))
    low = -1000.0 + rng.normal(0.0, 1.0, size=(N, D))
    mixed = np.concatenate([high[:2], low[:2]])             # rows near +1000 and near -1000 together
    mixed[3, 4] = -np.inf                                    # a probability of exactly zero
    overflow = ("exp(1000) overflows to inf and exp(-1000) underflows to 0: subtract each row's maximum "
                "before exponentiating, and add it back after the log.")
    return [
        ("N = 4, D = 7, values between -6 and 6", moderate, "Check the formula m + log(sum(exp(a - m))), m = max of the row."),
        ("every value near +1000", high, overflow),
        ("every value near -1000", low, overflow),
        ("rows near +1000 and rows near -1000, one entry -inf", mixed,
         "Subtract each row's own maximum (np.max(a, axis=1, keepdims=True)), not one maximum for the whole array."),
    ]


@exercise(1, "a stable log-sum-exp")
def check_logsumexp(logsumexp):
    for case, a, hint in _logsumexp_cases():
        expected = scipy_logsumexp(a, axis=1)                            # (N,)
        got = attempt(logsumexp, a.copy(), case=case)
        with np.errstate(all="ignore"):
            m_row = np.max(a, axis=1, keepdims=True)
            mistakes = [
                ("the naive formula log(sum(exp(a))), which overflows or underflows",
                 np.log(np.sum(np.exp(a), axis=1))),
                ("the maximum subtracted but never added back: log(sum(exp(a - m))) is missing + m",
                 np.log(np.sum(np.exp(a - m_row), axis=1))),
                ("one maximum for the whole array: rows far below it underflow to -inf",
                 np.log(np.sum(np.exp(a - a.max()), axis=1)) + a.max()),
            ]
        named = _named(got, mistakes)
        check_array("logsumexp(a)", got, expected, atol=1e-9, rtol=1e-12, case=case,
                    hint=f"Your result is what you get with {named}." if named else hint)
    return "It agrees with scipy.special.logsumexp at +-1000, where exp() alone overflows or underflows."


# ----------------------------------------------------------------------------- exercise 2

def _categorical_cases():
    """(case, p, u): exact boundaries on dyadic probabilities, then many uniforms from an rng."""
    p_edges = np.array([0.0, 0.25, 0.5, 0.0, 0.25])                       # F = [0, .25, .75, .75, 1], exact
    u_edges = np.array([0.0, 0.1, 0.25, 0.5, 0.75, 0.8, 0.999, 0.7499])
    rng = np.random.default_rng(2001)
    V, n = 7, 500
    p_rand = rng.dirichlet(np.ones(V))
    u_rand = rng.random(n)
    return [
        ("p = [0, 0.25, 0.5, 0, 0.25], u on the cumulative sums", p_edges, u_edges),
        (f"V = {V} random probabilities, n = {n} uniforms from np.random.default_rng(2001)", p_rand, u_rand),
    ]


@exercise(2, "sampling by the inverse CDF")
def check_sample_categorical(sample_categorical):
    for case, p, u in _categorical_cases():
        F = np.cumsum(p)
        expected = np.searchsorted(F, u, side="right")                   # number of F[v] <= u
        got = attempt(sample_categorical, p.copy(), u.copy(), case=case)
        x = np.asarray(got)
        if x.shape != u.shape:
            raise GradingError(f"x must have one symbol per uniform, shape {u.shape}, got shape {x.shape} (case: {case})")
        if not np.issubdtype(x.dtype, np.integer):
            raise GradingError(f"x must hold integer symbols, got dtype {x.dtype} (case: {case})")
        bad = np.flatnonzero(x != expected)
        if bad.size:
            i = int(bad[0])
            mistakes = [
                ("a count of the F[v] < u instead of F[v] <= u (so u = F[v] falls in the wrong interval)",
                 np.searchsorted(F, u, side="left")),
                ("p compared with u instead of the cumulative sums F", (p[None, :] <= u[:, None]).sum(axis=1)),
            ]
            named = _named(x, mistakes)
            zero = f" Symbol {x[i]} has probability p[{x[i]}] = 0 and can never be drawn." \
                if 0 <= x[i] < p.size and p[x[i]] == 0 else ""
            v = int(expected[i])
            lo = f"F[{v - 1}] = {F[v - 1]:.6g}" if v > 0 else "0"
            raise GradingError(
                f"x is wrong (case: {case}): for u[{i}] = {u[i]:.6g} expected symbol {v}, since "
                f"{lo} <= u < F[{v}] = {F[v]:.6g}; got {x[i]}. {bad.size} of {u.size} symbols are off."
                f"{zero} " + (f"Your x is what you get with {named}." if named else
                              "x is the smallest v with u < F[v], i.e. the number of F[v] <= u.")
            )
    return "Each uniform lands in the interval [F[v-1], F[v]) of its symbol, so P(x = v) = p[v]."
