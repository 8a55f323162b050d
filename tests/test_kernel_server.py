"""Warm grading kernels (course_lib.grading.kernel_server) and demonstration cells (course_lib.grading.demo_cells).

A kernel forked by the server must behave as the cold sandbox kernel does: it runs code in the
folder it was asked for, with no secret in its environment and a private home; as root it runs as
`nobody`; it can be interrupted; it dies when its client is killed; it loads the demonstration-cell
extension it is given. Every property is observed from outside, on a real kernel.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from jupyter_client.manager import KernelManager

from course_lib.grading import demo_cells
from course_lib.grading.kernel_server import kernel_argv
from course_lib.grading.sandbox import isolation_available, process_start_time


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("kernel-server")
    os.chmod(base, 0o755)
    sock = base / "server.sock"
    proc = subprocess.Popen([sys.executable, "-m", "course_lib.grading.kernel_server", str(sock)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout.readline().strip() == "ready"
    spec = base / "jupyter" / "kernels" / "warm"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": kernel_argv(sock), "display_name": "warm",
                                                  "language": "python"}))
    yield {"base": base, "jupyter": str(base / "jupyter"), "isolate": isolation_available()}
    proc.terminate()
    proc.wait(timeout=10)


def start(server, env=None, extra=()):
    """A served kernel and a client to it, with JUPYTER_PATH pointing at the server's kernelspec."""
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = server["jupyter"]
    try:
        km = KernelManager(kernel_name="warm")
        km.start_kernel(env=env or dict(os.environ), extra_arguments=list(extra), cwd=str(server["base"]))
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH")
        else:
            os.environ["JUPYTER_PATH"] = old
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return km, kc


def run(kc, code, timeout=30):
    """stdout of `code`, and the error name if it raised."""
    out, err = [], []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            err.append(msg["content"]["ename"])
    kc.execute_interactive(code, output_hook=hook, timeout=timeout)
    return "".join(out), err[0] if err else None


def stop(km, kc):
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def test_a_served_kernel_runs_sandboxed(server):
    env = dict(os.environ, PGPASSWORD="hunter2", COURSE_SANDBOX_ISOLATE="1" if server["isolate"] else "0")
    km, kc = start(server, env=env)
    try:
        out, err = run(kc, "import os, json; print(json.dumps([os.getcwd(), os.environ.get('PGPASSWORD'), "
                           "os.environ['HOME'], os.getuid(), os.getpid(), os.getpgid(0)]))")
        assert err is None
        cwd, password, home, uid, pid, pgid = json.loads(out)
        assert cwd == str(server["base"])
        assert password is None, "a secret reached the kernel"
        assert "course-sandbox-home-" in home
        assert pid == pgid, "the kernel leads its own process group (the grader kills it as a whole)"
        if server["isolate"]:
            import pwd

            assert uid == pwd.getpwnam("nobody").pw_uid
    finally:
        stop(km, kc)


def test_a_served_kernel_can_be_interrupted(server):
    km, kc = start(server)
    try:
        msg_id = kc.execute("import time\ntime.sleep(60)")
        time.sleep(1.0)
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=20)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
        # the reply on the shell channel says it (stdout on iopub may trail the idle status)
        # a request that arrives just after the error may be aborted by ipykernel: ask again
        for _ in range(3):
            reply = kc.execute_interactive("x = 1 + 1", user_expressions={"x": "x"}, timeout=30)
            if reply["content"]["status"] != "aborted":
                break
            time.sleep(0.5)
        assert reply["content"]["status"] == "ok", "the kernel lives on after the interrupt"
        assert reply["content"]["user_expressions"]["x"]["data"]["text/plain"] == "2"
    finally:
        stop(km, kc)


def test_killing_the_client_kills_the_kernel(server):
    km, kc = start(server)
    out, _ = run(kc, "import os; print(os.getpid())")
    pid = int(out)
    assert process_start_time(pid) is not None
    os.kill(km.provisioner.pid, signal.SIGKILL)   # what jupyter_client does to a kernel that will not stop
    kc.stop_channels()
    for _ in range(100):
        if process_start_time(pid) is None:
            break
        time.sleep(0.1)
    assert process_start_time(pid) is None, "the kernel outlived its client"


@pytest.mark.parametrize("grading", [False, True])
def test_demonstration_cells_are_skipped_only_when_graded(server, grading):
    env = dict(os.environ)
    env.pop("NBGRADER_EXECUTION", None)
    if grading:
        env["NBGRADER_EXECUTION"] = "autograde"
    km, kc = start(server, env=env, extra=[demo_cells.KERNEL_ARGUMENT])
    try:
        out, _ = run(kc, f"{demo_cells.DEMO_MARKER}\nprint('the demonstration ran')")
        assert out == (demo_cells.NOTE + "\n" if grading else "the demonstration ran\n")
        assert run(kc, "print('an ordinary cell')")[0] == "an ordinary cell\n"
    finally:
        stop(km, kc)


def test_only_the_first_line_marks_a_demonstration():
    assert demo_cells.is_demo(f"\n{demo_cells.DEMO_MARKER}\nx = 1")
    assert not demo_cells.is_demo(f"x = 1\n{demo_cells.DEMO_MARKER}")
    assert not demo_cells.is_demo("# Try it")
    lines = ["x = 1\n", "print(x)\n"]
    assert demo_cells.skip_demo(lines) is lines
