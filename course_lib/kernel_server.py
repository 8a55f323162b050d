"""Warm grading kernels: a server that forks a ready interpreter for every kernel.

    python -m course_lib.kernel_server SOCKET [--preload numpy,scipy.special,torch]

Starting an IPython kernel costs an interpreter, ipykernel, NumPy and SciPy (and torch for
the later assignments): seconds per kernel, twice per graded submission (the student's
kernel and the replay). The server imports those modules once and then, for each kernel
asked for, forks a child that

1. starts a new session (its own process group, killed as a whole by the grader),
2. takes the environment and working folder of the request,
3. closes the same doors as `course_lib.sandbox_kernel` (as root: the user `nobody`; no
   secrets in the environment; a private home; memory, file-size and wall-clock limits),
4. runs IPKernelApp on the connection file, and exits with it.

The child dies with the client that asked for it (`course_lib/kernel_client.py`, started
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

from course_lib import sandbox_kernel

CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernel_client.py")
# What IPKernelApp.initialize imports (measured: about 160 modules, debugpy among them), and
# the libraries every assignment uses.
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")     # debugpy, preloaded, stays quiet
# One BLAS/OpenMP thread per kernel: the grader runs -j kernels at once, and test cells are small.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
for _var in THREAD_VARIABLES:
    os.environ.setdefault(_var, "1")
ALWAYS = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.debugger",
          "IPython.core.completerlib", "IPython.core.debugger", "IPython.core.oinspect",
          "IPython.utils.wildcard", "sqlite3", "psutil", "numpy", "scipy.special")


def kernel_argv(socket_path):
    """The kernelspec argv of a kernel served by the server listening on socket_path."""
    return [sys.executable, "-I", "-S", CLIENT, str(socket_path), "-f", "{connection_file}"]


def _readline(conn, limit=1 << 20):
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("the request ended early")
        data += chunk
        if len(data) > limit:
            raise ConnectionError("the request is too long")
    return data


def _watch_client(conn):
    """Kill this kernel's process group when the client's connection closes."""
    try:
        while conn.recv(1024):
            pass
    except OSError:
        pass
    os.killpg(0, signal.SIGKILL)


def _child(conn, request):
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)             # never the server's pipes
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for var in THREAD_VARIABLES:                         # as the libraries were loaded
        os.environ.setdefault(var, "1")
    argv = sandbox_kernel.prepare(request["argv"])
    threading.Thread(target=_watch_client, args=(conn,), daemon=True).start()
    from ipykernel.kernelapp import IPKernelApp

    sys.argv = ["ipykernel_launcher", *argv]
    app = IPKernelApp.instance()
    app.initialize(argv)
    app.start()


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
        try:
            request = json.loads(_readline(conn))
        except (ConnectionError, ValueError):
            conn.close()
            continue
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                server.close()
                _child(conn, request)
                status = 0
            finally:
                os._exit(status)
        try:
            conn.sendall(f"{pid}\n".encode())
        except OSError:
            os.kill(pid, signal.SIGKILL)
        conn.close()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_lib.kernel_server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("socket", help="path of the Unix socket to listen on")
    parser.add_argument("--preload", default="", help="more modules to import once, comma-separated")
    args = parser.parse_args(argv)
    serve(args.socket, [m for m in args.preload.split(",") if m])


if __name__ == "__main__":
    main()
