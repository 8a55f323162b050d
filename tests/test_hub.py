"""A class on JupyterHub, end to end: hub/ serves the course to one instructor and two students,
and an assignment goes round the whole loop in headless Chromium.

The hub runs hub/jupyterhub_config.py unchanged, in a temporary folder (the COURSE_HUB_*
variables move its folders there) and on free ports of 127.0.0.1 (command-line options), with
its own proxy (the Python configurable-http-proxy) and one server per user. The instructor's course folder is a copy of
this course in the instructor's home. Steps, each with a screenshot in .artifacts/hub/:

1. the instructor releases a1 from Formgrader (the committed assignments/ folder is the release);
2. each student logs in, fetches a1 from the Assignments tab, opens the notebook from there,
   answers in it in the browser (one part right, one part with a typical mistake, the others untouched, and a written
   answer), presses Validate, and submits from the Assignments tab;
3. the instructor collects (`nbgrader collect`) and grades (`course-grade ... submitted/`);
4. the instructor grades each written answer in Formgrader, then generates and releases feedback
   there;
5. each student fetches the feedback and opens it: their own scores, and no hidden test.

The expected points come from the assignment itself and from its typical mistakes
(tests/mutants_a1_markov_hmm.py): a right part earns its test cells' points, an untouched one
nothing, a mistake loses exactly the test cells it is known to fail.
"""

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import grading_support as gs
import nbformat
import pytest
from grading_cases import MUTANTS
from test_lab import free_port

pytestmark = pytest.mark.xdist_group("hub")

REPO = Path(__file__).resolve().parents[1]
HUB = REPO / "hub"
BIN = Path(sys.executable).parent
SHOTS = REPO / ".artifacts" / "hub"
CHROMIUM = "/usr/bin/chromium"
AID = "a1_markov_hmm"
NB = f"{AID}.ipynb"
COURSE_ID = "sequence-models"
INSTRUCTOR = "instructor"
TIMEOUT_MS = 300_000          # every wait: the machine may be busy with other tests, and five times slower than this one
# A Formgrader submission page is ready to grade: its grades fetched and their inputs bound
# (formgrade.js), and MathJax's first typesetting over.
FORMGRADER_READY = ("() => window.formgrader && formgrader.loaded && formgrader.grades && formgrader.grades.loaded"
                    " && window.MathJax && MathJax.loaded === true")

# What each student does: the part they get right, the typical mistake they make (a name in
# tests/mutants_a1_markov_hmm.py), their written answer and the points the instructor gives it.
PLAN = {
    "alice": {"right": "markov_estimate", "mistake": "forward-transposed-A", "manual": 2,
              "written": "Log space turns products of many small probabilities into sums, "
                         "so the forward variables do not underflow."},
    "bob": {"right": "viterbi", "mistake": "forward-in-probability-space", "manual": 3,
            "written": "Probabilities multiply along the sequence and fall below the smallest "
                       "float; their logarithms only add up."},
}

needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason="Debian's chromium is not installed; .ci/run installs it (apt-get install chromium)")


# ----------------------------------------------------------------------------- the oracle

def release_cells():
    return nbformat.read(REPO / "assignments" / AID / NB, as_version=4).cells


def graded_cells():
    """{test cell id: (the answer cell it checks, its points)}: a test cell checks the answer
    cell above it."""
    out, answer = {}, None
    for cell in release_cells():
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if meta.get("solution"):
            answer = meta["grade_id"]
        elif meta.get("grade"):
            out[meta["grade_id"]] = (answer, meta["points"])
    return out


def mistake_of(plan):
    """(answer cell, [(old, new), ...], test cells it fails) of the student's typical mistake."""
    mutations, lost = MUTANTS[AID][plan["mistake"]]
    (cell, edits), = mutations[NB].items()
    return cell, edits, lost


def expected_scores(plan):
    """{test cell id: points} the student must get."""
    wrong_cell, _, lost = mistake_of(plan)
    out = {}
    for test, (answer, points) in graded_cells().items():
        if answer == plan["right"]:
            out[test] = points
        elif answer == wrong_cell:
            out[test] = 0 if test in lost else points
        else:
            out[test] = 0                        # untouched: NotImplementedError
    return out


