"""The process that runs a student's code while a notebook is graded.

When a notebook is autograded, its cells are split between two processes:

- the grading kernel runs the test cells, the course's given cells and the references that
  compute every expected value; it never runs a line the student wrote;
- this process runs the student's cells (answers and any cell the student added), and the
  given cells too, so that the answers see the imports and constants they were written
  against. It answers the grading kernel's calls of the student's functions.

It starts with the doors of `course_lib.grading.sandbox` closed (as root: the user `nobody`,
no secrets, limits), and with a `course_lib` that holds only the modules the assignment's
given cells import (its *edition*, built by `course_lib.grading.split_execute`): the references the
tests compare with are not in this process, not importable, and (as `nobody`) not readable
on disk. What crosses between the two processes is plain data (`course_lib.grading.wire`).

Requests, each answered before the next one is read:

    {"op": "cell", "source": ..., "names": [...]}   run a cell; report its output and the
                                                     listed names (function, data or missing)
    {"op": "call", "name": ..., "args": [...], "kwargs": {...}}
                                                     call a student's function
    {"op": "substitute", "names": [...]}            while a part is tested with the other
    {"op": "restore"}                                parts' references, those names call
                                                     back to the grading kernel
"""

import argparse
import os
import socket
import sys
import warnings

from course_lib.grading import wire


def use_edition(edition):
    """Make `import course_lib...` find the edition in folder `edition` and nothing else."""
    keep = (__name__, "course_lib.grading.wire", "course_lib.grading.demo_cells")
    for name in [m for m in sys.modules if m == "course_lib" or m.startswith("course_lib.")]:
        if name not in keep:
            del sys.modules[name]
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in getattr(f, "__module__", "").lower()
                        and "editable" not in type(f).__name__.lower() and "editable" not in str(f).lower()]
    sys.path_hooks[:] = [h for h in sys.path_hooks if "editable" not in str(h).lower()]
    sys.path[:] = [p for p in sys.path if "__editable__" not in p]
    sys.path.insert(0, edition)
    sys.path_importer_cache.clear()
    sys.modules.pop("course_lib", None)
    import course_lib  # noqa: F401  (the edition's)

    if os.path.dirname(os.path.dirname(os.path.abspath(course_lib.__file__))) != os.path.abspath(edition):
        raise RuntimeError("the course_lib edition could not be put in place")


