"""Warm grading kernels (course_lib.grading.kernel_server) and demonstration cells (course_lib.grading.demo_cells).

A kernel forked by the server must behave as the cold sandbox kernel does: it runs code in the
folder it was asked for, with no secret in its environment and a private home; as root it runs as
`nobody`; it can be interrupted; it dies when its client is killed; it loads the demonstration-cell
extension it is given. Every property is observed from outside, on a real kernel.

The grading kernel manager (course_lib.grading.kernel_manager) must run a notebook in a served
kernel exactly as jupyter_client's manager does; its client's wait for a new kernel is checked
step by step on scripted channels (ready at its request's idle status, asking again when IOPub
joined late, jupyter_client's rule for kernels that send no welcome, a dead kernel named).
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from queue import Empty

import nbformat
import pytest
from jupyter_client.manager import AsyncKernelManager, KernelManager
from nbclient import NotebookClient

from course_lib.grading import demo_cells
from course_lib.grading.kernel_manager import (
    IOPUB_JOINED,
    IOPUB_WAIT,
    GradingKernelClient,
    GradingKernelManager,
)
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


# ----------------------------------------------------------------------------- the grading kernel manager

NOTEBOOK_CELLS = ["print('one')", "from IPython.display import display, Markdown\ndisplay(Markdown('**two**'))\n3",
                  "import sys\nprint('four', file=sys.stderr)", "raise ValueError('five')", "print(sum(range(6)))"]


def executed_outputs(server, manager_class, cells=NOTEBOOK_CELLS):
    """The outputs of the cells run by nbclient in a served kernel, started by manager_class."""

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = server["jupyter"]
    try:
        NotebookClient(nb, kernel_name="warm", kernel_manager_class=manager_class, allow_errors=True,
                       shutdown_kernel="immediate", resources={"metadata": {"path": str(server["base"])}}).execute()
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH")
        else:
            os.environ["JUPYTER_PATH"] = old
    return [[{k: v for k, v in o.items() if k != "traceback"} for o in c.outputs] for c in nb.cells]


def test_the_grading_manager_runs_a_notebook_as_jupyter_clients_does(server):
    """Started with GradingKernelManager (which stops waiting as soon as the kernel is ready) a
    kernel gives every cell the same outputs as one started with jupyter_client's own manager,
    none of them lost to or borrowed from the start, on every one of several starts."""
    expected = executed_outputs(server, AsyncKernelManager)
    assert expected[0] == [{"output_type": "stream", "name": "stdout", "text": "one\n"}]
    assert expected[3][0]["ename"] == "ValueError"
    for _ in range(5):
        assert executed_outputs(server, GradingKernelManager) == expected


def test_grading_kernels_listen_on_no_tcp_port(server):
    """A grading kernel's channels are Unix sockets in a folder only the grader's user may enter,
    so no port can be taken from it while it starts, and no other user reaches it. The oracle is
    a kernel of jupyter_client's own manager: it listens on five more TCP ports, its channels'."""
    import stat

    from course_lib.grading.kernel_manager import socket_folder

    cells = ["import psutil\n"
             "print(sum(c.status == psutil.CONN_LISTEN for c in psutil.Process().net_connections('tcp')))"]
    tcp = int(executed_outputs(server, AsyncKernelManager, cells)[0][0]["text"])
    ipc = int(executed_outputs(server, GradingKernelManager, cells)[0][0]["text"])
    assert tcp - ipc == 5, (tcp, ipc)            # shell, iopub, stdin, control and heartbeat
    assert GradingKernelManager().transport == "ipc"
    assert stat.S_IMODE(os.stat(socket_folder()).st_mode) == 0o700


class FakeChannel:
    """A channel that hands out scripted messages; Empty once the script runs out (or at a None)."""

    def __init__(self, script):
        self.script, self.waits = list(script), []

    async def get_msg(self, timeout=None):
        self.waits.append(timeout)
        if not self.script or self.script[0] is None:
            if self.script:
                self.script.pop(0)
            raise Empty
        return self.script.pop(0)


def scripted_client(shell, iopub, alive=True):
    """A GradingKernelClient whose requests get the ids r0, r1, ... and whose channels play the
    scripts; a message's parent "rN" names the request it answers."""
    kc = GradingKernelClient()
    kc.requests, kc.handled = [], []
    kc.kernel_info = lambda: kc.requests.append(f"r{len(kc.requests)}") or kc.requests[-1]
    kc._handle_kernel_info_reply = kc.handled.append
    kc._shell_channel, kc._iopub_channel = FakeChannel(shell), FakeChannel(iopub)

    async def is_alive():
        return alive
    kc._async_is_alive = is_alive
    return kc