def answers(plan):
    """{answer cell id: source} a student types: the solution, and the mistake's edits."""
    solution = {gs.grade_id(c): gs.strip_markers(c.source)
                for c in nbformat.read(REPO / "solutions" / AID / NB, as_version=4).cells}
    wrong_cell, edits, _ = mistake_of(plan)
    wrong = solution[wrong_cell]
    for old, new in edits:
        assert old in wrong, f"the mistake {plan['mistake']} no longer applies to {wrong_cell}"
        wrong = wrong.replace(old, new)
    return {plan["right"]: solution[plan["right"]], wrong_cell: wrong}


def part_number(test_id):
    """The part a test cell belongs to, from its first line ('Part 2, visible: ...')."""
    source = next(c.source for c in release_cells() if gs.grade_id(c) == test_id)
    return int(re.search(r"Part (\d+)", source).group(1))


def written_cell_id():
    (gid,) = [gs.grade_id(c) for c in release_cells()
              if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade")]
    return gid


def written_points():
    (points,) = [c.metadata["nbgrader"]["points"] for c in release_cells() if gs.grade_id(c) == written_cell_id()]
    return points


def hidden_lines():
    """The hidden-test lines of the source that no student may see."""
    from test_grading_pipeline import secret_lines
    return secret_lines(AID, [NB])[1]


# ----------------------------------------------------------------------------- the hub's settings

def nbgrader_settings(config_path, env, monkeypatch):
    """What nbgrader sees on the hub for a role: its configuration, loaded as the role's server
    loads it (that JUPYTER_CONFIG_PATH and environment, from the home folder)."""
    from nbgrader.apps import NbGrader

    for name, value in dict(env, JUPYTER_CONFIG_PATH=config_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(env["HOME"])
    app = NbGrader()
    app.load_config_file()
    c = app.config
    return {"root": c.CourseDirectory.get("root"), "course_id": c.CourseDirectory.get("course_id"),
            "student_id": c.CourseDirectory.get("student_id"), "exchange": c.Exchange.get("root"),
            "extra_arguments": c.Execute.get("extra_arguments"),
            "feedback": c.GenerateFeedback.get("preprocessors")}


def course_settings(folder):
    """The course's own nbgrader configuration, read directly: the oracle for the hub's."""
    from traitlets.config.loader import PyFileConfigLoader
    return PyFileConfigLoader("nbgrader_config.py", path=str(folder)).load_config()


def terminal_env(home, user, exchange):
    """The environment of a user's JupyterLab terminal on the hub: what the spawner sets."""
    return {"PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "/usr/bin:/bin")]),
            "HOME": str(home), "USER": user, "LANG": "C.UTF-8", "COURSE_HUB_EXCHANGE": str(exchange)}


def test_every_role_gets_the_course_settings(tmp_path, monkeypatch):
    """Students and instructors see the course's nbgrader settings (so Validate checks as grading
    does), one exchange and one course id; a student's submissions carry their hub name, an
    instructor's commands work on the instructor's course folder."""
    home, exchange = tmp_path / "home", tmp_path / "exchange"
    course = home / INSTRUCTOR / "sequence-models"
    course.mkdir(parents=True)
    gs.copy_course(course)
    (home / "alice").mkdir()
    ours = course_settings(REPO)

    student = nbgrader_settings(os.pathsep.join([str(HUB / "student"), str(HUB)]),
                                dict(terminal_env(home / "alice", "alice", exchange), JUPYTERHUB_USER="alice"),
                                monkeypatch)
    instructor = nbgrader_settings(os.pathsep.join([str(HUB / "instructor"), str(HUB)]),
                                   dict(terminal_env(home / INSTRUCTOR, INSTRUCTOR, exchange),
                                        JUPYTERHUB_USER=INSTRUCTOR), monkeypatch)
    for role in (student, instructor):
        assert role["exchange"] == str(exchange)
        assert role["course_id"] == ours.CourseDirectory.course_id == COURSE_ID
        assert role["extra_arguments"] == ours.Execute.extra_arguments
        assert role["feedback"] == ours.GenerateFeedback.preprocessors
    assert student["student_id"] == "alice"
    assert student["root"] == str(home / "alice")
    assert instructor["root"] == str(course)
    assert instructor["student_id"] is None      # nbgrader's "*": collect and grade every student


def test_hub_configuration(tmp_path, monkeypatch):
    """jupyterhub_config.py: the class list from its settings, a role per user, and a proxy and
    servers from the course's environment (no Node.js)."""
    from traitlets.config.loader import PyFileConfigLoader

    monkeypatch.setenv("COURSE_HUB_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("COURSE_HUB_STUDENTS", "alice bob carol")
    monkeypatch.setenv("COURSE_HUB_INSTRUCTORS", "ian")
    c = PyFileConfigLoader("jupyterhub_config.py", path=str(HUB)).load_config()
    assert c.Authenticator.allowed_users == {"alice", "bob", "carol", "ian"}
    assert c.Authenticator.admin_users == {"ian"}
    assert c.JupyterHub.load_groups == {"instructors": {"users": ["ian"]},
                                        "students": {"users": ["alice", "bob", "carol"]}}
    config_path = c.Spawner.environment["JUPYTER_CONFIG_PATH"]

    class Spawner:
        def __init__(self, name, home_dir=None):
            self.user = type("User", (), {"name": name})()
            self.home_dir = home_dir

    assert config_path(Spawner("carol")).split(os.pathsep) == [str(HUB / "student"), str(HUB)]
    assert config_path(Spawner("ian")).split(os.pathsep) == [str(HUB / "instructor"), str(HUB)]
    # before each server starts: the home exists and shows the lectures, once
    home = tmp_path / "home" / "carol"
    for _ in range(2):
        c.Spawner.pre_spawn_hook(Spawner("carol", str(home)))
    assert sorted(p.name for p in home.iterdir()) == ["lectures"]
    assert (home / "lectures").resolve() == REPO / "notebooks"
    # servers elsewhere (no home here, no such Linux user): nothing is made on this machine
    monkeypatch.chdir(tmp_path)
    c.Spawner.pre_spawn_hook(Spawner("no-such-user-on-this-machine"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "state"]
    proxy = Path(c.ConfigurableHTTPProxy.command[0])
    assert proxy.parent == BIN and proxy.exists()
    script = proxy.read_text()     # the Python package's entry point, not Node's program
    assert script.startswith("#!") and "python" in script.splitlines()[0] and "configurable_http_proxy" in script
    assert c.Spawner.cmd[0] == sys.executable
    assert (tmp_path / "state").is_dir()


# ----------------------------------------------------------------------------- the running hub

@dataclass
class Hub:
    url: str
    root: Path
    homes: Path
    course: Path
    exchange: Path
    passwords: dict
    log: Path
    proxy_api: str
    proxy_token: str

    def user_url(self, user):
        return f"{self.url}/user/{user}"

    def instructor_env(self):
        return dict(terminal_env(self.homes / INSTRUCTOR, INSTRUCTOR, self.exchange),
                    JUPYTERHUB_USER=INSTRUCTOR,
                    JUPYTER_CONFIG_PATH=os.pathsep.join([str(HUB / "instructor"), str(HUB)]))


def _wait_for(url, proc, log, wait=TIMEOUT_MS / 1000):
    deadline = time.time() + wait
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10):
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"the hub did not answer at {url}:\n{Path(log).read_text()[-4000:]}")
            time.sleep(0.5)


def _end(processes):
    """Stop processes the hub started (servers, kernels, the proxy) if it left any behind."""
    import psutil
    for p in processes:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(processes, timeout=10)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """hub/jupyterhub_config.py on 127.0.0.1, its folders in a temporary folder, the instructor's
    course a copy of this one in the instructor's home. Stopped (with every server) at the end."""
    import psutil

    root = tmp_path_factory.mktemp("hub")
    homes, exchange = root / "home", root / "exchange"
    course = homes / INSTRUCTOR / "sequence-models"
    course.mkdir(parents=True)
    gs.copy_course(course)
    exchange.mkdir()
    exchange.chmod(0o777)                 # world-writable, as the README has it made
    import test_browser  # the same JupyterLab settings: no autosave, no news
    for user in [INSTRUCTOR, *PLAN]:
        for name, value in test_browser.LAB_SETTINGS.items():
            path = homes / user / ".jupyter" / "lab" / "user-settings" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
    passwords = {"student": secrets.token_urlsafe(12), "instructor": secrets.token_urlsafe(32)}
    port, hub_port, api_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "COURSE_HUB_"))}
    env.update(COURSE_HUB_STATE=str(root / "state"), COURSE_HUB_HOMES=str(homes),
               COURSE_HUB_EXCHANGE=str(exchange), COURSE_HUB_INSTRUCTORS=INSTRUCTOR,
               COURSE_HUB_STUDENTS=" ".join(PLAN), COURSE_HUB_PASSWORD=passwords["student"],
               COURSE_HUB_ADMIN_PASSWORD=passwords["instructor"],
               CONFIGPROXY_AUTH_TOKEN=secrets.token_hex(16))     # the proxy's API token, known to the test
    log = root / "hub.log"
    url = f"http://127.0.0.1:{port}"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(BIN / "jupyterhub"), "-f", str(HUB / "jupyterhub_config.py"),
             f"--JupyterHub.bind_url={url}", f"--JupyterHub.hub_bind_url=http://127.0.0.1:{hub_port}",
             f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{api_port}"],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for(f"{url}/hub/api", proc, log)
        yield Hub(url=url, root=root, homes=homes, course=course, exchange=exchange,
                  passwords=passwords, log=log, proxy_api=f"http://127.0.0.1:{api_port}/api",
                  proxy_token=env["CONFIGPROXY_AUTH_TOKEN"])
    finally:
        children = []
        with contextlib.suppress(psutil.Error):
            children = psutil.Process(proc.pid).children(recursive=True)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)       # the hub stops every user's server
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        _end([p for p in children if p.is_running()])


