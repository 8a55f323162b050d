"""The grading kernel's side of a notebook graded in two processes (course_lib.grading.answer_process).

While a notebook is autograded (course_lib.grading.split_execute), each cell the student wrote is
replaced, in the grading kernel, by a call of `forward`: the cell runs in the answer
process, its output is shown here, and the names the tests use are bound here to stand-ins.
A stand-in function sends its arguments to the answer process and returns what the
student's function returned there, as plain data. The tests, and every reference they
compare with, run here only.

The answer process is started on first use. If it dies or a call does not return in time,
it is killed, started again, and the student's cells run again in it, so that a crash or a
hang costs the calls it spoiled and no others; a function that hung once is not called again.
"""

import base64
import builtins
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

from course_lib.grading import wire
from course_lib.grading.environment import answer_environment

READY_SECONDS = 120          # to start the answer process (a busy machine, torch to import)


class AnswerCellError(Exception):
    """A cell of the student's raised an error in the answer process."""


def _exception(kind, message):
    """The exception a student's function raised, rebuilt here: a built-in type as itself,
    anything else as an Exception of the same name."""
    exc = getattr(builtins, kind, None)
    if isinstance(exc, type) and issubclass(exc, Exception) and exc.__module__ == "builtins":
        return exc(message)
    name = kind if kind.isidentifier() else "Error"
    if name == "GradingError":
        from course_lib.grading import GradingError

        return GradingError(message)
    return type(name, (Exception,), {"__module__": "student"})(message)


class AnswerFunction:
    """Stands in, in the grading kernel, for a function defined by the student's code."""

    def __init__(self, session, name):
        self._session, self.__name__, self.__qualname__ = session, name, name

    def __call__(self, *args, **kwargs):
        return self._session.call(self.__name__, args, kwargs)

    def __repr__(self):
        return f"<the student's {self.__name__}>"


