"""Exercises at the end of each lecture, checked by the student alone.

Each lecture ends with 2-4 exercises. An exercise is two cells:

- a stub, cell id ``ex<k>-stub``: a self-contained function (its imports inside the cell) whose
  body is ``raise NotImplementedError``; the student replaces the body;
- a check, cell id ``ex<k>-check``: one call such as
  ``lecture01.check_kneser_ney(kneser_ney)`` into ``course_lib.exercises.lecture<NN>``.

A check builds its own inputs, calls the student's function and compares with an oracle
(brute force, an invariant, or a reference in ``course_lib``), with the messages of the
assignments (``course_lib.grading``). Untouched, it prints that the exercise is not attempted
yet and does not fail, so that a lecture runs top to bottom with its exercises untouched. A
wrong answer raises a ``GradingError`` that says what is wrong; a right one prints a tick.

Reference solutions live outside the lectures, in ``tests/exercise_solutions/``; the test suite
runs every check on its solution (it must pass), on the untouched stub (not attempted) and on
typical wrong answers (each must fail).

    @exercise(1, "interpolated Kneser-Ney")
    def check_kneser_ney(kneser_ney):
        got = attempt(kneser_ney, counts, 0.75, case="the toy corpus")
        check_array("P(w | context)", got, expected)
        return "your probabilities sum to one and match the brute-force formula"
"""

import functools

from course_lib.grading import GradingError

__all__ = ["exercise", "attempt", "NotAttempted", "GradingError"]


class NotAttempted(Exception):
    """The student's function still raises NotImplementedError."""


def attempt(fn, *args, case="", **kwargs):
    """Call the student's `fn`. NotImplementedError means "not attempted yet"; any other
    exception becomes a GradingError naming the function, the exception and the case."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise NotAttempted from None
    except GradingError:
        raise
    except Exception as err:
        name = getattr(fn, "__name__", "your function")
        where = f" (case: {case})" if case else ""
        raise GradingError(f"{name} raised {type(err).__name__}: {err}{where}") from None


def exercise(number, title):
    """Decorate a check: `check(fn, ...)` prints a tick when `fn` is right, prints "not
    attempted yet" while `fn` raises NotImplementedError, and raises GradingError (prefixed
    with the exercise) when it is wrong. It returns None, so that a check cell shows only the
    printed line. The check's return value, if a string, is added to the tick line."""
    label = f"Exercise {number} ({title})"

    def decorate(check):
        @functools.wraps(check)
        def run(fn, *args, **kwargs):
            if not callable(fn):
                raise GradingError(f"{label}: pass your function itself, got a {type(fn).__name__}.")
            name = getattr(fn, "__name__", "your function")
            try:
                note = check(fn, *args, **kwargs)
            except NotAttempted:
                print(f"\u2026 {label}: not attempted yet. Replace `raise NotImplementedError` in "
                      f"{name} above and run this cell again.")
                return None
            except GradingError as err:
                raise GradingError(f"{label}: {err}") from None
            print(f"\u2714 {label}: correct." + (f" {note}" if isinstance(note, str) and note else ""))
            return None

        run.exercise_label = label
        return run

    return decorate
