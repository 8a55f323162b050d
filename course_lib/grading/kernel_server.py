"""Warm grading kernels: a server that forks a ready interpreter for every kernel.

    python -m course_lib.grading.kernel_server SOCKET [--preload numpy,scipy.special,torch]

Starting an IPython kernel costs an interpreter, ipykernel, NumPy and SciPy (and torch for
the later assignments): seconds per process, twice per graded submission (the grading
kernel, and the answer process that runs the student's code). The server imports those
modules once and forks a child per request. A kernel child

1. starts a new session (its own process group, killed as a whole by the grader),
2. takes the environment and working folder of the request,
3. closes the doors of `course_lib.grading.sandbox` (no secrets in the environment; a private
   home; memory, file-size and wall-clock limits; `nobody` if the request asks for it),
4. runs IPKernelApp on the connection file, and exits with it.

An answer-process child (a request of kind "answers", with a connected socket passed along)
does the same with `nobody` when isolating, moves to its private home and serves
`course_lib.grading.answer_process` on the socket.

The child dies with the client that asked for it (`course_lib/grading/kernel_client.py`, started
by jupyter_client from the kernelspec): jupyter_client signals and kills that client, which
passes interrupts on, and the child kills its own group when the client's connection
closes. The server holds no secret and no course file, only the preloaded third-party
modules, so a child starts with nothing a fresh `python -m ipykernel_launcher` would not
have.
"""

import argparse
import importlib
import json
import os
import signal
import socket
import sys
import threading

from course_lib.grading import sandbox as sandbox_kernel
from course_lib.grading.environment import single_threaded

CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernel_client.py")
# What IPKernelApp.initialize imports (measured: about 160 modules, debugpy among them), and
# the libraries every assignment uses.
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")     # debugpy, preloaded, stays quiet
single_threaded(os.environ)
ALWAYS = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.debugger",
          "IPython.core.completerlib", "IPython.core.debugger", "IPython.core.oinspect",
          "IPython.utils.wildcard", "IPython.utils.capture", "sqlite3", "psutil", "numpy", "scipy.special",
          "course_lib.grading.answer_process", "course_lib.grading.demo_cells")


def kernel_argv(socket_path):
    """The kernelspec argv of a kernel served by the server listening on socket_path."""
    return [sys.executable, "-I", "-S", CLIENT, str(socket_path), "-f", "{connection_file}"]


def _readline(conn, limit=1 << 20):
    """The request line, and the file descriptors sent with it (an answer process's socket)."""
    data, fds, _, _ = socket.recv_fds(conn, 65536, 1)
    if not data:
        raise ConnectionError("the request ended early")
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("the request ended early")
        data += chunk
        if len(data) > limit:
            raise ConnectionError("the request is too long")
    return data, fds


def _watch_client(conn):
    """Kill this kernel's process group when the client's connection closes."""
    try:
        while conn.recv(1024):
            pass
    except OSError:
        pass
    os.killpg(0, signal.SIGKILL)


def _enter(request, fd=None):
    """In a forked child: a session of its own, no server pipes, the request's folder and
    environment. Returns `fd`, moved off 0-2 if it was there."""
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)             # never the server's pipes
    for target in (0, 1, 2):
        if fd == target:
            fd = os.dup(fd)
        os.dup2(devnull, target)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    single_threaded(os.environ)                          # as the libraries were loaded
    return fd


def _child(conn, request):
    _enter(request)
    argv = sandbox_kernel.prepare(request["argv"])
    threading.Thread(target=_watch_client, args=(conn,), daemon=True).start()
    from ipykernel.kernelapp import IPKernelApp

    sys.argv = ["ipykernel_launcher", *argv]
    app = IPKernelApp.instance()
    app.initialize(argv)
    app.start()


def _answers_child(conn, request, fd):
    """An answer process (course_lib.grading.answer_process) on the socket `fd` sent with the request."""
    fd = _enter(request, fd)
    sandbox_kernel.prepare()
    os.chdir(os.environ["HOME"])                         # its private home, nothing of the course
    threading.Thread(target=_watch_client, args=(conn,), daemon=True).start()
    from course_lib.grading import answer_process

    answer_process.serve(socket.socket(fileno=fd), request["edition"])


def serve(socket_path, preload=()):
    """Import the modules, listen on socket_path, print "ready", fork a kernel per request."""
    for name in (*ALWAYS, *preload):
        importlib.import_module(name)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    old = os.umask(0o177)
    try:
        server.bind(socket_path)                         # 0600: the grader's own user only
    finally:
        os.umask(old)
    server.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)        # children are reaped by the system
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        fds = []
        try:
            line, fds = _readline(conn)
            request = json.loads(line)
            answers = request.get("kind") == "answers"
            if answers and len(fds) != 1:
                raise ValueError("an answer process needs its socket")
        except (ConnectionError, ValueError, OSError):
            for fd in fds:
                os.close(fd)
            conn.close()
            continue
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                server.close()
                if answers:
                    _answers_child(conn, request, fds[0])
                else:
                    _child(conn, request)
                status = 0
            finally:
                os._exit(status)
        for fd in fds:
            os.close(fd)
        try:
            conn.sendall(f"{pid}\n".encode())
        except OSError:
            os.kill(pid, signal.SIGKILL)
        conn.close()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_lib.grading.kernel_server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("socket", help="path of the Unix socket to listen on")
    parser.add_argument("--preload", default="", help="more modules to import once, comma-separated")
    args = parser.parse_args(argv)
    serve(args.socket, [m for m in args.preload.split(",") if m])


if __name__ == "__main__":
    main()
