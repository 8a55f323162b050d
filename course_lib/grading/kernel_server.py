"""Warm grading kernels: a server that forks a ready interpreter for every kernel.

    python -m course_lib.grading.kernel_server SOCKET [--preload numpy,scipy.special,torch] [--plain]

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

A plain server (`--plain`, `start(..., plain=True)`) serves the course's own notebooks, not
submissions: its kernels are ordinary IPython kernels, as `python -m ipykernel_launcher` starts
them (no sandbox, the threads the environment asks for), and it starts no answer process. The
test suite and the website run the lectures in them (course_lib.execution.execute_notebook).
"""

import argparse
import atexit
import gc
import importlib.util
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from course_lib.grading import sandbox as sandbox_kernel
from course_lib.grading.environment import single_threaded

CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernel_client.py")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")     # debugpy, preloaded, stays quiet
# What IPKernelApp.initialize imports (measured: about 160 modules, debugpy among them); and,
# for grading, the libraries every assignment uses and the grading modules a kernel loads.
KERNEL = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.debugger",
          "IPython.core.completerlib", "IPython.core.debugger", "IPython.core.oinspect",
          "IPython.utils.wildcard", "IPython.utils.capture")
GRADING = ("sqlite3", "psutil", "numpy", "scipy.special", "course_lib.grading.answer_process",
           "course_lib.grading.demo_cells")


def preload_for(notebooks):
    """The extra modules worth loading for kernels that run these notebooks: ["torch"] when their
    code imports torch, itself or through a course_lib module (about 1 s a process), else []."""
    code = "\n".join(c.source for nb in notebooks for c in nb.cells if c.cell_type == "code")
    if re.search(r"\btorch\b", code):
        return ["torch"]
    modules = set(re.findall(r"course_lib\.(\w+)", code))
    for names in re.findall(r"from\s+course_lib\s+import\s+([\w\s,]+)", code):
        modules.update(n.split()[0] for n in names.split(",") if n.strip())
    for name in sorted(modules):
        spec = importlib.util.find_spec(f"course_lib.{name}") if name.isidentifier() else None
        if spec and spec.origin:
            with open(spec.origin, encoding="utf-8") as f:
                if re.search(r"^\s*(import|from)\s+torch\b", f.read(), re.M):
                    return ["torch"]
    return []


def write_kernelspec(folder, name, argv, display_name="Python 3 (grading sandbox)", debugger=False):
    """Write the kernelspec `name` with this argv under folder/kernels/ (a JUPYTER_PATH entry)."""
    spec_dir = Path(folder) / "kernels" / name
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": list(argv), "display_name": display_name, "language": "python", "metadata": {"debugger": debugger}}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))


def process_server(state, name, env, preload, plain=False, display_name="Python 3 (grading sandbox)",
                   debugger=False):
    """This process's warm-kernel server, kept in `state` (a dict of the caller's module): started on
    first use, again in a forked copy of the process (a server belongs to the process that started
    it) and again after it ended (a process can outlive it: Formgrader's autograde runs inside the
    Jupyter server); it ends with the process. `env()` and `preload()` give its environment and
    extra modules when it starts. Its socket, and the kernelspec `name` that starts its kernels,
    live in the process's kernel-socket folder. Returns (the JUPYTER_PATH entry holding the
    kernelspec, the socket), or (None, None) when the server does not come up."""
    from course_lib.grading.kernel_manager import (
        socket_folder,  # jupyter_client: not for the server itself
    )

    ended = state.get("proc") is not None and state["proc"].poll() is not None
    if state.get("pid") != os.getpid() or ended:
        folder = Path(socket_folder())
        sock = folder / f"{name}.sock"
        proc = start(sock, env(), preload(), plain=plain)
        state.update(pid=os.getpid(), proc=None, specs=None, sock=None)
        if ready(proc):
            atexit.register(stop, proc)
            write_kernelspec(folder / name, name, kernel_argv(sock), display_name, debugger)
            state.update(proc=proc, specs=str(folder / name), sock=str(sock))
    return state["specs"], state["sock"]


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


