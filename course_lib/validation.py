"""Input validation shared by the public entry points of the neural-network modules.

    check_shape("Wx", Wx, ("D", "H"), dims)   ->  float64 array, binds D and H in dims
    check_range("y", y, V)                    ->  every value in [0, V)

Messages state what was expected and what came: `Wx must have shape (D, H) = (3, 4), got (4, 3)`.
Axis symbols may carry a multiplier ("4H" for the stacked LSTM gates).
"""

import re

import numpy as np

__all__ = ["check_shape", "check_range", "is_int", "is_real"]

_AXIS = re.compile(r"^(\d*)([A-Za-z]\w*)$")


def _format_shape(spec, dims):
    known = [str(int(m or 1) * dims[s]) if s in dims else a
             for a, (m, s) in zip(spec, (_AXIS.match(a).groups() for a in spec))]
    sym = f"({', '.join(spec)}{',' if len(spec) == 1 else ''})"
    if all(a in spec for a in known):          # nothing known yet: symbols only
        return sym
    return f"{sym} = ({', '.join(known)}{',' if len(spec) == 1 else ''})"


def check_shape(name, value, spec, dims, kind="float"):
    """Validate one argument against a symbolic shape and bind the new symbols.

    Args:
        name: the argument's name, for messages ("Wx").
        value: array-like.
        spec: tuple of axis symbols, e.g. ("D", "H") or ("H", "4H").
        dims: dict symbol -> size, updated with the symbols this array binds.
        kind: "float" (real, finite, returned as float64) or "int" (integer dtype).
    Returns:
        the array (float64 for kind="float").
    Raises:
        ValueError: e.g. "Wx must have shape (D, H) = (3, 4), got (4, 3)".
    """
    arr = np.asarray(value)
    if kind == "float":
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float64, copy=False)
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    new = dict(dims)
    ok = arr.ndim == len(spec)
    if ok:
        for size, axis in zip(arr.shape, spec):
            m, s = _AXIS.match(axis).groups()
            m = int(m or 1)
            if s not in new:
                if size % m:
                    ok = False
                    break
                new[s] = size // m
            if size != m * new[s]:
                ok = False
                break
    if not ok:
        raise ValueError(f"{name} must have shape {_format_shape(spec, new)}, got {arr.shape}")
    if kind == "float" and not np.all(np.isfinite(arr)):
        bad = ~np.isfinite(arr)
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must be finite; it has {int(bad.sum())} NaN or inf "
                         f"entries, the first at index {first}")
    dims.update(new)
    return arr


def check_range(name, arr, V, symbol="V"):
    """Integer array with every value in [0, V)."""
    bad = (arr < 0) | (arr >= V)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must hold values in [0, {symbol}) = [0, {V}), got "
                         f"{arr[first]} at index {first}")


def is_int(value):
    """A Python or NumPy integer, and not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value):
    """A Python or NumPy real number (integers included), and not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def check_positive_ints(**sizes):
    """Raise ValueError naming the first size that is not a positive int: check_positive_ints(H=64)."""
    for name, value in sizes.items():
        if not is_int(value) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
