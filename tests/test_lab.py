"""`make lab` serves the course: JupyterLab answers, nbgrader's lab extension is installed
and enabled, and the Validate button's server endpoint validates an assignment."""

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


@pytest.fixture(scope="module")
def lab():
    port = free_port()
    args = f"--no-browser --ip=127.0.0.1 --IdentityProvider.token={TOKEN} --ServerApp.port_retries=0"
    proc = subprocess.Popen(["make", "--no-print-directory", "lab", f"PORT={port}", f"LAB_ARGS={args}"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            call(base, "/api/status")
            break
        except (urllib.error.URLError, ConnectionError, OSError):
            if proc.poll() is not None or time.time() > deadline:
                os.killpg(proc.pid, signal.SIGTERM)
                pytest.fail(f"make lab did not serve on port {port}:\n{proc.stdout.read()[-3000:]}")
            time.sleep(0.5)
    yield base
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


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