class _Session:
    def __init__(self, sock):
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config

        from course_lib.grading.demo_cells import skip_demo

        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        config.InteractiveShell.colors = "NoColor"
        config.InteractiveShell.xmode = "Plain"
        self.shell = InteractiveShell.instance(config=config)
        self.shell.input_transformers_cleanup.append(skip_demo)
        self.sock = sock
        self.handles = []
        self.saved = None

    # ------------------------------------------------------------------ requests
    def cell(self, source, names):
        from IPython.utils.capture import capture_output

        with capture_output(display=True) as captured:
            result = self.shell.run_cell(source, store_history=False, silent=False)
        outputs = []
        if captured.stdout:
            outputs.append({"output_type": "stream", "name": "stdout", "text": captured.stdout[-100_000:]})
        if captured.stderr:
            outputs.append({"output_type": "stream", "name": "stderr", "text": captured.stderr[-100_000:]})
        for rich in captured.outputs[:20]:
            data = {k: v for k, v in rich.data.items() if isinstance(v, str) and len(v) < 4_000_000}
            if data:
                outputs.append({"output_type": "display_data", "data": data, "metadata": {}})
        error = None
        err = result.error_in_exec or result.error_before_exec
        if err is not None:
            error = {"ename": type(err).__name__, "evalue": str(err)[:2000]}
        return {"op": "done", "outputs": outputs, "error": error, "names": self.report(names)}

    def report(self, names):
        out = {}
        for name in names:
            if name not in self.shell.user_ns:
                out[name] = {"kind": "missing"}
                continue
            value = self.shell.user_ns[name]
            if callable(value):
                out[name] = {"kind": "function", "type": type(value).__name__}
                continue
            try:
                out[name] = {"kind": "data", "value": wire.encode(value, self.handles)}
            except wire.WireError as err:
                out[name] = {"kind": "object", "type": type(value).__name__, "why": str(err)}
        return out

    def call(self, name, args, kwargs):
        import numpy as np

        fn = self.shell.user_ns.get(name)
        if fn is None or not callable(fn):
            return {"op": "raise", "type": "NameError", "msg": f"name {name!r} is not defined as a function"}
        try:
            args = [wire.decode(a, self.handles, lent=self._callback) for a in args]
            kwargs = {str(k): wire.decode(v, self.handles, lent=self._callback) for k, v in kwargs.items()}
        except wire.WireError as err:
            return {"op": "raise", "type": "GradingError", "msg": f"arguments could not be read: {err}"}
        everything = [*args, kwargs]
        before = wire.identities(everything)
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                value = fn(*args, **kwargs)
            aliases = {i: p for i, p in wire.identities(everything).items()}
            return {"op": "result", "value": wire.encode(value, self.handles, aliases=aliases),
                    "after": wire.encode_after(everything, before, self.handles)}
        except BaseException as err:                     # noqa: B036  (reported, never raised here)
            return {"op": "raise", "type": type(err).__name__, "msg": str(err)[:2000]}

    def substitute(self, names):
        ns = self.shell.user_ns
        missing = object()
        self.saved = {n: ns.get(n, missing) for n in names}
        for n in names:
            ns[n] = self._callback(n)
        self._missing = missing

    def restore(self):
        ns = self.shell.user_ns
        for n, value in (self.saved or {}).items():
            if value is self._missing:
                ns.pop(n, None)
            else:
                ns[n] = value
        self.saved = None

    def _callback(self, name):
        session = self

        def reference(*args, **kwargs):
            wire.send(session.sock, {"op": "callback", "name": name,
                                     "args": [wire.encode(a, session.handles) for a in args],
                                     "kwargs": {k: wire.encode(v, session.handles) for k, v in kwargs.items()}})
            reply = wire.receive(session.sock)
            if reply.get("op") == "result":
                return wire.decode(reply["value"], session.handles)
            raise RuntimeError(reply.get("msg", "the course's function failed"))

        reference.__name__ = name
        return reference

    # ------------------------------------------------------------------ the loop
    def serve(self):
        wire.send(self.sock, {"op": "ready", "pid": os.getpid()})
        while True:
            try:
                request = wire.receive(self.sock)
            except wire.WireError:
                return
            op = request.get("op")
            if op == "cell":
                reply = self.cell(str(request.get("source", "")), [str(n) for n in request.get("names", [])])
            elif op == "call":
                reply = self.call(str(request.get("name")), request.get("args", []), request.get("kwargs", {}))
            elif op == "substitute":
                self.substitute([str(n) for n in request.get("names", [])])
                reply = {"op": "ok"}
            elif op == "restore":
                self.restore()
                reply = {"op": "ok"}
            elif op == "exit":
                return
            else:
                reply = {"op": "raise", "type": "GradingError", "msg": f"unknown request {op!r}"}
            wire.send(self.sock, reply)


def serve(sock, edition):
    """Run the loop on a connected socket, with course_lib's edition in folder `edition`."""
    use_edition(edition)
    _Session(sock).serve()


def main(argv=None):
    from course_lib.grading import sandbox as sandbox_kernel

    parser = argparse.ArgumentParser(prog="python -m course_lib.grading.answer_process")
    parser.add_argument("--fd", type=int, required=True, help="a connected socket, inherited")
    parser.add_argument("--edition", required=True, help="the folder holding course_lib's edition")
    args = parser.parse_args(argv)
    sock = socket.socket(fileno=args.fd)
    sandbox_kernel.prepare()
    os.chdir(os.environ["HOME"])                         # its private home, nothing of the course
    serve(sock, args.edition)


if __name__ == "__main__":
    main()
