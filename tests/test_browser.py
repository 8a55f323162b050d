"""End to end in a real browser: a student starts `make lab`, fills in an answer of assignment 1
in JupyterLab, runs the visible test, presses nbgrader's Validate button, and runs a lecture; an
instructor grades into a course with course-grade and reads the feedback pages and Formgrader,
whose formulas MathJax typesets without the network.

Driven with Playwright in Debian's headless Chromium (/usr/bin/chromium; `.ci/run` installs it).
Playwright's own browser downloads are never used. Screenshots are kept in
.artifacts/screenshots/. Nothing committed changes: the assignment is answered in a copy
under .artifacts/browser/ (removed afterwards), the lecture is run but never saved (autosave
is off), and the test fails, restoring it, if the lecture file changed anyway. Jupyter's state
stays in .venv (the Makefile) and in temporary folders, Chromium's in a temporary profile."""

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip("Debian's chromium is not installed; .ci/run installs it (apt-get install chromium)",
                allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency: make install")

from test_lab import TOKEN, call, free_port, serve_lab, stop  # noqa: E402  (same server and helpers as test_lab)

pytestmark = pytest.mark.xdist_group("browser")

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / ".artifacts"
SHOTS = ARTIFACTS / "screenshots"
ASSIGNMENT = REPO / "assignments" / "a1_markov_hmm" / "a1_markov_hmm.ipynb"
LECTURE = REPO / "notebooks" / "00_welcome.ipynb"
TIMEOUT_MS = 120_000        # every wait: the machine may be slow and busy with other tests
VALIDATE_TIMEOUT_MS = 300_000   # Validate and Run All execute notebooks, beside the grading tests

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# JupyterLab user settings for the test server: no autosave (a lecture that is run must not be
# written back) and no news or update checks (no network, no notification over the notebook).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
}

ANSWER = '''def estimate_transition_matrix(sequences, n_symbols, alpha=1.0):
    """Additively smoothed first-order transition matrix, shape (V, V)."""
    N = np.zeros((n_symbols, n_symbols))
    for s in sequences:
        s = np.asarray(s)
        np.add.at(N, (s[:-1], s[1:]), 1)
    return (N + alpha) / (N.sum(axis=1, keepdims=True) + alpha * n_symbols)
'''

# Selectors (JupyterLab 4.x, nbgrader 0.9.6 lab extension).
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"           # the notebook in the active tab
CELL = ".jp-Notebook .jp-Cell"
IDLE = '.jp-Notebook-ExecutionIndicator[data-status="idle"]'  # kernel status in the toolbar
OUTPUT = ".jp-OutputArea-output"
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'  # stderr and tracebacks
VALIDATE = ".validate-button"                                  # nbgrader's toolbar button
DIALOG = ".jp-Dialog"

# All code cells have run ([n]:), or one wrote to stderr (Run All stops at an error); none is queued.
RUN_ALL_DONE = """sel => {
    const nb = document.querySelector(sel);
    if (!nb) return false;
    const prompts = [...nb.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent.trim());
    if (prompts.length === 0 || prompts.some(p => p.includes('*'))) return false;
    return prompts.every(p => /^\\[\\d+\\]:$/.test(p))
        || nb.querySelector('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]') !== null;
}"""

# Some code cell is queued or has run: the kernel took the Run All.
RUN_ALL_STARTED = """sel => {
    const nb = document.querySelector(sel);
    return !!nb && [...nb.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
        .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent));
}"""

# What the page shows, for a failure message: prompts, kernel status, dialogs and notifications.
PAGE_STATE = """sel => {
    const nb = document.querySelector(sel);
    const texts = q => [...document.querySelectorAll(q)].map(e => e.innerText.trim().slice(0, 300));
    return {
        prompts: nb ? [...nb.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent.trim()) : null,
        kernel: nb ? [...nb.querySelectorAll('.jp-Notebook-ExecutionIndicator')].map(e => e.dataset.status) : null,
        kernel_name: texts('.jp-KernelName'),
        dialogs: texts('.jp-Dialog'),
        notifications: texts('.jp-Notification-Toast, .jp-toast-message'),
        active_tab: texts('.lm-TabBar-tab.lm-mod-current'),
    };
}"""


