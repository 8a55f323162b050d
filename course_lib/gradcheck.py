"""Finite-difference gradient checks: one checker for every forward/backward pair.

Shape legend: any. The checker works for arrays of every shape; `x[i]` below is one entry
of an input, whatever its index.

The convention it checks (CONTRIBUTING.md, "Conventions"):

    *outputs, cache = forward(*inputs)
    grads = backward(*d_outputs, cache)        # one gradient per input, in input order

With random upstream gradients d_out_k the scalar

    L(inputs) = sum_k < d_out_k, out_k >        (sum over all entries of d_out_k * out_k)

has dL/d input_i = grads[i], so each analytic gradient can be compared with central
differences of L:

    dL/dx[i] ~ (L(x + h e_i) - L(x - h e_i)) / (2 h)

The same functions run in pytest and in nbgrader autograder cells. They work on private
float64 copies and never modify their arguments.
"""

import inspect
from dataclasses import dataclass

import numpy as np

__all__ = [
    "rel_error",
    "numerical_gradient",
    "check_backward",
    "check_gradient",
    "InputCheck",
    "GradCheckReport",
]


def rel_error(a, b):
    """Largest elementwise relative error (the CS231n definition).

        rel_error(a, b) = max_i |a_i - b_i| / max(1e-8, |a_i| + |b_i|)

    0 means identical; about 1e-7 or less is what a correct float64 gradient gives against
    central differences; about 1 means unrelated numbers. Being a maximum over entries, one
    entry that is almost zero in both arrays can dominate it with finite-difference noise,
    which is why check_backward judges entries with an absolute floor as well (see there).

    Args:
        a, b: arrays of the same shape (or broadcastable scalars).
    Returns:
        a Python float.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size == 0 and b.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def numerical_gradient(f, x, df=None, h=1e-6):
    """Central-difference gradient of a scalar function of an array.

        L(x)     = f(x)                 if df is None (f returns a scalar)
        L(x)     = sum(df * f(x))       otherwise (f returns an array shaped like df)
        dL/dx[i] = (L(x + h e_i) - L(x - h e_i)) / (2 h)

    Args:
        f: callable taking one array shaped like x.
        x: (...) the point; it is copied to float64 and never modified.
        df: (...) upstream gradient with the shape of f(x), or None for a scalar f.
        h: the step.
    Returns:
        grad: (...) float64 array with the shape of x.
    """
    x = np.array(x, dtype=np.float64)            # private copy, perturbed in place below
    if df is not None:
        df = np.array(df, dtype=np.float64)

    def L(z):
        out = f(z)
        if df is None:
            out = np.asarray(out, dtype=np.float64)
            if out.size != 1:
                raise ValueError(
                    f"f must return a scalar when df is None, got an array of shape {out.shape}; "
                    "pass df (the upstream gradient) for an array-valued f"
                )
            return float(out.reshape(()))
        return float(np.sum(df * np.asarray(out, dtype=np.float64)))

    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        L_plus = L(x.copy())
        x[i] = old - h
        L_minus = L(x.copy())
        x[i] = old
        grad[i] = (L_plus - L_minus) / (2 * h)
    return grad


@dataclass(frozen=True)
class InputCheck:
    """The comparison for one input: analytic (from backward) against numerical gradient.

    Attributes:
        index, name: position and name of the input (e.g. 2, "Wx").
        shape: its shape.
        rel_error: rel_error(analytic, numerical) over all entries (CS231n).
        max_abs_error: max_i |analytic_i - numerical_i|.
        where: index of the entry with the largest absolute error.
        analytic_at, numerical_at: the two gradients at `where`.
        n_bad, size: entries outside the tolerance, and all entries.
        hint: a guess at the kind of mistake ("" if none applies or the check passed).
    """

    index: int
    name: str
    shape: tuple
    rel_error: float
    max_abs_error: float
    where: tuple
    analytic_at: float
    numerical_at: float
    n_bad: int
    size: int
    hint: str = ""

    @property
    def passed(self):
        return self.n_bad == 0

    def describe(self):
        """A few lines a student can act on."""
        at = f"{self.name}[{', '.join(map(str, self.where))}]" if self.where else self.name
        lines = [
            f"d{self.name} (gradient of input {self.index} '{self.name}', shape {self.shape}) "
            f"is wrong: {self.n_bad} of {self.size} entries differ from finite differences.",
            f"  max relative error {self.rel_error:.2e}; max absolute error "
            f"{self.max_abs_error:.2e} at {at}: your backward gives {self.analytic_at:.6g}, "
            f"finite differences give {self.numerical_at:.6g}.",
        ]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


@dataclass(frozen=True)
class GradCheckReport:
    """Result of check_backward / check_gradient: one InputCheck per checked input.

    `report.passed` is True when every input passed; `report["Wx"]` or `report[2]` gives the
    InputCheck of that input (by name or input index); `report.max_rel_error` is the largest
    rel_error over the inputs.
    """

    inputs: tuple
    rtol: float
    atol: float
    h: float

    @property
    def passed(self):
        return all(c.passed for c in self.inputs)

    @property
    def max_rel_error(self):
        return max((c.rel_error for c in self.inputs), default=0.0)

    @property
    def failures(self):
        return [c for c in self.inputs if not c.passed]

    def __getitem__(self, key):
        for c in self.inputs:
            if key == c.name or key == c.index:
                return c
        raise KeyError(f"no checked input named or numbered {key!r}; checked: "
                       f"{[c.name for c in self.inputs]}")

    def message(self):
        """The failure message (or a one-line success summary)."""
        if self.passed:
            return (f"gradient check passed for {', '.join(c.name for c in self.inputs)} "
                    f"(max relative error {self.max_rel_error:.1e})")
        ok = [c.name for c in self.inputs if c.passed]
        parts = ["Gradient check failed.", *(c.describe() for c in self.failures)]
        if ok:
            parts.append(f"These gradients are correct: {', '.join('d' + n for n in ok)}.")
        parts.append(
            f"(An entry passes when |backward - numerical| <= {self.atol:g} + {self.rtol:g} * "
            f"(|backward| + |numerical|); numerical = central differences with h = {self.h:g}.)"
        )
        return "\n".join(parts)

    def __str__(self):
        rows = [f"{'input':<10} {'shape':<14} {'rel_error':>10} {'max_abs':>10}  ok"]
        for c in self.inputs:
            rows.append(f"{c.name:<10} {str(c.shape):<14} {c.rel_error:>10.2e} "
                        f"{c.max_abs_error:>10.2e}  {'yes' if c.passed else 'NO'}")
        return "\n".join(rows)


# ----------------------------------------------------------------------------- helpers

def _input_names(fn, n):
    """Names of the first n positional parameters of fn, or 'input i' when unknown."""
    names = []
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        names = [p.name for p in params[:n]]
    except (TypeError, ValueError):
        pass
    return names + [f"input{i}" for i in range(len(names), n)]


def _is_float_array(v):
    return isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating)


def _private_copy(v):
    """float arrays -> float64 copies, other arrays -> copies, anything else unchanged."""
    if isinstance(v, np.ndarray):
        return v.astype(np.float64, copy=True) if np.issubdtype(v.dtype, np.floating) else v.copy()
    return v


def _copies(values):
    return [_private_copy(v) for v in values]


def _diagnose(a, n, atol):
    """A guess at the kind of mistake that turns the numerical gradient n into a."""
    scale = np.max(np.abs(n)) if n.size else 0.0
    if scale <= atol:
        return ""
    if np.max(np.abs(a)) <= atol:
        return "your gradient is all zeros (is it computed, and returned in the right position?)"
    close = dict(rtol=1e-4, atol=1e-6 * scale)
    if a.ndim == 2 and a.shape[0] == a.shape[1] and np.allclose(a.T, n, **close):
        return "your gradient is the transpose of the correct one (da.T @ x instead of x.T @ da?)"
    c = float(np.sum(a * n) / np.sum(n * n))
    if np.allclose(a, c * n, **close):
        if np.isclose(c, -1.0, rtol=1e-4):
            return "your gradient has the wrong sign"
        return f"your gradient is {c:.4g} times the correct one (a missing or extra factor?)"
    return ""


def _compare(index, name, analytic, numerical, rtol, atol):
    a = np.asarray(analytic, dtype=np.float64)
    n = numerical
    diff = np.abs(a - n)
    finite = np.isfinite(a)
    bad = ~(diff <= atol + rtol * (np.abs(a) + np.abs(n)))     # NaN counts as bad
    if a.size:
        where = np.unravel_index(int(np.argmax(np.where(finite, diff, np.inf))), a.shape)
        where = tuple(int(i) for i in where)
        max_abs = float(diff[where]) if finite.all() else float("nan")
    else:
        where, max_abs = (), 0.0
    hint = ""
    if bad.any():
        hint = (_diagnose(a, n, atol) if finite.all()
                else f"your gradient contains {int((~finite).sum())} NaN or inf entries")
    return InputCheck(
        index=index,
        name=name,
        shape=tuple(a.shape),
        rel_error=rel_error(a, n) if finite.all() else float("nan"),
        max_abs_error=max_abs,
        where=where,
        analytic_at=float(a[where]) if a.size else 0.0,
        numerical_at=float(n[where]) if a.size else 0.0,
        n_bad=int(bad.sum()),
        size=int(a.size),
        hint=hint,
    )


def _finish(checks, rtol, atol, h, raise_on_failure):
    report = GradCheckReport(inputs=tuple(checks), rtol=rtol, atol=atol, h=h)
    if raise_on_failure and not report.passed:
        raise AssertionError(report.message())
    return report


def _resolve_wrt(inputs, wrt, names):
    if wrt is None:
        wrt = [i for i, v in enumerate(inputs) if _is_float_array(v)]
        if not wrt:
            raise ValueError("no input is a float array: nothing to differentiate "
                             "(pass wrt= to choose inputs)")
        return wrt
    wrt = [wrt] if isinstance(wrt, (int, np.integer, str)) else list(wrt)
    out = []
    for w in wrt:
        i = names.index(w) if isinstance(w, str) and w in names else w
        if not isinstance(i, (int, np.integer)) or not 0 <= i < len(inputs):
            raise ValueError(f"wrt entry {w!r} names no input; inputs are {names}")
        v = inputs[i]
        if not isinstance(v, np.ndarray) or not np.issubdtype(v.dtype, np.floating):
            kind = v.dtype if isinstance(v, np.ndarray) else type(v).__name__
            raise ValueError(f"input {i} ({names[i]}) is {kind}, not a float array: "
                             "it cannot be differentiated")
        out.append(int(i))
    return out


def _match_grads(grads, inputs, wrt, names, where):
    """Pair the gradients returned by backward with the differentiated inputs."""
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) == len(inputs):
        picked = [grads[i] for i in wrt]
    elif len(grads) == len(wrt):
        picked = list(grads)
    else:
        raise AssertionError(
            f"{where} returned {len(grads)} gradient(s); expected one per input "
            f"({len(inputs)}: {', '.join('d' + n for n in names)}) or one per differentiated "
            f"input ({len(wrt)}: {', '.join('d' + names[i] for i in wrt)})"
        )
    for i, g in zip(wrt, picked):
        shape = np.shape(g)
        if g is None or shape != inputs[i].shape:
            got = "None" if g is None else str(shape)
            hint = " (transposed?)" if g is not None and shape == inputs[i].shape[::-1] else ""
            raise AssertionError(
                f"d{names[i]} (gradient of input {i} '{names[i]}') must have the shape of "
                f"{names[i]}, {inputs[i].shape}, got {got}{hint}"
            )
    return picked


# ----------------------------------------------------------------------------- checkers

def check_backward(forward, backward, inputs, *, wrt=None, names=None, rng=0, h=1e-6,
                   rtol=1e-6, atol=1e-7, forward_kwargs=None, raise_on_failure=True):
    """Compare a backward function with central differences of its forward.

        *out, cache = forward(*inputs, **forward_kwargs)
        d_out_k     ~ N(0, 1), one per output, drawn from rng
        L(inputs)   = sum_k < d_out_k, out_k >
        analytic    = backward(*d_out, cache)
        numerical_i = (L(.. x + h e_i ..) - L(.. x - h e_i ..)) / (2 h)
        entry ok   <=> |analytic_i - numerical_i| <= atol + rtol * (|analytic_i| + |numerical_i|)

    The tolerance is rel_error with an absolute floor: entries of ordinary size are judged by
    their relative error (rtol), entries that are almost zero by their absolute error
    (atol), so finite-difference noise on a near-zero entry cannot fail a correct gradient,
    while a transposed matrix or a missing factor fails by orders of magnitude.

    Args:
        forward: callable, `*outputs, cache = forward(*inputs, **forward_kwargs)`.
        backward: callable, `grads = backward(*d_outputs, cache)`; it returns either one
            gradient per input in input order (entries for integer inputs are ignored) or
            one per differentiated input (e.g. `word_embedding_backward -> dW` for the
            inputs `(x, W)`). A single array is accepted for a single gradient.
        inputs: sequence of the forward's positional inputs. Float arrays are checked;
            integer arrays and other values (flags, ints) are passed through unchanged.
        wrt: indices or names of the inputs to check (default: every float array).
        names: names of the inputs for messages (default: the forward's parameter names).
        rng: np.random.Generator or int seed for the upstream gradients.
        h: finite-difference step.
        rtol, atol: the tolerance above.
        forward_kwargs: keyword arguments for forward (e.g. {"reset_after": False}).
        raise_on_failure: raise AssertionError (with report.message()) when any checked
            input fails; otherwise just return the report.
    Returns:
        GradCheckReport with one InputCheck per checked input, in input order.
    Raises:
        AssertionError naming the wrong gradient(s), the max relative and absolute error,
        the entry where the absolute error is largest, and a hint when the mistake has a
        recognisable shape (transpose, constant factor, sign, all zeros). Also raised when
        backward returns the wrong number or shapes of gradients, or when forward modifies
        its inputs in place.
    """
    forward_kwargs = dict(forward_kwargs or {})
    rng = np.random.default_rng(rng)
    inputs = _copies(inputs)                     # never touch the caller's arrays
    names = list(names) if names is not None else _input_names(forward, len(inputs))
    if len(names) != len(inputs):
        raise ValueError(f"names has {len(names)} entries for {len(inputs)} inputs")
    wrt = _resolve_wrt(inputs, wrt, names)

    def run_forward(values):
        result = forward(*_copies(values), **forward_kwargs)
        if not isinstance(result, tuple) or len(result) < 2:
            raise AssertionError(
                f"forward must return (*outputs, cache), a tuple of at least 2 items, got "
                f"{type(result).__name__}"
            )
        return [np.asarray(o, dtype=np.float64) for o in result[:-1]], result[-1]

    # Analytic gradients, and a check that forward leaves its inputs alone.
    probe = _copies(inputs)
    result = forward(*probe, **forward_kwargs)
    for i, (v, p) in enumerate(zip(inputs, probe)):
        if isinstance(v, np.ndarray) and not np.array_equal(v, p, equal_nan=v.dtype.kind == "f"):
            raise AssertionError(f"forward modified its input {i} ({names[i]}) in place; "
                                 "compute into new arrays instead (e.g. x = x + b, not x += b)")
    if not isinstance(result, tuple) or len(result) < 2:
        raise AssertionError(f"forward must return (*outputs, cache), a tuple of at least 2 "
                             f"items, got {type(result).__name__}")
    outputs, cache = [np.asarray(o, dtype=np.float64) for o in result[:-1]], result[-1]
    d_outputs = [rng.standard_normal(o.shape) for o in outputs]
    grads = backward(*[d.copy() for d in d_outputs], cache)
    grads = _match_grads(grads, inputs, wrt, names, "backward")

    def L(values):
        outs, _ = run_forward(values)
        return sum(float(np.sum(d * o)) for d, o in zip(d_outputs, outs))

    checks = []
    for i, g in zip(wrt, grads):
        def L_i(xi, i=i):
            values = list(inputs)
            values[i] = xi
            return L(values)

        numerical = numerical_gradient(L_i, inputs[i], h=h)
        checks.append(_compare(i, names[i], g, numerical, rtol, atol))
    return _finish(checks, rtol, atol, h, raise_on_failure)


def check_gradient(f, inputs, grads, *, wrt=None, names=None, h=1e-6, rtol=1e-6, atol=1e-7,
                   raise_on_failure=True):
    """Compare given gradients of a scalar function with central differences.

        L           = f(*inputs)                (a scalar, e.g. a loss)
        numerical_i = (L(.. x + h e_i ..) - L(.. x - h e_i ..)) / (2 h)

    For functions that return their own gradient, such as
    `loss, dscores = temporal_softmax_loss(scores, y, mask)`:
    `check_gradient(lambda s: temporal_softmax_loss(s, y, mask)[0], [scores], [dscores])`.
    Tolerance, report and errors as in check_backward.

    Args:
        f: callable returning a scalar.
        inputs: sequence of f's positional inputs (copied; never modified).
        grads: gradients, one per input or one per differentiated input.
        wrt, names, h, rtol, atol, raise_on_failure: as in check_backward.
    Returns:
        GradCheckReport.
    """
    inputs = _copies(inputs)
    names = list(names) if names is not None else _input_names(f, len(inputs))
    if len(names) != len(inputs):
        raise ValueError(f"names has {len(names)} entries for {len(inputs)} inputs")
    wrt = _resolve_wrt(inputs, wrt, names)
    grads = _match_grads(grads, inputs, wrt, names, "the gradient list")

    checks = []
    for i, g in zip(wrt, grads):
        def L_i(xi, i=i):
            values = _copies(inputs)
            values[i] = xi
            return f(*values)

        numerical = numerical_gradient(L_i, inputs[i], h=h)
        checks.append(_compare(i, names[i], g, numerical, rtol, atol))
    return _finish(checks, rtol, atol, h, raise_on_failure)