class AnswerSession:
    def __init__(self, edition, isolate, timeout, server=None, cwd=None):
        self.edition, self.isolate, self.timeout, self.server = edition, isolate, float(timeout), server
        self.cwd = cwd or os.getcwd()
        self.cells = []                  # (source, names) run so far: the state to rebuild
        self.hung = set()
        self.substitutes = {}
        self.sock = self.pid = self.server_conn = None
        self.starts = 0

    # ------------------------------------------------------------------ process
    def _spawn(self):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = answer_environment(os.environ, self.isolate)
        try:
            if self.server:
                conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                conn.connect(self.server)
                request = {"kind": "answers", "env": env, "cwd": self.cwd, "edition": self.edition}
                socket.send_fds(conn, [(json.dumps(request) + "\n").encode()], [theirs.fileno()])
                reply = b""
                while not reply.endswith(b"\n"):
                    chunk = conn.recv(64)
                    if not chunk:
                        raise RuntimeError("the kernel server did not start the answer process")
                    reply += chunk
                self.pid, self.server_conn = int(reply), conn
            else:
                proc = subprocess.Popen([sys.executable, "-m", "course_lib.grading.answer_process", "--fd",
                                         str(theirs.fileno()), "--edition", self.edition],
                                        pass_fds=[theirs.fileno()], env=env, cwd=self.cwd,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
                self.pid = proc.pid
        finally:
            theirs.close()
        self.sock = ours
        self.starts += 1
        ready = self._receive(time.monotonic() + READY_SECONDS)
        if ready.get("op") != "ready":
            raise RuntimeError("the answer process did not start")

    def kill(self):
        if self.pid:
            for target in (lambda: os.killpg(self.pid, signal.SIGKILL), lambda: os.kill(self.pid, signal.SIGKILL)):
                try:
                    target()
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pass
        for s in (self.sock, self.server_conn):
            if s is not None:
                s.close()
        self.sock = self.pid = self.server_conn = None

    def _ensure(self):
        """Start the answer process if it is not running, and run the student's cells again in
        it; a cell that now hangs or kills it is left out from then on."""
        while self.sock is None:
            self._spawn()
            for i, (source, names) in enumerate(self.cells):
                try:
                    self._request({"op": "cell", "source": source, "names": names})
                except (TimeoutError, wire.WireError):
                    del self.cells[i]
                    break
            else:
                if self.substitutes:
                    self._request({"op": "substitute", "names": sorted(self.substitutes)})

    # ------------------------------------------------------------------ messages
    def _receive(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(remaining)
        try:
            return wire.receive(self.sock)
        except (socket.timeout, TimeoutError):
            raise TimeoutError from None
        except OSError as err:
            raise wire.WireError(str(err)) from None

    def _request(self, message, timeout=None):
        """Send a request and wait for its reply, answering the callbacks that come first.
        Raises TimeoutError or wire.WireError (the process is then killed)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            wire.send(self.sock, message)
            while True:
                reply = self._receive(deadline)
                if reply.get("op") != "callback":
                    return reply
                wire.send(self.sock, self._callback(reply))
        except (TimeoutError, wire.WireError, OSError) as err:
            self.kill()
            if isinstance(err, TimeoutError):
                raise
            raise wire.WireError(str(err)) from None

    def _callback(self, request):
        fn = self.substitutes.get(str(request.get("name")))
        if fn is None:
            return {"op": "raise", "type": "NameError", "msg": "no such function of the course is lent now"}
        try:
            args = [wire.decode(a) for a in request.get("args", [])]
            kwargs = {str(k): wire.decode(v) for k, v in request.get("kwargs", {}).items()}
            return {"op": "result", "value": wire.encode(fn(*args, **kwargs))}
        except Exception as err:                                  # noqa: BLE001  (sent back)
            return {"op": "raise", "type": type(err).__name__, "msg": str(err)[:2000]}

    # ------------------------------------------------------------------ the kernel's uses
    def run_cell(self, source, names):
        self._ensure()
        try:
            reply = self._request({"op": "cell", "source": source, "names": list(names)})
        except TimeoutError:
            return {"outputs": [], "names": {}, "error": {
                "ename": "TimeoutError", "evalue": f"the cell did not finish within {self.timeout:g} s; it was stopped"}}
        except wire.WireError:
            return {"outputs": [], "names": {}, "error": {
                "ename": "RuntimeError", "evalue": "the process running your code stopped during this cell"}}
        self.cells.append((source, list(names)))
        return reply

    def call(self, name, args, kwargs):
        from course_lib.grading import GradingError

        if name in self.hung:
            raise GradingError(f"{name} is not called again: it did not return in time earlier")
        lent = {}

        def lend(value):                    # a function argument is called back, not sent
            if callable(value) and not isinstance(value, (wire.Handle, type)):
                key = f"argument {len(lent)}"
                lent[key] = value
                return wire.Lent(key)
            if type(value) in (list, tuple):
                return type(value)(lend(v) for v in value)
            if type(value) is dict:
                return {k: lend(v) for k, v in value.items()}
            return value
        try:
            message = {"op": "call", "name": name, "args": [wire.encode(lend(a)) for a in args],
                       "kwargs": {k: wire.encode(lend(v)) for k, v in kwargs.items()}}
        except wire.WireError as err:
            raise GradingError(f"the test could not send its arguments to {name}: {err}") from None
        self._ensure()
        saved = self.substitutes
        self.substitutes = {**saved, **lent}
        try:
            reply = self._request(message)
        except TimeoutError:
            self.hung.add(name)
            raise GradingError(f"{name} did not return within {self.timeout:g} s; it was stopped") from None
        except wire.WireError:
            raise GradingError(f"the process running your code stopped while {name} ran "
                               "(it crashed, exited or ran out of memory)") from None
        finally:
            self.substitutes = saved
        if reply.get("op") == "result":
            try:
                everything = [*args, kwargs]
                if isinstance(reply.get("after"), list):
                    wire.apply_after(everything, reply["after"])
                return wire.decode(reply.get("value"), args=everything)
            except (wire.WireError, ValueError, KeyError, TypeError) as err:
                raise GradingError(f"{name} returned something that is not plain data ({err})") from None
        if reply.get("op") == "raise":
            raise _exception(str(reply.get("type")), str(reply.get("msg", "")))
        raise GradingError(f"{name}: an unexpected reply")

    @contextlib.contextmanager
    def lend(self, functions):
        """While the body runs, the student's code calling one of these names calls the given
        function here (a reference standing in for another part)."""
        saved = self.substitutes
        self.substitutes = {**saved, **functions}
        try:
            self._ensure()
            self._request({"op": "substitute", "names": sorted(functions)})
        except (TimeoutError, wire.WireError):
            pass
        try:
            yield
        finally:
            self.substitutes = saved
            if self.sock is not None:
                try:
                    self._request({"op": "restore"})
                    if saved:
                        self._request({"op": "substitute", "names": sorted(saved)})
                except (TimeoutError, wire.WireError):
                    pass


_SESSION = {"session": None}


def active_session():
    """The session of this kernel while a notebook is graded in two processes, else None."""
    return _SESSION["session"]


def _session():
    if _SESSION["session"] is None:
        _SESSION["session"] = AnswerSession(
            edition=os.environ["COURSE_ANSWER_LIB"], isolate=os.environ.get("COURSE_ANSWERS_ISOLATE") == "1",
            timeout=float(os.environ.get("COURSE_ANSWER_TIMEOUT", "60")),
            server=os.environ.get("COURSE_KERNEL_SERVER") or None)
    return _SESSION["session"]


def forward(namespace, source_b64, names, given=False):
    """Run one of the student's cells in the answer process, show its output, and bind in
    `namespace` (the notebook's globals) the listed names it defines. A given cell (already
    run here) shows nothing of its second run."""
    from IPython.display import publish_display_data

    session = _session()
    reply = session.run_cell(base64.b64decode(source_b64).decode("utf-8"), names)
    if given:
        error = reply.get("error")
        if error:                           # the course's cell failed where the answers run
            print(f"In the process that runs the student's code this cell failed: "
                  f"{error.get('ename')}: {error.get('evalue')}", file=sys.stderr)
        return
    for out in reply.get("outputs", []):
        if out.get("output_type") == "stream":
            (sys.stderr if out.get("name") == "stderr" else sys.stdout).write(str(out.get("text", "")))
        elif out.get("output_type") == "display_data" and isinstance(out.get("data"), dict):
            publish_display_data({str(k): str(v) for k, v in out["data"].items()})
    sys.stdout.flush()
    sys.stderr.flush()
    for name, info in reply.get("names", {}).items():
        if name not in names:
            continue
        kind = info.get("kind")
        if kind == "function":
            namespace[name] = AnswerFunction(session, name)
        elif kind == "data":
            try:
                namespace[name] = wire.decode(info.get("value"))
            except (wire.WireError, ValueError, KeyError, TypeError):
                namespace.pop(name, None)
        elif kind == "object":
            namespace[name] = wire.Handle(-1, str(info.get("type", "object")))
    error = reply.get("error")
    if error:
        raise AnswerCellError(f"{error.get('ename')}: {error.get('evalue')}")