def page_state(page):
    with contextlib.suppress(Exception):
        return json.dumps(page.evaluate(PAGE_STATE, NOTEBOOK), indent=1)
    return "(page state unavailable)"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`make lab` as a student runs it, on a free port, with a token and throwaway lab settings
    and workspaces. `allow_hidden` lets it open the scratch copy under .artifacts/."""
    state = tmp_path_factory.mktemp("lab-state")
    for name, value in LAB_SETTINGS.items():
        path = state / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    (state / "workspaces").mkdir()
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(state / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"))
    env.pop("MPLBACKEND", None)   # conftest's Agg would hide the plots; a student's kernel shows them inline
    with serve_lab(state / "lab.log", "--ContentsManager.allow_hidden=True", env=env) as base:
        yield base


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Debian's Chromium with a fresh profile; HOME and XDG folders point into it as well."""
    profile = tmp_path_factory.mktemp("chromium")
    env = dict(os.environ, HOME=str(profile), XDG_CONFIG_HOME=str(profile / "config"),
               XDG_CACHE_HOME=str(profile / "cache"))
    with playwright_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile / "user-data"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            env=env, viewport={"width": 1400, "height": 900})
        try:
            context.set_default_timeout(TIMEOUT_MS)
            playwright_api.expect.set_options(timeout=TIMEOUT_MS)
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser):
    pg = browser.new_page()
    try:
        yield pg
    finally:
        pg.close()


@pytest.fixture
def assignment_copy():
    """A scratch copy of the assignment in a git-ignored folder, removed afterwards."""
    (ARTIFACTS / "browser").mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=ARTIFACTS / "browser"))
    copy = scratch / ASSIGNMENT.parent.name / ASSIGNMENT.name
    copy.parent.mkdir()
    shutil.copyfile(ASSIGNMENT, copy)
    try:
        yield copy
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        with contextlib.suppress(OSError):
            (ARTIFACTS / "browser").rmdir()   # only if no other run is using it


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


@contextlib.contextmanager
def screenshot_on_failure(page, name):
    (SHOTS / f"{name}-FAILED.png").unlink(missing_ok=True)   # none left over from an earlier run
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            shot(page, f"{name}-FAILED")
        raise


def open_notebook(page, lab, path):
    """Open a notebook by URL (`?reset`: no tabs restored) and wait for its kernel to be idle."""
    page.goto(f"{lab}/lab/tree/{path}?reset&token={TOKEN}")
    nb = page.locator(NOTEBOOK)
    nb.locator(CELL).first.wait_for()
    nb.locator(IDLE).wait_for()
    return nb


def run_cell(page, cell):
    """Select a cell in command mode (click its prompt) and press Shift+Enter."""
    cell.locator(".jp-InputPrompt").click()
    page.keyboard.press("Shift+Enter")