SLOW_ANSWER_S = 25      # past the 20 s after which the Python proxy gives up unless told otherwise


@pytest.fixture(scope="module")
def slow_answer(hub):
    """A request through the hub's proxy to a server that answers after SLOW_ANSWER_S seconds (a
    route of its own, added through the proxy's API), made in the background while the class
    test runs. Yields a function that waits for it: (status, body, seconds), or the error."""
    import http.server
    import threading

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            time.sleep(SLOW_ANSWER_S)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"late, but here")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    route = urllib.request.Request(
        f"{hub.proxy_api}/routes/slow-probe", method="POST",
        data=json.dumps({"target": f"http://127.0.0.1:{server.server_port}"}).encode(),
        headers={"Authorization": f"token {hub.proxy_token}", "Content-Type": "application/json"})
    urllib.request.urlopen(route, timeout=30).close()
    outcome = {}

    def ask():
        start = time.time()
        try:
            with urllib.request.urlopen(f"{hub.url}/slow-probe/", timeout=SLOW_ANSWER_S + 120) as r:
                outcome["answer"] = (r.status, r.read(), time.time() - start)
        except Exception as err:                  # a 503 from the proxy lands here
            outcome["answer"] = (f"{type(err).__name__}: {err}", b"", time.time() - start)

    asking = threading.Thread(target=ask, daemon=True)
    asking.start()

    def answer():
        asking.join(SLOW_ANSWER_S + 180)
        return outcome.get("answer", ("no answer yet", b"", None))

    try:
        yield answer
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """Debian's Chromium, headless; each user gets a context of their own (their own cookies)."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency: make install")
    from test_browser import CHROMIUM_FLAGS

    profile = tmp_path_factory.mktemp("hub-chromium")
    env = dict(os.environ, HOME=str(profile), XDG_CONFIG_HOME=str(profile / "config"),
               XDG_CACHE_HOME=str(profile / "cache"))
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS, env=env)
        try:
            playwright_api.expect.set_options(timeout=TIMEOUT_MS)
            yield browser
        finally:
            browser.close()


# ----------------------------------------------------------------------------- browser steps

class Shots:
    """Numbered screenshots in .artifacts/hub/, in the order of the story."""

    def __init__(self):
        SHOTS.mkdir(parents=True, exist_ok=True)
        for old in SHOTS.glob("*.png"):
            old.unlink()
        self.n = 0

        self.pages = {}           # user: their page, for a screenshot if a step fails

    def __call__(self, page, name):
        self.n += 1
        page.screenshot(path=str(SHOTS / f"{self.n:02d}-{name}.png"))

    @contextlib.contextmanager
    def on_failure(self):
        try:
            yield
        except BaseException:
            for user, page in self.pages.items():
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(SHOTS / f"FAILED-{user}.png"))
            raise


def log_in(chromium, hub, shot, user):
    """A fresh browser context logs `user` in; returns the page, on their JupyterLab."""
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    shot.pages[user] = page
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", hub.passwords["instructor" if user == INSTRUCTOR else "student"])
    page.click("#login_submit")
    page.wait_for_url(re.compile(rf"/user/{user}/lab"), timeout=TIMEOUT_MS)
    page.locator("#jp-main-dock-panel").wait_for()
    return page


def open_nbgrader_menu(page, attempts=5):
    """Open the Nbgrader menu and return it. A click on the menu bar right after another menu
    closed (Escape) can be lost, or close the menu again, on a busy machine: try again, from a
    closed menu, until the menu's first item shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    menu = page.locator("#jp-mainmenu-nbgrader")
    item = menu.locator('li[data-command="nbgrader:open-assignment-list"]')
    for attempt in range(attempts):
        page.locator('#jp-menu-panel .lm-MenuBar-itemLabel:text-is("Nbgrader")').click()
        try:
            item.wait_for(state="visible", timeout=10_000)
            return menu
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")
            page.wait_for_timeout(500)


