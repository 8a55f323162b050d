"""The one data format between a grading kernel and the process that runs a student's code.

Values cross as plain data only: arrays (NumPy and torch tensors, as bytes with their dtype
and shape), numbers, strings, None, booleans, and tuples, lists and string-keyed dicts of
them. Nothing is ever unpickled, so a value sent by a student's code can hold data and
nothing else. An object that is not plain data (a student's own cache class, a model) stays
in the process that made it and crosses as a handle, which means that object again when it
is sent back to that process.

Messages are JSON documents framed by a 4-byte big-endian length, on a stream socket.
"""

import base64
import json
import struct

import numpy as np

MAX_MESSAGE = 512 * 1024**2          # bytes; a larger answer is refused, not read
MAX_DEPTH = 8


class WireError(Exception):
    """A message that is too large, malformed, or a connection that closed."""


class Lent:
    """A function of the grading kernel passed to the student's code: called there, it calls
    back (course_lib.grading.answer_proxy lends it for the length of one call)."""

    def __init__(self, name):
        self.name = name


class Handle:
    """An object that lives in the other process (see the module docstring)."""

    def __init__(self, number, type_name):
        self.number, self.type_name = number, type_name

    def __repr__(self):
        return f"<{self.type_name} object of the student's code>"


def encode(value, handles=None, depth=0, aliases=None):
    """Plain-data form of `value`. Objects that are not plain data are kept in `handles`
    (a list, in the process that owns them) and sent as their index; without `handles`
    they are refused. An array, list or dict listed in `aliases` ({id: path}) is sent as a
    reference to that argument of the call (see encode_after)."""
    if depth > MAX_DEPTH:
        raise WireError("a value nested more than 8 levels deep")
    if aliases and id(value) in aliases and (isinstance(value, (np.ndarray, list, dict))
                                              or type(value).__name__ in ("Tensor", "Parameter")):
        return {"t": "arg", "path": aliases[id(value)]}
    if isinstance(value, Handle):
        return {"t": "handle", "n": value.number, "type": value.type_name}
    if isinstance(value, Lent):
        return {"t": "lent", "name": str(value.name)}
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return {"t": "py", "v": value}
    if isinstance(value, (int, float)) and type(value) in (int, float):
        return {"t": "num", "kind": type(value).__name__, "v": repr(value)}
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind in "biufc":
        arr = np.array(value, order="C")
        return {"t": "nd", "dtype": arr.dtype.str, "shape": list(arr.shape),
                "scalar": isinstance(value, np.generic), "b64": base64.b64encode(arr.tobytes()).decode()}
    if type(value).__module__ == "torch" and type(value).__name__ in ("Tensor", "Parameter"):
        arr = value.detach().cpu().numpy()
        if arr.dtype.kind in "biufc":
            return {"t": "torch", "v": encode(arr), "grad": bool(value.requires_grad)}
    if isinstance(value, (tuple, list)) and type(value) in (tuple, list):
        return {"t": type(value).__name__, "v": [encode(v, handles, depth + 1, aliases) for v in value]}
    if type(value) is dict and all(isinstance(k, str) for k in value):
        return {"t": "dict", "v": {k: encode(v, handles, depth + 1, aliases) for k, v in value.items()}}
    if hasattr(value, "__array__") and handles is not None:      # an array-like answer: its values
        try:
            arr = np.asarray(value)
        except Exception:                                        # noqa: BLE001  (then a handle)
            arr = None
        if arr is not None and arr.dtype.kind in "biufc":
            return encode(arr, handles, depth, aliases)
    if handles is None:
        raise WireError(f"a {type(value).__name__} is not plain data")
    handles.append(value)
    return {"t": "handle", "n": len(handles) - 1, "type": type(value).__name__}


def decode(d, handles=None, args=None, lent=None):
    """The value `d` (from encode) stands for. A handle becomes the object in `handles` when
    this process owns it, else a Handle; a reference to an argument becomes that object of
    `args`; a lent function becomes `lent(name)`, a function that calls back."""
    if not isinstance(d, dict):
        raise WireError("malformed value")
    t = d.get("t")
    if t == "lent":
        if lent is None:
            raise WireError("a lent function where none may be")
        return lent(str(d.get("name")))
    if t == "arg":
        if args is None:
            raise WireError("a reference to an argument outside a call")
        obj = args
        try:
            for key in d["path"]:
                obj = obj[key]
        except (KeyError, IndexError, TypeError):
            raise WireError("a reference to no argument") from None
        return obj
    if t == "py":
        v = d.get("v")
        if v is None or isinstance(v, (bool, str)):
            return v
        raise WireError("malformed value")
    if t == "num":
        kind, text = d.get("kind"), str(d.get("v"))
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        raise WireError("malformed number")
    if t == "nd":
        dtype = np.dtype(str(d["dtype"]))
        if dtype.kind not in "biufc":
            raise WireError("not a numeric array")
        shape = [int(s) for s in d["shape"]]
        arr = np.frombuffer(base64.b64decode(d["b64"]), dtype=dtype).reshape(shape).copy()
        return arr[()] if d.get("scalar") else arr
    if t == "torch":
        import torch

        out = torch.from_numpy(np.asarray(decode(d["v"])))
        return out.requires_grad_() if d.get("grad") and out.is_floating_point() else out
    if t in ("tuple", "list"):
        items = [decode(v, handles, args, lent) for v in d["v"]]
        return tuple(items) if t == "tuple" else items
    if t == "dict":
        return {str(k): decode(v, handles, args, lent) for k, v in d["v"].items()}
    if t == "handle":
        n = int(d["n"])
        if handles is not None:
            if not 0 <= n < len(handles):
                raise WireError("an unknown handle")
            return handles[n]
        return Handle(n, str(d.get("type", "object")))
    raise WireError(f"unknown value type {t!r}")