def run_all(page, nb):
    """Run > Run All Cells from the menu bar. The command acts on the current notebook, so focus
    one of its cells first and pick the item only once it is enabled; then wait until a prompt
    shows that the kernel took the work. A click that a busy page lost is repeated, once."""
    item = page.locator(".lm-Menu-item:not(.lm-mod-disabled)").filter(
        has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")))
    for attempt in (1, 2):
        nb.locator(".jp-CodeCell .jp-InputPrompt").first.click()
        page.get_by_role("menuitem", name="Run", exact=True).click()
        item.click()
        try:
            page.wait_for_function(RUN_ALL_STARTED, arg=NOTEBOOK, timeout=60_000)
            return
        except playwright_api.TimeoutError:
            if attempt == 2:
                pytest.fail("Run All Cells did not start a cell in 60 s, twice; the page shows:\n"
                            + page_state(page))
            page.keyboard.press("Escape")


def test_student_answers_runs_visible_test_and_validates(lab, page, assignment_copy):
    expect = playwright_api.expect
    cells_json = json.loads(assignment_copy.read_text(encoding="utf-8"))["cells"]

    def index(grade_id):
        return next(i for i, c in enumerate(cells_json)
                    if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)

    setup, answer, visible = index("setup"), index("markov_estimate"), index("test_markov_visible")
    assert "raise NotImplementedError()" in "".join(cells_json[answer]["source"])

    with screenshot_on_failure(page, "a1"):
        nb = open_notebook(page, lab, assignment_copy.relative_to(REPO).as_posix())
        cells = nb.locator(CELL)
        expect(cells).to_have_count(len(cells_json))   # every cell is in the DOM, in file order

        # Fill in Part 1: click into the editor, select all, type the answer (inserted as text,
        # so that the editor's auto-indent and bracket closing do not alter it).
        editor = cells.nth(answer).locator(".cm-content")
        expect(editor).to_contain_text("# YOUR CODE HERE")
        editor.click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(ANSWER)
        page.keyboard.press("Escape")
        expect(editor).to_contain_text("np.add.at(N, (s[:-1], s[1:]), 1)")
        expect(editor).not_to_contain_text("NotImplementedError")
        shot(page, "a1-1-answer-filled")

        for i in (setup, answer, visible):
            run_cell(page, cells.nth(i))
        result = cells.nth(visible).locator(OUTPUT)
        expect(result).to_contain_text("✔ Part 1, visible tests: all checks passed")
        for i in (setup, answer, visible):
            expect(cells.nth(i).locator(STDERR)).to_have_count(0)
        result.scroll_into_view_if_needed()
        shot(page, "a1-2-visible-test-passed")

        # Validate saves the notebook, then nbgrader runs it in a fresh kernel.
        nb.locator(VALIDATE).click()
        dialog = page.locator(DIALOG)
        dialog.wait_for(timeout=VALIDATE_TIMEOUT_MS)
        text = dialog.inner_text()
        assert "Validation Results" in dialog.locator(".jp-Dialog-header").inner_text(), text
        expect(dialog.locator("#validation-message")).to_have_class(re.compile(r"\bvalidation-failed\b"))
        shot(page, "a1-3-validate-dialog")
        assert "The following cell failed" in text and "NotImplementedError" in text, text
        for part in (2, 3, 4, 5):        # the parts not done fail, each with its message first ...
            assert f"GradingError: Part {part}, visible: " in text, text
        assert "Part 1, visible" not in text, text   # ... and the answered one passes
        # no traceback through the tests and course_lib (12.7k characters for five parts, once):
        # the dialog is the failed cells' sources, one line of message each, and nbgrader's words
        sources = [src for src in ("".join(c["source"]) for c in cells_json)
                   if any(src.startswith(f'"""Part {k}, visible') for k in (2, 3, 4, 5))]
        assert len(sources) == 4 and "Traceback" not in text and "course_lib/" not in text, text
        assert len(text) < sum(map(len, sources)) + 5 * 300, (len(text), sum(map(len, sources)))
        dialog.locator(".jp-mod-accept").click()
        expect(dialog).to_have_count(0)

    saved = json.loads(assignment_copy.read_text(encoding="utf-8"))["cells"][answer]
    assert "np.add.at" in "".join(saved["source"]), "Validate saved the answered notebook"


def test_lecture_runs_all_cells_without_errors(lab, page):
    expect = playwright_api.expect
    before = LECTURE.read_bytes()
    try:
        with screenshot_on_failure(page, "lecture"):
            nb = open_notebook(page, lab, LECTURE.relative_to(REPO).as_posix())
            run_all(page, nb)
            try:
                page.wait_for_function(RUN_ALL_DONE, arg=NOTEBOOK, timeout=VALIDATE_TIMEOUT_MS)
            except playwright_api.TimeoutError:
                pytest.fail(f"Run All did not finish in {VALIDATE_TIMEOUT_MS // 1000} s; the page shows:\n"
                            + page_state(page))
            nb.locator(IDLE).wait_for()
            errors = nb.locator(STDERR)
            assert errors.count() == 0, "stderr or error output:\n" + "\n---\n".join(errors.all_inner_texts())
            n_code = sum(c["cell_type"] == "code" for c in json.loads(before)["cells"])
            expect(nb.locator(".jp-CodeCell .jp-InputArea-prompt")).to_have_text(
                [f"[{i}]:" for i in range(1, n_code + 1)])
            expect(nb.locator(OUTPUT).filter(has_text="corpus:")).to_have_count(1)
            plot = nb.locator(".jp-RenderedImage img")               # the matplotlib plot, inline
            expect(plot).to_have_count(1)
            plot.scroll_into_view_if_needed()
            shot(page, "lecture-00-run-all")
    finally:
        if LECTURE.read_bytes() != before:
            LECTURE.write_bytes(before)
            pytest.fail(f"{LECTURE.relative_to(REPO)} was written by the browser session (restored)")


# --- the instructor's side: feedback pages and Formgrader -------------------------------------

AID, NB = "a1_markov_hmm", "a1_markov_hmm.ipynb"

# Once MathJax is done (its StartupHook "End" runs after the first typesetting; up to 60 s for it
# to start): its version, how many formulas it typeset, what is left as TeX, where it came from.
MATH_FACTS = """async () => {
    const deadline = Date.now() + 60000;
    while (!(window.MathJax && MathJax.Hub && MathJax.Hub.Register) && Date.now() < deadline) {
        await new Promise(wake => setTimeout(wake, 50));
    }
    if (window.MathJax && MathJax.Hub && MathJax.Hub.Register) {
        await new Promise(done => MathJax.Hub.Register.StartupHook("End", done));
    }
    const text = document.body.innerText;
    return {
        version: window.MathJax && MathJax.version,
        typeset: document.querySelectorAll('script[type^="math/tex"]').length,
        shown: document.querySelectorAll('.MathJax, .MathJax_Display').length,
        errors: document.querySelectorAll('.merror, .MathJax_Error').length,
        raw_tex: ['$$', '\\\\frac', '\\\\log', '\\\\operatorname'].filter(t => text.includes(t)),
        sources: [...document.querySelectorAll('script[src*="MathJax.js"]')].map(s => s.src),
        text: text,
    };
}"""


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """A copy of the course in which alice's a1 was collected (`submitted/alice/a1_markov_hmm/`),
    graded into the course's gradebook with course-grade (its own feedback pages in fb/), and
    given nbgrader's feedback (`nbgrader generate_feedback`), as README's instructor does."""
    import grading_support as gs
    import nbformat

    from course_lib.course import nbgrader

    base = tmp_path_factory.mktemp("graded-course")
    (base / "course").mkdir()
    course = gs.copy_course(base / "course")
    gs.submit(course, AID, "alice", {NB: gs.filled_submission(AID, NB)})
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "course-grade"), AID, str(course / "submitted"),
                           "--course", str(course), "--db", f"sqlite:///{course / 'gradebook.db'}",
                           "--feedback", str(base / "fb"), "--work", str(base / "work")],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    fb = nbgrader(course, "generate_feedback", AID, "--force", check=False)
    assert fb.returncode == 0, fb.stderr[-3000:]
    assert nbformat.read(course / "autograded" / "alice" / AID / NB, as_version=4).cells
    return {"course": course, "course_grade_feedback": base / "fb" / "alice" / "a1_markov_hmm.html",
            "feedback": course / "feedback" / "alice" / AID / "a1_markov_hmm.html"}


