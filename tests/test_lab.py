"""`make lab` serves the course: JupyterLab answers, nbgrader's lab extension is installed
and enabled, and the Validate button's server endpoint validates an assignment."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("lab")   # one server for the module's tests

REPO = Path(__file__).resolve().parents[1]
TOKEN = "course-test-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, path, data=None):
    req = urllib.request.Request(base + path, data=data, method="POST" if data is not None else "GET",
                                 headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return resp.status, resp.read().decode()


def stop(proc):
    """End a process group started with start_new_session, politely first."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@contextlib.contextmanager
def serve_lab(log_path, extra_args="", env=None, wait=180):
    """`make lab` as a student runs it, on a free port with a token; yields the base URL."""
    port = free_port()
    args = f"--no-browser --ip=127.0.0.1 --IdentityProvider.token={TOKEN} --ServerApp.port_retries=0 {extra_args}"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(["make", "--no-print-directory", "lab", f"PORT={port}", f"LAB_ARGS={args}"],
                                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + wait
            while True:
                try:
                    call(base, "/api/status")
                    break
                except (urllib.error.URLError, ConnectionError, OSError):
                    if proc.poll() is not None or time.time() > deadline:
                        log.flush()
                        pytest.fail(f"make lab did not serve on port {port}:\n{Path(log_path).read_text()[-3000:]}")
                    time.sleep(0.5)
            yield base
        finally:
            stop(proc)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with serve_lab(tmp_path_factory.mktemp("lab") / "lab.log") as base:
        yield base


def test_lab_page_and_nbgrader_extension(lab):
    status, page = call(lab, "/lab")
    assert status == 200 and "JupyterLab" in page
    _, body = call(lab, "/lab/api/extensions")
    exts = {e["name"]: e for e in json.loads(body)}
    assert "jupyter-nbgrader" in exts, sorted(exts)
    assert exts["jupyter-nbgrader"]["enabled"]
    status, _ = call(lab, "/formgrader")
    assert status == 200


def validate(lab, path):
    _, body = call(lab, "/assignments/validate", data=json.dumps({"path": path}).encode())
    out = json.loads(body)
    assert out["success"], out["value"]
    return out["value"]


def test_validate_button_endpoint(lab):
    """Validate reports the failing parts of an untouched assignment and passes the solution."""
    untouched = validate(lab, "assignments/a1_markov_hmm/a1_markov_hmm.ipynb")
    assert untouched.get("failed"), untouched
    assert any("NotImplementedError" in json.dumps(f) for f in untouched["failed"])
    solved = validate(lab, "solutions/a1_markov_hmm/a1_markov_hmm.ipynb")
    assert not solved.get("failed") and not solved.get("type_changed"), solved
