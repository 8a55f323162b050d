"""Helpers for the test cells of the assignments.

Test cells run in the student's kernel. They call these helpers so that every failure
message says what a student can act on (which output, expected against got shape, the
largest error and where), so that a harmless warning never zeroes a cell (nbgrader gives
0 to a cell that writes to stderr), and so that a graded function that calls the course's
reference implementation earns nothing.

    check_array(name, got, expected)       compare one output
    check_output(name, got, expected, mistakes)
                                           ... and name the typical mistake it equals
    check_all(names, got, expected)        compare several outputs, say which are right
    graded_call(fn, *args, forbid=(...))   call a student function safely
    call(fn, *args, case=...)              ... and turn its exceptions into messages
    returns(out, fn_name, names)           check the shape of a returned tuple
    with_finite_differences(check, ...)    back a comparison by a finite-difference check
    substitute(namespace, **objects)       run a part with the other parts replaced by
                                           references, so one mistake costs one part
    passed(part)                           the line a passing cell prints
"""

import contextlib
import inspect
import linecache
import re
import sys
import types
import warnings

import numpy as np

from course_lib.gradcheck import check_backward

__all__ = ["check_array", "check_scalar", "check_output", "check_all", "graded_call", "call", "returns",
           "same", "mistake_hint", "finite_difference_report", "with_finite_differences", "substitute",
           "passed", "GradingError"]


class GradingError(AssertionError):
    """A failed check; its message is written for the student.

    IPython shows it as that message alone, headed by the part the test cell checks (the title
    its first line opens with, "Part 1, visible: ..."), instead of a traceback through the test's
    and course_lib's frames: in the cell's output and in what nbgrader's Validate reports, the
    line a student acts on comes first (`_render_traceback_`, IPython's hook for this).
    """

    def _render_traceback_(self):
        part = _part_of(self.__traceback__)
        first, *rest = str(self).split("\n")
        return [f"\x1b[0;31mGradingError\x1b[0m: {part + ': ' if part else ''}{first}", *rest]


_PART = re.compile(r'^(?:"""|#)\s*(Part [^:"]+):')


def _part_of(tb):
    """'Part 1, visible' when a frame of traceback `tb` runs a cell that opens with that title."""
    while tb is not None:
        m = _PART.match(linecache.getline(tb.tb_frame.f_code.co_filename, 1))
        if m:
            return m.group(1).strip()
        tb = tb.tb_next
    return ""


def _where(idx, shape):
    return "[" + ", ".join(str(int(i)) for i in idx) + "]" if shape else "(scalar)"


def check_array(name, got, expected, *, atol=1e-6, rtol=1e-6, hint="", case=""):
    """Assert that `got` matches `expected` elementwise, explaining any difference.

    Args:
        name: what the output is called in the assignment, e.g. "log_alpha".
        got: the student's value; expected: the reference value.
        atol, rtol: tolerance, as in np.allclose: |got - expected| <= atol + rtol |expected|.
        hint: a sentence to add when the values differ (a likely cause).
        case: a short description of the inputs, e.g. "T = 7, K = 3".
    """
    where = f" (case: {case})" if case else ""
    expected = np.asarray(expected, dtype=np.float64)
    if got is None:
        raise GradingError(f"{name} is None{where}: the function must return it (a missing `return`?)")
    try:
        got_arr = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        raise GradingError(f"{name} must be a numeric array{where}, got {type(got).__name__}") from None
    if got_arr.shape != expected.shape:
        raise GradingError(
            f"{name} has the wrong shape{where}: expected {expected.shape}, got {got_arr.shape}"
        )
    nan_got = ~np.isfinite(got_arr) & np.isfinite(expected)
    if np.any(nan_got):
        idx = np.unravel_index(np.argmax(nan_got), got_arr.shape)
        raise GradingError(
            f"{name} is not finite at {_where(idx, got_arr.shape)}{where}: got {got_arr[idx]}, "
            f"expected {expected[idx]:.6g}. {hint}".rstrip()
        )
    same_inf = (got_arr == expected)                  # equal infinities count as equal
    err = np.where(same_inf, 0.0, np.abs(got_arr - expected))
    err = np.nan_to_num(err, nan=np.inf, posinf=np.inf)
    tol = atol + rtol * np.abs(np.where(np.isfinite(expected), expected, 0.0))
    bad = err > tol
    if np.any(bad):
        idx = np.unravel_index(np.argmax(np.where(bad, err, -1.0)), got_arr.shape)
        raise GradingError(
            f"{name} is wrong{where}: largest error {err[idx]:.3g} at {_where(idx, got_arr.shape)} "
            f"(got {got_arr[idx]:.6g}, expected {expected[idx]:.6g}); "
            f"{int(bad.sum())} of {bad.size} entries are off. {hint}".rstrip()
        )