def msg(kind, parent=None, state=None):
    return {"msg_type": kind, "parent_header": {"msg_id": parent} if parent else {},
            "content": {"execution_state": state} if state else {}}


def test_the_grading_client_is_ready_at_its_requests_idle_status():
    reply = msg("kernel_info_reply", "r0")
    kc = scripted_client([reply], [msg("iopub_welcome"), msg("status", "r0", "busy"), msg("status", "r0", "idle"),
                                   msg("status", "r0", "idle")])
    asyncio.run(kc.wait_for_ready(timeout=10))
    assert kc.requests == ["r0"] and kc.handled == [reply]
    assert len(kc.iopub_channel.script) == 1, "it stops reading at its own idle status"
    assert all(w <= IOPUB_WAIT for w in kc.iopub_channel.waits)


def test_the_grading_client_asks_again_when_iopub_joined_too_late():
    """The welcome of IOPub comes but the status of the request was sent before it joined: the
    client asks again and takes the second request's idle status (jupyter_client would have
    waited IOPUB_WAIT seconds for a quiet IOPub instead)."""
    second = msg("kernel_info_reply", "r1")
    kc = scripted_client([msg("kernel_info_reply", "r0"), second],
                         [msg("iopub_welcome"), None, msg("status", "r1", "busy"), msg("status", "r1", "idle")])
    asyncio.run(kc.wait_for_ready(timeout=10))
    assert kc.requests == ["r0", "r1"] and kc.handled == [second]
    assert kc.iopub_channel.waits[1] <= IOPUB_JOINED, "after the welcome it waits IOPUB_JOINED at most"


def test_the_grading_client_keeps_jupyter_clients_rule_for_kernels_without_a_welcome():
    """No welcome and no status of this request: any IOPub message shows the channel connected
    (jupyter_client's rule); no message at all means it is not, and the client asks again."""
    first = msg("kernel_info_reply", "r0")
    kc = scripted_client([first], [msg("status", "earlier", "idle"), None])
    asyncio.run(kc.wait_for_ready(timeout=10))
    assert kc.requests == ["r0"] and kc.handled == [first]

    second = msg("kernel_info_reply", "r1")
    kc = scripted_client([msg("kernel_info_reply", "r0"), second], [None, msg("status", "r1", "idle")])
    asyncio.run(kc.wait_for_ready(timeout=10))
    assert kc.requests == ["r0", "r1"] and kc.handled == [second]


def test_the_grading_client_says_when_the_kernel_died():
    kc = scripted_client([None], [], alive=False)
    with pytest.raises(RuntimeError, match="Kernel died before replying to kernel_info"):   # the grader retries on it
        asyncio.run(kc.wait_for_ready(timeout=10))


def test_a_plain_server_starts_no_answer_process(tmp_path):
    """A plain server (the course's own notebooks) forks ordinary kernels only: a request for an
    answer process, which a grading server answers with its pid, gets no process."""
    import socket

    from course_lib.grading import kernel_server

    def ask(server_socket):
        mine, theirs = socket.socketpair()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(str(server_socket))
            request = {"kind": "answers", "env": dict(os.environ), "cwd": str(tmp_path), "edition": str(tmp_path)}
            socket.send_fds(conn, [(json.dumps(request) + "\n").encode()], [theirs.fileno()])
            theirs.close()
            conn.settimeout(60)
            reply = conn.recv(64)
        mine.close()
        return reply

    replies = {}
    for plain in (False, True):
        sock = tmp_path / f"plain-{plain}.sock"
        proc = kernel_server.start(sock, dict(os.environ), plain=plain)
        try:
            assert kernel_server.ready(proc)
            replies[plain] = ask(sock)
        finally:
            kernel_server.stop(proc)
    assert replies[False].strip().isdigit(), "the grading server starts an answer process"
    assert replies[True] == b"", "the plain server refused"


def test_isolation_is_asked_once_it_is_known_to_work_and_again_while_it_does_not(monkeypatch):
    """isolation_available starts a Python as `nobody` to find out (a third of a second); a yes
    is kept for the process, a no is asked again: the oracle is the number of Pythons started."""
    import subprocess
    import types

    from course_lib.grading import sandbox

    started, answers = [], iter([1, 1, 0])     # exit codes: no, no, yes
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 0)
    monkeypatch.setattr(sandbox.pwd, "getpwnam", lambda name: None)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: started.append(a) or types.SimpleNamespace(returncode=next(answers)))
    monkeypatch.setattr(sandbox, "_ISOLATED", [])
    assert [sandbox.isolation_available() for _ in range(2)] == [False, False] and len(started) == 2
    assert [sandbox.isolation_available() for _ in range(3)] == [True, True, True] and len(started) == 3