def open_assignments(page):
    """Nbgrader > Assignment List: the Assignments tab, its lists loaded."""
    open_nbgrader_menu(page).locator('li[data-command="nbgrader:open-assignment-list"]').click()
    page.locator(".lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel", has_text="Assignments").wait_for()
    for name in ("released", "fetched", "submitted"):
        page.locator(f"#{name}_assignments_list_loading").wait_for(state="hidden")


def assignment_rows(page, name, count):
    """The rows of one list of the Assignments tab, once it holds `count` of them."""
    from playwright.sync_api import expect
    rows = page.locator(f"#{name}_assignments_list > .list_item")
    expect(rows).to_have_count(count)
    return rows


def scroll_into_view(locator, seconds=120):
    """Scroll until `locator` is in the viewport, drawn: JupyterLab draws a notebook's cells as they
    come into view, and cells drawn above the target can push it out of view again after a scroll."""
    from playwright.sync_api import expect

    deadline = time.time() + seconds
    while True:
        locator.scroll_into_view_if_needed()
        try:
            expect(locator).to_be_in_viewport(timeout=2_000)
            return
        except AssertionError:
            if time.time() > deadline:
                raise


def fill_cell(page, cell, text, markdown=False):
    """Replace a cell's text as a student does: into its editor, select all, type (inserted as
    text, so the editor's auto-indent and bracket closing do not alter it)."""
    if markdown:
        cell.locator(".jp-MarkdownOutput").dblclick()
    editor = cell.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)
    page.keyboard.press("Escape")