def check_scalar(name, got, expected, *, atol=1e-6, rtol=1e-6, hint="", case=""):
    """check_array for a single number, with the same messages."""
    try:
        shape = np.shape(got)
    except Exception:
        shape = None
    if shape not in ((), None):
        where = f" (case: {case})" if case else ""
        raise GradingError(f"{name} must be a single number{where}, got an array of shape {shape}")
    check_array(name, got, expected, atol=atol, rtol=rtol, hint=hint, case=case)


def _course_lib_objects(fn, seen=None):
    """Names in fn's code (and nested code) that resolve to course_lib modules or functions."""
    seen = set() if seen is None else seen
    found = []
    code = getattr(fn, "__code__", None)
    glb = getattr(fn, "__globals__", {})
    if code is None or id(code) in seen:
        return found
    seen.add(id(code))
    stack = [code]
    while stack:
        co = stack.pop()
        for name in co.co_names:
            obj = glb.get(name)
            mod = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", None)
            if isinstance(mod, str) and (mod == "course_lib" or mod.startswith("course_lib.")) \
                    and not mod.startswith("course_lib.grading") and not mod.startswith("course_lib.data"):
                found.append(name)
        stack.extend(c for c in co.co_consts if isinstance(c, types.CodeType))
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            val = cell.cell_contents
        except ValueError:
            continue
        mod = val.__name__ if isinstance(val, types.ModuleType) else getattr(val, "__module__", None)
        if isinstance(mod, str) and mod.startswith("course_lib.") and not mod.startswith(("course_lib.grading", "course_lib.data")):
            found.append(getattr(val, "__name__", "?"))
    return found


@contextlib.contextmanager
def _tripwires(modules):
    """Replace every public function of the given modules with one that fails the check."""
    saved = []
    for mod in modules:
        for name, obj in list(vars(mod).items()):
            if inspect.isfunction(obj) and not name.startswith("_") and obj.__module__ == mod.__name__:
                def tripwire(*args, _name=f"{mod.__name__}.{name}", _original=obj, **kwargs):
                    caller = sys._getframe(1).f_globals.get("__name__", "")
                    if caller.startswith("course_lib."):          # a reference using another one
                        return _original(*args, **kwargs)
                    raise GradingError(
                        f"your code called the course's reference {_name}; this part must be your own implementation"
                    )
                saved.append((mod, name, obj))
                setattr(mod, name, tripwire)
    try:
        yield
    finally:
        for mod, name, obj in saved:
            setattr(mod, name, obj)


def graded_call(fn, *args, forbid=(), **kwargs):
    """Call a student's function: warnings silenced, course_lib references forbidden.

    While a notebook is graded, `fn` stands for the student's function, which runs in
    another process (course_lib.grading.split_execute); the call works the same.

    Args:
        fn: the student's function.
        forbid: course_lib modules whose functions the call may not use.
    Returns:
        whatever fn returns.
    """
    __tracebackhide__ = True                   # IPython: show the student's frames, not these
    return _graded_call(fn, *args, forbid=forbid, **kwargs)


def _graded_call(fn, *args, forbid=(), **kwargs):
    __tracebackhide__ = True
    if not callable(fn):
        raise GradingError(f"expected a function, got {type(fn).__name__}")
    used = _course_lib_objects(fn) if forbid else []
    if used:
        raise GradingError(
            f"{fn.__name__} uses the course's reference implementation ({', '.join(sorted(set(used)))}); "
            "this part must be your own implementation"
        )
    args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    with warnings.catch_warnings(), np.errstate(all="ignore"), _tripwires(forbid):
        warnings.simplefilter("ignore")
        try:
            return fn(*args, **kwargs)
        except NotImplementedError:
            raise GradingError(f"{fn.__name__} is not implemented yet (it raises NotImplementedError)") from None


def _stand_in(obj):
    """A reference wrapped so that neither the reference check nor the tripwires see it."""
    if not callable(obj):
        return obj

    def stand_in(*args, **kwargs):
        return obj(*args, **kwargs)

    stand_in.__name__ = getattr(obj, "__name__", "stand_in")
    return stand_in


@contextlib.contextmanager
def substitute(namespace, **objects):
    """Temporarily bind names in a namespace (the notebook's globals) to other objects.

    A test of one part replaces the functions of other parts by references, so a mistake
    in one part never costs the points of another.
    """
    missing = object()
    saved = {name: namespace.get(name, missing) for name in objects}
    stand_ins = {name: _stand_in(obj) for name, obj in objects.items()}
    namespace.update(stand_ins)
    remote = sys.modules.get("course_lib.grading.answer_proxy")
    session = remote.active_session() if remote else None
    lent = session.lend({n: f for n, f in stand_ins.items() if callable(f)}) if session else contextlib.nullcontext()
    try:
        with lent:
            yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value