def _enter(request, fd=None, plain=False):
    """In a forked child: a session of its own, no server pipes, the request's folder and
    environment (one thread per library unless plain). Returns `fd`, moved off 0-2 if it was there."""
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
    if not plain:
        single_threaded(os.environ)                      # as the libraries were loaded
    return fd


def _child(conn, request, plain=False):
    _enter(request, plain=plain)
    argv = list(request["argv"]) if plain else sandbox_kernel.prepare(request["argv"])
    threading.Thread(target=_watch_client, args=(conn,), daemon=True).start()
    from ipykernel.kernelapp import IPKernelApp

    sys.argv = [importlib.util.find_spec("ipykernel_launcher").origin, *argv]   # as `python -m ipykernel_launcher`
    app = IPKernelApp.instance()
    app.initialize(argv)
    gc.freeze()          # the kernel's start-up objects, kept to its end: its collections skip them too
    app.start()


def _answers_child(conn, request, fd):
    """An answer process (course_lib.grading.answer_process) on the socket `fd` sent with the request."""
    fd = _enter(request, fd)
    sandbox_kernel.prepare()
    os.chdir(os.environ["HOME"])                         # its private home, nothing of the course
    threading.Thread(target=_watch_client, args=(conn,), daemon=True).start()
    from course_lib.grading import answer_process

    answer_process.serve(socket.socket(fileno=fd), request["edition"])


def serve(socket_path, preload=(), plain=False, until_stdin_closes=False):
    """Import the modules, listen on socket_path, print "ready", fork a kernel per request
    (an ordinary kernel, and no answer process, if plain). With until_stdin_closes, exit when
    standard input ends: the process that started the server has ended, however it ended."""
    if sys.path and sys.path[0] in ("", os.getcwd()):   # as ipykernel_launcher: not this folder's modules
        del sys.path[0]
    if not plain:
        single_threaded(os.environ)
    for name in (*KERNEL, *(() if plain else GRADING), *preload):
        importlib.import_module(name)
    # The preloaded objects never become garbage: out of the collector's sight, a child's full
    # collections do not walk them all (torch's alone cost about 0.2 s of CPU a collection) nor
    # write to the pages the children share with this process.
    gc.collect()
    gc.freeze()
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
        if until_stdin_closes:
            readable, _, _ = select.select([server, sys.stdin.fileno()], [], [])
            if sys.stdin.fileno() in readable and not os.read(sys.stdin.fileno(), 4096):
                sys.exit(0)
            if server not in readable:
                continue
        conn, _ = server.accept()
        fds = []
        try:
            line, fds = _readline(conn)
            request = json.loads(line)
            answers = request.get("kind") == "answers"
            if answers and (plain or len(fds) != 1):
                raise ValueError("an answer process needs its socket, and a grading server")
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
                    _child(conn, request, plain)
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


def start(socket_path, env, preload=(), plain=False):
    """Start a server in a new process with this environment and these extra modules; returns
    the process. `ready(process)` tells whether it came up. The server ends with this process."""
    return subprocess.Popen([sys.executable, "-m", "course_lib.grading.kernel_server", str(socket_path),
                             "--preload", ",".join(preload), "--until-stdin-closes", *(["--plain"] if plain else [])],
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=True)


def ready(proc):
    """Wait until the server says "ready"; False (and the process killed) if it ended first."""
    if proc.stdout.readline().strip() == "ready":
        return True
    proc.kill()
    return False


def stop(proc):
    """End a server (its kernels end with their clients)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    for pipe in (proc.stdin, proc.stdout):
        if pipe:
            pipe.close()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_lib.grading.kernel_server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("socket", help="path of the Unix socket to listen on")
    parser.add_argument("--preload", default="", help="more modules to import once, comma-separated")
    parser.add_argument("--plain", action="store_true",
                        help="ordinary kernels for the course's own notebooks: no sandbox, no answer process")
    parser.add_argument("--until-stdin-closes", action="store_true",
                        help="exit when standard input ends (the starting process has ended)")
    args = parser.parse_args(argv)
    serve(args.socket, [m for m in args.preload.split(",") if m], plain=args.plain,
          until_stdin_closes=args.until_stdin_closes)


if __name__ == "__main__":
    main()