def student_turn(chromium, hub, shot, student, plan):
    """Log in, fetch a1, answer, Validate, submit; returns the page (still logged in)."""
    from playwright.sync_api import expect
    from test_browser import CELL, DIALOG, IDLE, NOTEBOOK, VALIDATE

    page = log_in(chromium, hub, shot, student)
    # The lectures are in every home; a student's Nbgrader menu has the Assignments tab only.
    expect(page.locator('.jp-DirListing-itemText > span:text-is("lectures")')).to_have_count(1)
    menu = open_nbgrader_menu(page)
    expect(menu.locator('li[data-command="nbgrader:open-assignment-list"]')).to_be_visible()
    for command in ("open-formgrader", "open-formgrader-local", "open-create-assignment", "open-course-list"):
        expect(menu.locator(f'li[data-command="nbgrader:{command}"]')).to_be_hidden()
    shot(page, f"{student}-lab")
    page.keyboard.press("Escape")
    open_assignments(page)
    row = assignment_rows(page, "released", 1).first
    expect(row.locator(".item_name")).to_have_text(AID)
    expect(row.locator(".item_course")).to_have_text(COURSE_ID)
    row.locator(".item_status button").click()                        # Fetch
    expect(assignment_rows(page, "fetched", 1).first.locator(".item_name").first).to_have_text(AID)
    shot(page, f"{student}-fetched")
    fetched = hub.homes / student / AID / NB
    assert fetched.read_bytes() == (REPO / "assignments" / AID / NB).read_bytes()

    # Answer in the notebook, in the browser: opened from the fetched assignment's list of
    # notebooks in the Assignments tab, as a student opens it (no reload of JupyterLab).
    fetched_row = assignment_rows(page, "fetched", 1).first
    fetched_row.locator("a.assignment-notebooks-link").click()
    fetched_row.locator(f'.assignment-notebooks .item_name a:text-is("{Path(NB).stem}")').click()
    nb = page.locator(NOTEBOOK)
    cells = nb.locator(CELL)
    expect(cells).to_have_count(len(release_cells()))
    nb.locator(IDLE).wait_for()
    index = {gs.grade_id(c): i for i, c in enumerate(release_cells()) if gs.grade_id(c)}
    typed = answers(plan)
    for gid, text in typed.items():
        fill_cell(page, cells.nth(index[gid]), text)
    fill_cell(page, cells.nth(index[written_cell_id()]), plan["written"], markdown=True)
    right = cells.nth(index[plan["right"]])
    scroll_into_view(right.locator(".cm-content"))
    shot(page, f"{student}-answered")

    # Validate: it saves the notebook and runs it; failing visible tests are listed.
    nb.locator(VALIDATE).click()
    dialog = page.locator(DIALOG)
    dialog.wait_for(timeout=300_000)
    text = dialog.inner_text()
    assert "Validation Results" in text, text
    shot(page, f"{student}-validated")
    expected = expected_scores(plan)
    for test, points in expected.items():
        if test.endswith("_visible"):
            shown = f"Part {part_number(test)}, visible" in text
            assert shown == (points == 0), f"{student}: Validate {'does not list' if not shown else 'lists'} {test}:\n{text}"
    dialog.locator(".jp-mod-accept").click()
    expect(dialog).to_have_count(0)
    saved = {gs.grade_id(c): c.source for c in nbformat.read(fetched, as_version=4).cells if gs.grade_id(c)}
    for gid, source in typed.items():
        assert saved[gid].strip() == source.strip(), f"{student}'s answer {gid} was not saved as typed"
    assert saved[written_cell_id()].strip() == plan["written"]

    # Submit from the Assignments tab.
    open_assignments(page)
    assignment_rows(page, "fetched", 1).first.locator('.item_status button:text("Submit")').click()
    expect(assignment_rows(page, "submitted", 1).first.locator(".item_name").first).to_have_text(AID)
    shot(page, f"{student}-submitted")
    (inbound,) = (hub.exchange / COURSE_ID / "inbound").glob(f"{student}+{AID}+*")
    handed_in = nbformat.read(inbound / NB, as_version=4)
    assert {gs.grade_id(c): c.source for c in handed_in.cells if gs.grade_id(c)} == saved
    return page