def send(sock, message):
    data = json.dumps(message).encode()
    if len(data) > MAX_MESSAGE:
        raise WireError(f"a message of {len(data)} bytes is larger than the limit of {MAX_MESSAGE}")
    sock.sendall(struct.pack(">I", len(data)) + data)


def _exactly(sock, n):
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            raise WireError("the connection closed")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def receive(sock):
    (n,) = struct.unpack(">I", _exactly(sock, 4))
    if n > MAX_MESSAGE:
        raise WireError(f"a message of {n} bytes is larger than the limit of {MAX_MESSAGE}")
    message = json.loads(_exactly(sock, n))
    if not isinstance(message, dict):
        raise WireError("malformed message")
    return message


# ----------------------------------------------------------------------------- a faithful call
# A test may check what a function did to its arguments (modified an array in place, put a new
# array into a dict, returned its input). The answer process therefore sends back, with the
# result, the state of the arguments after the call, saying for each array, list and dict in
# them whether it is still the same object; and a returned object that is one of the arguments
# is sent as a reference to it. The grading kernel applies both to its own arguments, so the
# test sees what it would have seen had the function run beside it.

def _walk(value, path=(), out=None):
    """{path: object} of the mutable parts of an argument tree (arrays, lists, dicts)."""
    out = {} if out is None else out
    if isinstance(value, (np.ndarray, list, dict)) or type(value).__name__ in ("Tensor", "Parameter"):
        out[path] = value
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _walk(v, (*path, i), out)
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(v, (*path, k), out)
    return out


def identities(args):
    """{id(object): path} of the mutable parts of the arguments, taken before the call."""
    return {id(obj): list(path) for path, obj in _walk(list(args)).items()}


def encode_after(args, before, handles):
    """The arguments after the call: containers as {"t": "after", ...} with, for each part,
    whether it is the object that stood there before."""
    def enc(value, path):
        same = before.get(id(value)) == list(path)
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"t": "after-dict", "same": same, "v": {k: enc(v, (*path, k)) for k, v in value.items()}}
        if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
            return {"t": "after-" + type(value).__name__, "same": same, "v": [enc(v, (*path, i)) for i, v in enumerate(value)]}
        return {"t": "after", "same": same, "v": encode(value, handles)}
    return [enc(a, (i,)) for i, a in enumerate(args)]


def apply_after(args, after):
    """Make the grading kernel's `args` (a list) what the function left them (see encode_after)."""
    def apply(orig, state):
        t = state.get("t")
        if t == "after-dict" and isinstance(orig, dict):
            new = {k: (apply(orig[k], s) if k in orig and s.get("same") else decode(_plain(s))) for k, s in state["v"].items()}
            orig.clear()
            orig.update(new)
            return orig
        if t in ("after-list", "after-tuple") and isinstance(orig, (list, tuple)) and len(orig) == len(state["v"]):
            items = [apply(o, s) if s.get("same") else decode(_plain(s)) for o, s in zip(orig, state["v"])]
            if isinstance(orig, list):
                orig[:] = items
                return orig
            return tuple(items)
        if t == "after" and state.get("same"):
            new = decode(state["v"])
            if isinstance(orig, np.ndarray) and isinstance(new, np.ndarray) and new.shape == orig.shape:
                np.copyto(orig, new, casting="unsafe")
                return orig
            if type(orig).__name__ in ("Tensor", "Parameter") and hasattr(new, "shape") and tuple(new.shape) == tuple(orig.shape):
                with __import__("torch").no_grad():
                    orig.copy_(new)
                return orig
        return decode(_plain(state))
    for i, state in enumerate(after[:len(args)]):
        args[i] = apply(args[i], state) if state.get("same") else args[i]
    return args


def _plain(state):
    """The plain encoded value of an after-state."""
    t = state.get("t")
    if t == "after":
        return state["v"]
    if t == "after-dict":
        return {"t": "dict", "v": {k: _plain(s) for k, s in state["v"].items()}}
    if t in ("after-list", "after-tuple"):
        return {"t": t[6:], "v": [_plain(s) for s in state["v"]]}
    raise WireError("malformed argument state")
