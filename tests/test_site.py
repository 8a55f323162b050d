"""The course website (course_lib.site, `make site`): its execution cache, and the built site in
headless Chromium.

The cache tests replace the executor by a stand-in that counts its calls (no kernel), so that
the oracle is the count: the same key is not executed again; an edited notebook or library is;
fresh_since ignores an older entry; two processes that ask at once execute once.

The website test builds the site through the cache with fresh_since = the start of this test run
(tests/test_notebooks.py executes the lectures in the same run, so nothing runs twice and
nothing from an earlier run is shown), serves _site/html on a free port, and opens every page in
Debian's Chromium (/usr/bin/chromium, as tests/test_browser.py) with every request off this
machine blocked. The oracles are the notebooks themselves: every lecture and assignment in the
navigation, as many plots (loaded images) and progress bars on a page as its executed notebook
has outputs of that kind, and no solution line of solutions/ on an assignment page. A control
page with an error, a stderr write, a plot, two broken formulas and one too wide for the column
shows that each check can fail.
Screenshots go to .artifacts/screenshots/site-*.png."""

import contextlib
import functools
import http.server
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from test_notebooks import RUN_START

from course_lib import execution, site

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / ".artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
HAVE_CHROMIUM = os.path.exists(CHROMIUM)
if HAVE_CHROMIUM:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency: make install")
    from test_browser import browser  # noqa: F401, E402  (the same Chromium fixture)

needs_chromium = pytest.mark.skipif(
    not HAVE_CHROMIUM, reason="Debian's chromium is not installed; .ci/run installs it (apt-get install chromium)")


# --- the execution cache -----------------------------------------------------------------------

def write_notebook(path, code="print('hello')"):
    nb = new_notebook(cells=[new_markdown_cell("# A tiny notebook", id="title"),
                             new_code_cell(code, id="code")])
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def calls(monkeypatch):
    """Replace the executor by a stand-in: it records each call and writes `run <n>` as the
    output of every code cell, so that a returned notebook tells which execution made it."""
    made = []

    def stand_in(path, timeout=900):
        made.append(Path(path))
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = [new_output("stream", name="stdout", text=f"run {len(made)}\n")]
        return nb, 0.01

    monkeypatch.setattr(site, "execute_notebook", stand_in)
    return made


def output_text(nb):
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


def test_the_cache_runs_the_suites_executor():
    assert site.execute_notebook is execution.execute_notebook


def test_same_key_is_not_executed_again(tmp_path, calls):
    path = write_notebook(tmp_path / "tiny.ipynb")
    store = tmp_path / "store"
    first = site.executed(path, store=store)
    second = site.executed(path, store=store)
    assert len(calls) == 1
    assert output_text(first) == output_text(second) == "run 1\n"
    entries = sorted(p.name for p in store.glob("*.ipynb"))
    assert entries == [f"tiny-{site.cache_key(path)[:16]}.ipynb"], entries


def test_the_key_follows_sources_not_outputs(tmp_path):
    path = write_notebook(tmp_path / "tiny.ipynb")
    key = site.cache_key(path)
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].outputs = [new_output("stream", name="stdout", text="hello\n")]
    nb.cells[1].execution_count = 1
    nb.metadata["widgets"] = {}
    nbformat.write(nb, path)
    assert site.cache_key(path) == key, "an executed copy of the same cells has the same key"
    nb.cells[0].source += "!"
    nbformat.write(nb, path)
    assert site.cache_key(path) != key, "a markdown edit changes the key"


def test_an_edited_notebook_is_executed_again(tmp_path, calls):
    path = write_notebook(tmp_path / "tiny.ipynb")
    store = tmp_path / "store"
    site.executed(path, store=store)
    write_notebook(path, code="print('edited')")
    assert output_text(site.executed(path, store=store)) == "run 2\n"
    assert output_text(site.executed(path, store=store)) == "run 2\n"
    assert len(calls) == 2
    assert len(list(store.glob("tiny-*.ipynb"))) == 1, "the entry of the earlier version is removed"