@pytest.fixture(scope="module")
def course_lab(graded_course, tmp_path_factory):
    """JupyterLab with Formgrader on the graded course copy, started in it as `make lab` starts
    it in the course (the course's nbgrader_config.py is read from the folder it starts in)."""
    course, port = graded_course["course"], free_port()
    state = tmp_path_factory.mktemp("course-lab")
    env = dict(os.environ, PATH=f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
               JUPYTER_RUNTIME_DIR=str(state / "runtime"), JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"))
    args = [os.path.join(os.path.dirname(sys.executable), "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={course}"]
    if os.geteuid() == 0:
        args.append("--allow-root")
    with open(state / "lab.log", "w") as log:
        proc = subprocess.Popen(args, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base, deadline = f"http://127.0.0.1:{port}", time.time() + 180

    def answers():
        with contextlib.suppress(urllib.error.URLError, ConnectionError, OSError):
            return call(base, "/api/status")[0] == 200
        return False

    try:
        while not answers():
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail("JupyterLab did not start on the course:\n" + (state / "lab.log").read_text()[-3000:])
            time.sleep(0.5)
        yield base
    finally:
        stop(proc)


@contextlib.contextmanager
def offline_page(browser):
    """A page on which every request off this machine is refused (and recorded)."""
    page, external = browser.new_page(), []

    def route(r):
        url = urllib.parse.urlsplit(r.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.hostname not in ("127.0.0.1", "localhost"):
            external.append(r.request.url)
            r.abort()
        else:
            r.continue_()

    page.route("**/*", route)
    try:
        yield page, external
    finally:
        page.close()


def test_feedback_and_formgrader_typeset_their_formulas_offline(browser, graded_course, course_lab):
    """nbgrader's templates load MathJax from a CDN; the course's load the jupyter-server-mathjax
    copy: from the Jupyter server that shows the page (Formgrader; a feedback page opened in
    JupyterLab), or from a copy beside the feedback folder (a page opened from disk). With every
    request off this machine refused, each page typesets every formula of a1 (none is left as
    TeX), and the feedback states the scores in the words of the other reports."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded_course['course'] / 'gradebook.db'}") as gb:
        submission = gb.find_submission_notebook("a1_markov_hmm", AID, "alice").id
    pages = {
        "feedback-from-course-grade": graded_course["course_grade_feedback"].as_uri(),
        "feedback-from-disk": graded_course["feedback"].as_uri(),
        "feedback-in-jupyterlab": f"{course_lab}/files/feedback/alice/{AID}/a1_markov_hmm.html?token={TOKEN}",
        "formgrader": f"{course_lab}/formgrader/submissions/{submission}/?token={TOKEN}",
    }
    for name, url in pages.items():
        with offline_page(browser) as (page, external), screenshot_on_failure(page, f"math-{name}"):
            page.goto(url)
            facts = page.evaluate(MATH_FACTS)
            where = f"{name}: "
            assert not external, where + f"requests off this machine: {external}"
            assert (facts["version"] or "").startswith("2.7"), where + "MathJax did not start"
            assert facts["sources"] and all(s.startswith(("file://", "http://127.0.0.1")) for s in facts["sources"])
            assert facts["typeset"] >= 20 and facts["shown"] >= facts["typeset"], where + str(facts["typeset"])
            assert not facts["errors"] and not facts["raw_tex"], where + f"{facts['errors']} {facts['raw_tex']}"
            if name.startswith("feedback"):
                assert "autograded: 15 / 15" in facts["text"], where + facts["text"][:500]
                assert "written answers: 3 points to be graded by hand" in facts["text"]
            else:
                assert "written_answer" in facts["text"] or "Student's answer" in facts["text"]
            shot(page, f"math-{name}")


def test_formgrader_lists_the_submission_for_manual_grading(browser, course_lab):
    """Formgrader's page of a1's notebook lists the submission course-grade graded into the
    course, with its written answer waiting ("No data available" before)."""
    with offline_page(browser) as (page, _), screenshot_on_failure(page, "formgrader-list"):
        page.goto(f"{course_lab}/formgrader/gradebook/{AID}/a1_markov_hmm?token={TOKEN}")
        row = page.locator("table tbody tr").filter(has_text="alice")
        playwright_api.expect(row).to_have_count(1)
        assert "No data available" not in page.inner_text("body")
        shot(page, "formgrader-list")