def call(fn, *args, case="", forbid=()):
    """graded_call, with any exception of the student's function turned into a GradingError
    that names the function, the exception and the case."""
    try:
        return graded_call(fn, *args, forbid=forbid)
    except GradingError:
        raise
    except Exception as err:
        name = getattr(fn, "__name__", "your function")
        raise GradingError(f"{name} raised {type(err).__name__}: {err} (case: {case})") from None


def returns(out, fn_name, names, case=""):
    """Check that `fn_name` returned a tuple of len(names) values; return it."""
    if not (isinstance(out, tuple) and len(out) == len(names)):
        got = f"a {type(out).__name__} of {len(out)} values" if isinstance(out, (tuple, list)) else type(out).__name__
        raise GradingError(f"{fn_name} must return a tuple of {len(names)} values ({', '.join(names)}), "
                           f"got {got} (case: {case})")
    return out


def same(got, value, tol=1e-6):
    """True when `got` has the shape of `value` and equals it entry by entry, to `tol`
    (absolute and relative). Never raises: what is not numeric is not the same."""
    try:
        got = np.asarray(got, dtype=np.float64)
        value = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    with np.errstate(all="ignore"):
        return got.shape == value.shape and bool(np.all(np.abs(got - value) <= tol + tol * np.abs(value)))


def mistake_hint(name, got, mistakes, template="Your {name} equals {description}."):
    """A sentence naming the typical mistake whose result `got` equals, or "" when none does.

    Args:
        mistakes: (description, value) pairs, each value what a known mistake computes.
        template: the sentence, with {name} and {description}.
    """
    for description, value in mistakes:
        if same(got, value):
            return template.format(name=name, description=description)
    return ""


def check_output(name, got, expected, mistakes=(), hint="", case=""):
    """check_array; when a wrong `got` equals a typical wrong result, the hint names that mistake
    ("Your h is what you get with <description>.") instead of the general `hint`."""
    if not same(got, expected):
        hint = mistake_hint(name, got, mistakes, "Your {name} is what you get with {description}.") or hint
    check_array(name, got, expected, case=case, hint=hint)


def check_all(names, got, expected, hints=None, case="", all_wrong_hint="", mistakes=()):
    """check_output on several outputs at once. The message gives the first wrong output in
    full, names the other wrong ones and the right ones; when all are wrong, `all_wrong_hint`
    (usually the factor they share) is added.

    Args:
        hints: {name: hint} for the outputs.
        mistakes: (description, values) pairs, values a tuple with one entry per output.
    """
    hints = hints or {}
    wrong = []
    for k, (name, g, e) in enumerate(zip(names, got, expected)):
        try:
            check_output(name, g, e, [(d, v[k]) for d, v in mistakes], hints.get(name, ""), case)
        except GradingError as err:
            wrong.append((name, str(err)))
    if wrong:
        message = wrong[0][1] if wrong[0][1].endswith(".") else wrong[0][1] + "."
        if len(wrong) > 1:
            message += f" Also wrong: {', '.join(n for n, _ in wrong[1:])}."
        right = [n for n in names if n not in dict(wrong)]
        if right:
            message += f" These are right: {', '.join(right)}."
        elif all_wrong_hint:
            message += " " + all_wrong_hint
        raise GradingError(message)


def finite_difference_report(forward, backward, inputs, names):
    """The student's backward against central differences of the student's forward
    (course_lib.gradcheck.check_backward): the report's message, or "" when they agree."""
    try:
        report = check_backward(forward, backward, inputs, names=names, rng=0, raise_on_failure=False)
    except Exception as err:
        return str(err)
    return "" if report.passed else report.message()


def with_finite_differences(check, finite_differences, what):
    """Run `check()` (a comparison with the reference). When `finite_differences` is a function
    (visible tests), also run it, a finite-difference check returning a report or "", and show
    its report when either fails; when it is falsy (hidden tests), run `check()` alone."""
    try:
        check()
    except GradingError as err:
        report = finite_differences() if finite_differences else ""
        if report:
            raise GradingError(f"{err}\nThe finite-difference check of {what} says:\n{report}") from None
        raise
    if finite_differences:
        report = finite_differences()
        if report:
            raise GradingError(f"The finite-difference check of {what} failed:\n{report}")


def passed(part):
    """What a passing test cell prints (to stdout, never a number as the last value)."""
    print(f"\u2714 {part}: all checks passed")