def test_a_library_change_executes_again(tmp_path, calls, monkeypatch):
    lib = tmp_path / "lib"
    (lib / "sub").mkdir(parents=True)
    (lib / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(site, "LIB", lib)
    path = write_notebook(tmp_path / "tiny.ipynb")
    store = tmp_path / "store"
    site.executed(path, store=store)
    site.executed(path, store=store)
    assert len(calls) == 1
    (lib / "a.py").write_text("x = 2\n")
    site.executed(path, store=store)
    assert len(calls) == 2
    (lib / "sub" / "b.py").write_text("y = 1\n")          # a new module, one folder down
    site.executed(path, store=store)
    assert len(calls) == 3


def test_fresh_since_ignores_an_old_entry(tmp_path, calls):
    path = write_notebook(tmp_path / "tiny.ipynb")
    store = tmp_path / "store"
    site.executed(path, store=store)
    (entry,) = store.glob("tiny-*.ipynb")
    an_hour_ago = time.time() - 3600
    os.utime(entry, (an_hour_ago, an_hour_ago))
    assert output_text(site.executed(path, store=store)) == "run 1\n", "no fresh_since: any entry"
    assert output_text(site.executed(path, fresh_since=an_hour_ago + 60, store=store)) == "run 2\n"
    assert output_text(site.executed(path, fresh_since=an_hour_ago + 60, store=store)) == "run 2\n"
    assert len(calls) == 2


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected an existing .ipynb notebook"):
        site.executed(tmp_path / "missing.ipynb")
    path = write_notebook(tmp_path / "tiny.ipynb")
    with pytest.raises(TypeError, match="fresh_since must be a timestamp"):
        site.executed(path, fresh_since="yesterday", store=tmp_path / "store")


# A process that asks for the notebook. Its executor marks that it started and waits for the
# file `release`; its lock announces itself just before it waits for the lock.
ASKER = """
import sys, time
from pathlib import Path
import nbformat
import course_lib.site as site

path, store, marks, name = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
after = marks / sys.argv[5] if len(sys.argv) > 5 else None      # ask only once this file exists

def slow_executor(path, timeout=900):
    with open(marks / "executions", "a") as f:
        f.write(name + "\\n")
    (marks / (name + "-executing")).touch()
    deadline = time.time() + 60
    while not (marks / "release").exists() and time.time() < deadline:
        time.sleep(0.02)
    return nbformat.read(path, as_version=4), 0.0

real_lock = site._locked
def announced_lock(path, wait=True):
    (marks / (name + "-locking")).touch()
    return real_lock(path, wait)

site.execute_notebook = slow_executor
site._locked = announced_lock
while after is not None and not after.exists():
    time.sleep(0.02)
site.executed(path, store=store)
print("returned after release" if (marks / "release").exists() else "returned before release")
"""


def wait_for(path, seconds=60):
    deadline = time.time() + seconds
    while not path.exists():
        assert time.time() < deadline, f"{path.name} did not appear in {seconds} s"
        time.sleep(0.02)


def test_two_processes_asking_at_once_execute_once(tmp_path):
    path = write_notebook(tmp_path / "tiny.ipynb")
    store, marks = tmp_path / "store", tmp_path / "marks"
    marks.mkdir()
    script = tmp_path / "asker.py"
    script.write_text(ASKER)

    def ask(*args):
        return subprocess.Popen([sys.executable, str(script), str(path), str(store), str(marks), *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    first, second = ask("first"), ask("second", "first-executing")   # both start up at once
    wait_for(marks / "first-executing")          # the first holds the lock and is executing
    wait_for(marks / "second-locking")           # the second is at the lock
    time.sleep(0.3)
    (marks / "release").touch()
    outs = [p.communicate(timeout=60) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outs
    assert (marks / "executions").read_text() == "first\n", "the notebook ran once, in the first process"
    assert outs[1][0].strip() == "returned after release", "the second waited for the first"


def test_staging_runs_what_nobody_else_is_running_and_then_waits(tmp_path, calls):
    """The site and the notebook tests share the cache at once: staging runs the lectures last
    first, skips one that another process is executing, and takes it from the cache once that
    process is done. Each notebook runs once; the results come back in lecture order."""
    import fcntl

    store = tmp_path / "store"
    paths = [write_notebook(tmp_path / f"{name}.ipynb", code=f"print('{name}')") for name in "abc"]
    lock = store / f"b-{site.cache_key(paths[1])[:16]}.lock"
    store.mkdir()
    with open(lock, "a") as held:                            # another process is executing b
        fcntl.flock(held, fcntl.LOCK_EX)
        worker = threading.Thread(target=lambda: out.append(
            site._execute_around_others([(p, None, store) for p in paths])))
        out = []
        worker.start()
        deadline = time.time() + 30
        while len(calls) < 2 and time.time() < deadline:
            time.sleep(0.01)
        assert [p.name for p in calls] == ["c.ipynb", "a.ipynb"], "c and a run while b is busy"
        time.sleep(0.2)
        assert worker.is_alive() and len(calls) == 2, "then it waits for b, and does not run it meanwhile"
        fcntl.flock(held, fcntl.LOCK_UN)
    worker.join(30)
    assert [p.name for p in calls] == ["c.ipynb", "a.ipynb", "b.ipynb"]   # no cache entry for b: it runs
    results = out[0]
    assert [how for _, how, _ in results] == ["executed"] * 3
    assert [output_text(nb) for nb, _, _ in results] == ["run 2\n", "run 3\n", "run 1\n"]
    with pytest.raises(site.Busy):                           # the lock, asked not to wait
        with open(lock, "a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            site._cached(paths[1], store=store, wait=False)


# --- staging: units and widgets -----------------------------------------------------------------

def test_units_follow_the_table():
    lectures = [Path(f"notebooks/{n}.ipynb") for n in
                ("00_welcome", "02_hidden_markov_models", "03_elman_rnn", "07_gru", "09_lm", "10_seq2seq")]
    assignments = [Path("assignments/a1_markov_hmm/a1_markov_hmm.ipynb"),
                   Path("assignments/a4_seq2seq/a4_seq2seq.ipynb"),
                   Path("assignments/a9_new/a9_new.ipynb")]
    assert site.units(lectures, assignments) == [
        ("Unit 1 · Markov chains and hidden Markov models",
         ["notebooks/00_welcome", "notebooks/02_hidden_markov_models", "assignments/a1_markov_hmm/a1_markov_hmm"]),
        ("Unit 2 · Recurrent networks and backpropagation through time", ["notebooks/03_elman_rnn"]),
        ("Unit 3 · Gated recurrent networks", ["notebooks/07_gru"]),
        ("Unit 4 · Deep, bidirectional and language models", ["notebooks/09_lm"]),
        ("Unit 5 · Sequence to sequence", ["notebooks/10_seq2seq", "assignments/a4_seq2seq/a4_seq2seq"]),
        ("More assignments", ["assignments/a9_new/a9_new"]),
    ]


def test_a_progress_bar_becomes_static_html():
    """The saved state of a tqdm.notebook bar (HBox of HTML, FloatProgress, HTML) as it ended."""
    def model(name, **state):
        return {"model_name": name, "model_module": "@jupyter-widgets/controls", "state": state}

    state = {"box": model("HBoxModel", children=["IPY_MODEL_left", "IPY_MODEL_bar", "IPY_MODEL_right"]),
             "left": model("HTMLModel", value="training: 100%"),
             "bar": model("FloatProgressModel", value=250.0, max=250.0, bar_style="success"),
             "right": model("HTMLModel", value="\u2007250/250\u2007[00:03&lt;00:00]")}
    nb = new_notebook(cells=[new_code_cell("train()", id="c", outputs=[new_output(
        "display_data", data={site.WIDGET_VIEW: {"model_id": "box", "version_major": 2},
                              "text/plain": "training:   0%|   | 0/250"})])])
    nb.metadata["widgets"] = {site.WIDGET_STATE: {"state": state}}
    assert site.static_widgets(nb) == 1
    data = nb.cells[0].outputs[0]["data"]
    assert set(data) == {"text/plain", "text/html"} and "widgets" not in nb.metadata
    assert '<progress class="course-widget-progress course-widget-success" value="250.0" max="250.0">' in data["text/html"]
    assert "training: 100%" in data["text/plain"] and "250/250" in data["text/plain"] and "&lt;" not in data["text/plain"]


# --- the website in Chromium -------------------------------------------------------------------

@contextlib.contextmanager
def serve(folder):
    """http.server on a free port of 127.0.0.1, in a thread; yields the base URL and the list of
    (status, path, referer) of the requests it could not serve."""
    refused = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def send_error(self, code, *args, **kwargs):
            refused.append((int(code), self.path, self.headers.get("Referer", "")))
            super().send_error(code, *args, **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", refused
    finally:
        server.shutdown()
        server.server_close()


# What a page shows, once MathJax is done: a page with formulas waits (up to 60 s) for MathJax 3
# to start, then for its startup promise, which resolves after the first typesetting.
PAGE_FACTS = """async () => {
    const deadline = Date.now() + 60000;
    while (document.querySelector('.math.notranslate') && !(window.MathJax && MathJax.startup && MathJax.startup.promise)
           && Date.now() < deadline) {
        await new Promise(wake => setTimeout(wake, 50));
    }
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
        await MathJax.startup.promise;
    }
    const q = s => [...document.querySelectorAll(s)];
    const outputs = q('.cell_output');
    return {
        title: document.title,
        nav: q('nav.bd-docs-nav a.reference.internal').map(a => a.href),
        captions: q('nav.bd-docs-nav p.caption').map(p => p.innerText.trim()),
        outputs: outputs.length,
        images: q('.cell_output img').map(img => ({src: img.src, width: img.naturalWidth, complete: img.complete})),
        tracebacks: q('.cell_output .traceback').length,
        stderr: q('.cell_output .stderr').length,
        traceback_text: outputs.filter(o => o.innerText.includes('Traceback (most recent call last)')).length,
        progress: q('.course-widget progress').length,
        formulas: q('.math.notranslate').length,
        typeset: q('.math.notranslate > mjx-container').length,
        math_errors: q('mjx-merror').length,
        too_wide: q('mjx-container[display="true"]').filter(c => c.scrollWidth > c.clientWidth + 1).length,
        raw_tex: q('.math.notranslate').filter(m => /\\\\[(\\[]/.test(m.innerText)).length,
        mathjax: !!(window.MathJax && MathJax.version && MathJax.version.startsWith('3.')),
        text: document.body.innerText,
    };
}"""


@contextlib.contextmanager
def opened(browser, url):
    """A new page at url, every request off this machine blocked; yields (page, HTTP status,
    PAGE_FACTS, console errors, requests off this machine)."""
    page = browser.new_page()
    errors, external = [], []

    def console(m):
        # "Failed to load resource" names no URL: the request and response handlers report those.
        if m.type == "error" and not m.text.startswith("Failed to load resource"):
            errors.append(m.text)

    page.on("console", console)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status < 400 or errors.append(f"HTTP {r.status}: {r.url}"))

    def route(r):
        url = urllib.parse.urlsplit(r.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.hostname != "127.0.0.1":
            external.append(r.request.url)
            r.abort()
        else:
            r.continue_()

    try:
        page.route("**/*", route)
        response = page.goto(url, wait_until="load")
        yield page, response.status, page.evaluate(PAGE_FACTS), errors, external
    finally:
        page.close()


def shot(page, name, selector=None):
    SHOTS.mkdir(parents=True, exist_ok=True)
    if selector:
        page.locator(selector).first.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"site-{name}.png"))


def outputs_of_kind(nb, test):
    return sum(1 for c in nb.cells for o in c.get("outputs", []) if test(o))


def is_image(o):
    return any(k.startswith("image/") for k in o.get("data", {}))


def is_widget(o):
    return site.WIDGET_VIEW in o.get("data", {})


def solution_lines(aid):
    """Lines between BEGIN and END SOLUTION / HIDDEN TESTS in solutions/<aid>, long enough to be
    specific and absent from the student version."""
    student = "".join(c.source for c in nbformat.read(REPO / "assignments" / aid / f"{aid}.ipynb", 4).cells)
    lines, inside = [], False
    for cell in nbformat.read(REPO / "solutions" / aid / f"{aid}.ipynb", 4).cells:
        for line in cell.source.splitlines():
            if re.search(r"### (BEGIN|END) (SOLUTION|HIDDEN TESTS)", line):
                inside = "BEGIN" in line
            elif inside and len(line.strip()) > 30 and line.strip() not in student:
                lines.append(line.strip())
    return lines


@pytest.fixture(scope="module")
def built_site():
    summary = site.build(fresh_since=RUN_START, jobs=1)
    print(f"\nsite: {summary['pages']} pages, {summary['figures']} figures, {summary['executed']} lecture(s) "
          f"executed, {summary['cached']} from this run's executions; built in {summary['build_seconds']:.0f} s")
    assert not summary["problems"], "\n".join(summary["problems"])
    assert not summary["warnings"], "Sphinx warnings:\n" + "\n".join(summary["warnings"])
    return summary


CONTROL = [
    new_markdown_cell("# Control\n\nA formula $x^2 + y$, one TeX cannot parse $x^2^3$ and one left "
                      "unclosed $\\frac{1}{$. One too wide to fit the column even when scaled down:\n\n"
                      "$$" + " + ".join(f"x_{{{i}}}" for i in range(80)) + "$$", id="md"),
    new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()", id="plot"),
    new_code_cell("import sys\nprint('careful', file=sys.stderr)", id="stderr"),
    new_code_cell("1 / 0", id="error"),
]


@pytest.fixture(scope="module")
def control_site(tmp_path_factory):
    """A one-page site with an error, a stderr write, a plot, two broken formulas and one too wide,
    executed and built the same way: the checks below must see each of them."""
    tmp = tmp_path_factory.mktemp("control")
    nb = new_notebook(cells=CONTROL, metadata={"kernelspec": {"display_name": "Python 3", "language": "python",
                                                              "name": "python3"}})
    nbformat.write(nb, tmp / "control.ipynb")
    (tmp / "src").mkdir()
    nbformat.write(site.executed(tmp / "control.ipynb", store=tmp / "store"), tmp / "src" / "control.ipynb")
    (tmp / "src" / "index.md").write_text("# Index\n\n```{toctree}\ncontrol\n```\n")
    warnings = site.sphinx_build(tmp / "src", tmp / "html", tmp / "doctrees")
    return tmp / "html", warnings


@needs_chromium
@pytest.mark.xdist_group("site")
def test_the_checks_see_errors_plots_and_broken_math(control_site, browser):  # noqa: F811
    html, warnings = control_site
    assert any("stderr was found" in w for w in warnings), warnings
    with serve(html) as (base, _), opened(browser, f"{base}/control.html") as (_, status, facts, errors, external):
        assert status == 200 and not external
        assert facts["tracebacks"] == 1 and facts["traceback_text"] == 1 and facts["stderr"] == 1, facts
        assert [i["width"] > 0 for i in facts["images"]] == [True], facts["images"]
        # the unparsable formula is typeset as an error; the unclosed one is left as TeX source
        assert facts["mathjax"] and facts["formulas"] == 4 and facts["typeset"] == 3, facts
        assert facts["math_errors"] == 1 and facts["raw_tex"] == 1 and facts["too_wide"] == 1, facts


def staged(name):
    """The notebook a page was built from (_site/src), widgets already static HTML."""
    return nbformat.read(site.BUILD / "src" / name.replace(".html", ".ipynb"), as_version=4)


def is_progress_bar(o):
    return 'class="course-widget"' in o.get("data", {}).get("text/html", "")


@needs_chromium
@pytest.mark.xdist_group("site")
@pytest.mark.notebook
def test_the_website_in_chromium(built_site, browser):  # noqa: F811
    html = built_site["out"]
    lectures, assignments = site.lectures(), site.assignments()
    captions = [caption for caption, _ in site.units(lectures, assignments)]
    content = [f"notebooks/{p.stem}.html" for p in lectures] + \
              [f"assignments/{p.parent.name}/{p.stem}.html" for p in assignments]
    pages = ["index.html", "genindex.html", "search.html"] + content
    built = sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html"))
    assert [p for p in built if not p.startswith(("_static/", "_sources/"))] == sorted(pages)

    figures, shots = 0, set()
    with serve(html) as (base, refused):
        for name in pages:
            with opened(browser, f"{base}/{name}") as (page, status, facts, errors, external):
                where = f"{name}: "
                assert status == 200, where + str(status)
                assert not external, where + f"requests off this machine: {external}"
                assert not errors, where + f"console errors: {errors}"
                assert facts["tracebacks"] == facts["stderr"] == facts["traceback_text"] == 0, where + "an error output"
                assert facts["math_errors"] == facts["raw_tex"] == 0, where + "a formula did not render"
                assert facts["typeset"] == facts["formulas"], where + "MathJax did not typeset every formula"
                assert facts["too_wide"] == 0, where + "a displayed formula is wider than the column"
                bad = [i["src"] for i in facts["images"] if not (i["complete"] and i["width"] > 0)]
                assert not bad, where + f"images that did not load: {bad}"
                nav = {urllib.parse.urlsplit(h).path.lstrip("/") for h in facts["nav"]}
                assert not [p for p in content if p not in nav], where + f"navigation: {sorted(nav)}"
                assert facts["captions"] == captions, where + f"unit captions: {facts['captions']}"

                if name.startswith("notebooks/"):
                    nb = staged(name)
                    assert facts["outputs"] > 0, where + "no outputs: the lecture was not executed"
                    assert len(facts["images"]) == outputs_of_kind(nb, is_image), where + "plots missing"
                    assert facts["progress"] == outputs_of_kind(nb, is_progress_bar), where + "progress bars missing"
                    assert facts["formulas"] > 0, where + "no formula on a lecture page"
                    figures += len(facts["images"])
                    if facts["images"] and facts["progress"] and "lecture" not in shots:
                        shot(page, "lecture", ".cell_output img")
                        shots.add("lecture")
                elif name.startswith("assignments/"):
                    aid = name.split("/")[1]
                    assert facts["outputs"] == 0, where + "an assignment is shown as students get it, unexecuted"
                    assert "YOUR CODE HERE" in facts["text"], where
                    leaked = [line for line in solution_lines(aid) if line in facts["text"]]
                    assert not leaked, where + f"solution or hidden-test lines: {leaked[:3]}"
                    if "assignment" not in shots:
                        shot(page, "assignment", "text=YOUR CODE HERE")
                        shots.add("assignment")
                elif name == "index.html":
                    assert facts["title"].startswith("Sequence Models"), facts["title"]
                    assert page.locator(".search-button-field:visible").count() == 1, "one search field"
                    shot(page, "front")
    # Chromium asks every site for /favicon.ico, which Sphinx does not make; nothing else is missing.
    assert {path for _, path, _ in refused} <= {"/favicon.ico"}, refused
    assert figures == built_site["figures"] > 0
    assert shots == {"lecture", "assignment"}
    print(f"\nsite: {len(pages)} pages and {figures} figures checked in Chromium")