def run(cmd, hub, **kw):
    proc = subprocess.run([str(c) for c in cmd], cwd=hub.course, env=hub.instructor_env(),
                          capture_output=True, text=True, timeout=600, **kw)
    assert proc.returncode == 0, f"{cmd[:2]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def formgrader_click(page, column, message):
    """Click the a1 row's link in a column of Formgrader's assignment table; wait for the
    success message and close it."""
    from playwright.sync_api import expect
    row = page.locator("#main-table tr").filter(has=page.locator("td.name", has_text=re.compile(f"^{AID}$")))
    row.locator(f"td.{column} a").click()
    page.locator("#success-modal, #error-modal").wait_for()
    if page.locator("#error-modal").count():
        pytest.fail(f"Formgrader's {column} failed:\n{page.locator('#error-modal').inner_text()}")
    modal = page.locator("#success-modal")
    expect(modal).to_contain_text(message)
    page.wait_for_function("m => getComputedStyle(m).opacity === '1'", arg=modal.element_handle())  # faded in
    return modal


def close_modal(page, modal):
    from playwright.sync_api import expect
    modal.locator("button.close, button:has-text('Close')").first.click()
    expect(modal).to_have_count(0)


def manual_scores(hub, student):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{hub.course / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(Path(NB).stem, AID, student)
        return {g.name: g.manual_score for g in nb.grades if g.cell_type == "markdown"}


@needs_chromium
def test_a_class_on_jupyterhub(hub, chromium, slow_answer):      # slow_answer: asked meanwhile, checked below
    from playwright.sync_api import expect

    shot = Shots()
    expected = {s: expected_scores(p) for s, p in PLAN.items()}
    assert all(sum(e.values()) > 0 for e in expected.values()), "each student earns something"
    assert expected["alice"] != expected["bob"]

    with shot.on_failure():
        # 1. The instructor releases a1 from Formgrader.
        teacher = log_in(chromium, hub, shot, INSTRUCTOR)
        formgrader = f"{hub.user_url(INSTRUCTOR)}/formgrader"
        teacher.goto(f"{formgrader}/manage_assignments")
        modal = formgrader_click(teacher, "release", f"Successfully released '{AID}'")
        shot(teacher, "instructor-release")
        close_modal(teacher, modal)
        released = hub.exchange / COURSE_ID / "outbound" / AID / NB
        assert released.read_bytes() == (REPO / "assignments" / AID / NB).read_bytes()

        # 2. Each student fetches, answers, validates and submits.
        pages = {s: student_turn(chromium, hub, shot, s, plan) for s, plan in PLAN.items()}
        for student, page in pages.items():   # no student reaches Formgrader, theirs or the instructor's
            response = page.request.get(f"{hub.user_url(student)}/formgrader/manage_assignments")
            assert response.status == 404, f"{student} reaches Formgrader: {response.status}"
            response = page.request.get(f"{formgrader}/manage_assignments")
            assert response.status == 403, f"{student} reaches the instructor's server: {response.status}"

        # 3. The instructor collects and grades.
        run(["nbgrader", "collect", AID], hub)
        for student in PLAN:
            assert (hub.course / "submitted" / student / AID / NB).exists(), f"{student}'s submission was not collected"
        results = hub.root / "grades.json"
        run([BIN / "course-grade", AID, hub.course / "submitted", "--course", hub.course,
             "--db", f"sqlite:///{hub.course / 'gradebook.db'}", "--json", results], hub)
        graded = {r["student"]: r for r in json.loads(results.read_text())["results"]}
        assert sorted(graded) == sorted(PLAN)
        for student, want in expected.items():
            r = graded[student]
            assert r["status"] == "graded", r["errors"]
            got = {p["cell"]: p["score"] for p in r["parts"] if p["kind"] == "autograded"}
            assert got == want, f"{student}: scores {got}, expected {want}"
            assert gs.scores(hub.course, AID, student) == {t: (want[t], graded_cells()[t][1]) for t in want}
            assert (hub.course / "autograded" / student / AID / NB).exists(), "course-grade left no autograded/ notebook"

        # 4. Written answers graded by hand in Formgrader, then feedback generated and released there.
        teacher.goto(f"{formgrader}/manage_submissions/{AID}")
        expect(teacher.locator("td.student-name")).to_have_count(len(PLAN))
        total = sum(points for _, points in graded_cells().values()) + written_points()
        for student, want in expected.items():     # autograded so far, out of every point
            row = teacher.locator("#main-table tr").filter(has=teacher.locator("td", has_text=re.compile(f"^{student}$")))
            expect(row).to_contain_text(f"{sum(want.values()):g} / {total:g}")
        shot(teacher, "instructor-autograded")
        listing = teacher.request.get(f"{formgrader}/api/submitted_notebooks/{AID}/{Path(NB).stem}")
        assert listing.ok, listing.text()
        ids = {s["student"]: s["id"] for s in listing.json()}
        written = written_cell_id()
        for student, plan in PLAN.items():
            teacher.goto(f"{formgrader}/submissions/{ids[student]}/?index=0")
            expect(teacher.locator("body")).to_contain_text(plan["written"])      # the student's own answer
            # Formgrader saves a score from a handler it binds once the page's grades have loaded,
            # and it moves the focus when MathJax is done: type only after both, as a person would
            # (a score typed earlier is never sent).
            teacher.wait_for_function(FORMGRADER_READY)
            score = teacher.locator(f"input.score#{written}")
            score.scroll_into_view_if_needed()
            score.fill(str(plan["manual"]))
            score.press("Tab")                                                   # a change saves it
            deadline = time.time() + 60
            while manual_scores(hub, student).get(written) != plan["manual"]:
                assert time.time() < deadline, f"the score typed for {student} was not saved: {manual_scores(hub, student)}"
                time.sleep(0.5)
            teacher.reload()
            expect(teacher.locator(f"input.score#{written}")).to_have_value(str(plan["manual"]))   # shown after a reload
            teacher.locator(f"input.score#{written}").scroll_into_view_if_needed()
            shot(teacher, f"instructor-grades-{student}")
        teacher.goto(f"{formgrader}/manage_assignments")
        close_modal(teacher, formgrader_click(teacher, "generate-feedback", f"Successfully generated feedback of '{AID}'"))
        modal = formgrader_click(teacher, "release-feedback", f"Successfully released feedback of '{AID}'")
        shot(teacher, "instructor-feedback-released")
        close_modal(teacher, modal)
        for student in PLAN:
            assert (hub.course / "feedback" / student / AID / f"{Path(NB).stem}.html").exists()
        assert len(list((hub.exchange / COURSE_ID / "feedback").glob("*.html"))) == len(PLAN)

        # 5. Each student fetches the feedback and reads it: their own scores, no hidden test.
        hidden = hidden_lines()
        assert hidden
        points = {gid: p for gid, (_, p) in graded_cells().items()}
        points[written] = written_points()
        for student, page in pages.items():
            open_assignments(page)
            row = assignment_rows(page, "submitted", 1).first
            row.locator('.item_status button:text("Fetch Feedback")').click()
            page.locator("#submitted_assignments_list a", has_text="(view feedback)").click()
            expect(page.locator(f'.jp-DirListing-itemText > span:text-is("{Path(NB).stem}.html")')).to_have_count(1)
            shot(page, f"{student}-feedback-fetched")
            (html,) = (hub.homes / student / AID / "feedback").glob(f"*/{Path(NB).stem}.html")
            page.goto(f"{hub.user_url(student)}/files/{html.relative_to(hub.homes / student).as_posix()}")
            # each graded cell's score in the table of contents, and the totals above it
            scores = dict(expected[student], **{written: PLAN[student]["manual"]})
            for gid, score in scores.items():
                entry = page.locator("#toc li").filter(has=page.locator(f'a[href="#{gid}"]'))
                expect(entry).to_contain_text(f"({score:g} / {points[gid]:g})")
            auto = sum(expected[student].values()), sum(p for gid, p in points.items() if gid != written)
            expect(page.locator(".course-scores")).to_contain_text(f"autograded: {auto[0]:g} / {auto[1]:g}")
            expect(page.locator(".course-scores")).to_contain_text(
                f"written answers: {PLAN[student]['manual']:g} / {points[written]:g}")
            shot(page, f"{student}-feedback")
            text = gs.text_of_html(html)
            leaked = gs.leaked_lines(hidden, text)
            assert not leaked, f"{student}'s feedback shows hidden tests: {leaked[:3]}"
            assert PLAN[student]["written"] in text
            others = [p["written"] for s, p in PLAN.items() if s != student]
            assert not any(o in text for o in others), f"{student}'s feedback shows another student's answer"


def test_the_proxy_waits_for_a_slow_answer(slow_answer):
    """The hub's proxy passes on an answer that takes longer than 20 s, as Node's
    configurable-http-proxy does; the Python port's default gives up with a 503 at 20 s, which left
    a slowly starting server's user on the "pending" page (the progress stream is one request)."""
    status, body, seconds = slow_answer()
    assert (status, body) == (200, b"late, but here"), (status, seconds)
    assert seconds >= SLOW_ANSWER_S
