"""course-grade on real submission notebooks, including ones that attack the grading.

Every submission below is built from the student version of a1 and graded through the
real pipeline (the installed `course-grade` command, nbgrader, the sandboxed kernel), all
in one run with two workers. Each must get the score its real answers deserve, and none
may stop the grading of the others.

Scores of a1: 15 autograded points, 3 per part (1 visible + 2 hidden); the written answer
is graded by hand.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import grading_support as gs
import nbformat
import pytest
from mutants_a1_markov_hmm import MUTANTS

from course_lib.grading.sandbox import isolation_available

pytestmark = [pytest.mark.grading, pytest.mark.xdist_group("course-grade")]

AID, NB = "a1_markov_hmm", "a1_markov_hmm.ipynb"
FULL, FORWARD = 15, 3
ISOLATED = isolation_available()
NEEDS_ISOLATION = pytest.mark.skipif(
    not ISOLATED, reason="kernel isolation needs root and a Python that the user `nobody` can run "
                         "(.ci/run makes it so); without it a write attack would reach real files")


def correct():
    return gs.filled_submission(AID, NB)


def untouched():
    return gs.filled_submission(AID, NB, untouched=True)


def wrong_forward():
    return gs.filled_submission(AID, NB, MUTANTS["forward-transposed-A"][0][NB])


def is_test(cell):
    meta = cell.metadata.get("nbgrader", {})
    return meta.get("grade") and not meta.get("solution")


def edit_answer(nb, grade_id, old, new):
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    assert old in cell.source
    cell.source = cell.source.replace(old, new)
    return nb


def add_cell(nb, source, position=2):
    cell = nbformat.v4.new_code_cell(source)
    nb.cells.insert(position, cell)
    return nb


def edited_tests(nb, source):
    for cell in nb.cells:
        if is_test(cell):
            cell.source = source
    return nb


def deleted_tests(nb):
    nb.cells = [c for c in nb.cells if not is_test(c)]
    return nb


def duplicated(nb):
    """Copy-paste of an answer cell and of a test cell: same ids, same grade ids."""
    out = []
    for cell in nb.cells:
        out.append(cell)
        if cell.metadata.get("nbgrader", {}).get("grade_id") in ("forward_log", "test_forward_visible"):
            out.append(nbformat.from_dict(json.loads(json.dumps(cell))))
    nb.cells = out
    return nb


def changed_metadata(nb):
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if not meta:
            continue
        if is_test(cell):
            meta.update(grade=False, points=0, locked=False)
        elif meta.get("solution"):
            meta.update(grade=True, points=100)
    return nb


def swapped_ids(nb):
    """The forward test relabelled as another part, and a made-up grade id."""
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") == "test_forward_visible":
            meta["grade_id"] = cell.id = "test_markov_visible_2"
        elif meta.get("grade_id") == "test_forward_hidden":
            meta["grade_id"] = cell.id = "test_markov_hidden"
    return nb


FORWARD_BODY = "    T, K = len(obs), len(pi)"


def in_forward(code):
    """A forward_log whose first line is `code` (the rest is the correct solution)."""
    return edit_answer(correct(), "forward_log", FORWARD_BODY, f"    {code}\n{FORWARD_BODY}")


def replace_forward(code, nb=None):
    """A wrong submission whose forward_log cell is `code`."""
    nb = nb or wrong_forward()
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "forward_log")
    cell.source = code
    return nb


def reads_files(paths, nb):
    """A cell, first in the notebook, that reads the instructor's notebooks at `paths` and runs
    the answer of every part from them; then the notebook `nb`."""
    return add_cell(nb, (
        "import json\n"
        f"for _path in {[str(p) for p in paths]!r}:\n"
        "    try:\n"
        "        _cells = json.load(open(_path))['cells']\n"
        "    except Exception as err:\n"
        "        print('could not read', _path, type(err).__name__)\n"
        "        continue\n"
        "    for _c in _cells:\n"
        "        if _c.get('metadata', {}).get('nbgrader', {}).get('solution') and _c['cell_type'] == 'code':\n"
        "            exec(''.join(_c['source']))\n"), position=1)


def reads_reference_source(paths, nb):
    """forward_log taken from the course's own hmm.py, read from disk at `paths`."""
    return replace_forward(
        "_src = ''\n"
        f"for _path in {[str(p) for p in paths]!r}:\n"
        "    try:\n"
        "        _src = open(_path).read()\n"
        "        break\n"
        "    except Exception:\n"
        "        pass\n"
        "_ns = {'__name__': 'copied'}\n"
        "exec(_src, _ns)\n"
        "def forward_log(obs, pi, A, B):\n"
        "    return _ns['forward_algorithm'](obs, pi, A, B)\n", nb)


def copied_reference():
    import inspect

    from course_lib import hmm

    src = inspect.getsource(hmm.forward_algorithm).replace("def forward_algorithm(", "def forward_log(")
    helpers = "\n\n".join(inspect.getsource(f) for f in (hmm._as_prob_array, hmm._check_rows_sum_to_one,
                                                          hmm._check_A_B, hmm._check_params, hmm._check_obs,
                                                          hmm._log, hmm.logsumexp))
    nb = correct()
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "forward_log")
    cell.source = "_ROW_ATOL = 1e-6\n\n" + helpers + "\n\n" + src
    return nb


# (build, expected autograded score, needs isolation)
ATTACKS = {
    "plain-correct": (correct, FULL, False),
    "plain-wrong-forward": (wrong_forward, FULL - FORWARD, False),
    "edited-tests-on-an-empty-notebook": (lambda: edited_tests(untouched(), 'print("all tests passed")'), 0, False),
    "edited-tests-on-a-correct-notebook": (lambda: edited_tests(correct(), "raise RuntimeError('no')"), FULL, False),
    "deleted-tests-on-an-empty-notebook": (lambda: deleted_tests(untouched()), 0, False),
    "deleted-tests-with-a-wrong-forward": (lambda: deleted_tests(wrong_forward()), FULL - FORWARD, False),
    "duplicated-cells": (lambda: duplicated(correct()), FULL, False),
    "changed-metadata-on-an-empty-notebook": (lambda: changed_metadata(untouched()), 0, False),
    "swapped-grade-ids": (lambda: swapped_ids(wrong_forward()), FULL - FORWARD, False),
    "calls-the-reference": (lambda: gs.filled_submission(AID, NB, MUTANTS["forward-calls-reference"][0][NB]),
                            FULL - FORWARD, False),
    "infinite-loop": (lambda: in_forward("while True: pass"), FULL - FORWARD, False),
    "infinite-loop-ignoring-sigint": (lambda: in_forward(
        "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "    while True: pass"), FULL - FORWARD, False),
    "os-exit": (lambda: in_forward("import os; os._exit(3)"), FULL - FORWARD, False),
    "sys-exit": (lambda: in_forward("import sys; sys.exit(0)"), FULL - FORWARD, False),
    "kernel-crash": (lambda: in_forward("import ctypes; ctypes.string_at(0)"), FULL - FORWARD, False),
    "sys-exit-at-top-level": (lambda: add_cell(correct(), "import sys\nsys.exit('bye')", position=3), FULL, False),
    "copies-the-reference": (copied_reference, FULL - FORWARD, False),
    "harmless-warning-in-a-test": (lambda: edit_answer(correct(), "markov_estimate",
        "    return (N + alpha) / (row_totals + alpha * V)",
        "    import warnings\n"
        "    class Noisy:\n"
        "        def __init__(self, a):\n"
        "            self.a = a\n"
        "        def __array__(self, dtype=None, copy=None):\n"
        "            warnings.warn('converted a Noisy result', UserWarning)\n"
        "            return self.a if dtype is None else self.a.astype(dtype)\n"
        "    return Noisy((N + alpha) / (row_totals + alpha * V))"), FULL, False),
    # each of these would fool checks that ran beside the student's code; none runs there
    "monkeypatch-numpy": (lambda: add_cell(wrong_forward(), (
        "np.any = lambda *a, **k: False\nnp.allclose = lambda *a, **k: True\n"
        "np.testing.assert_allclose = lambda *a, **k: None")), FULL - FORWARD, False),
    "monkeypatch-grading-helpers": (lambda: add_cell(wrong_forward(), (
        "import course_lib.grading as G\n"
        "G.check_array = lambda *a, **k: None\nG.check_scalar = lambda *a, **k: None")), FULL - FORWARD, False),
    "monkeypatch-ipython-and-builtins": (lambda: add_cell(wrong_forward(), (
        "import builtins\n"
        "ip = get_ipython()\n"
        "ip.showtraceback = lambda *a, **k: None\n"
        "_run_cell, _run_cell_async = ip.run_cell, ip.run_cell_async\n"
        "def _clean(r):\n"
        "    r.error_in_exec = None\n"
        "    r.error_before_exec = None\n"
        "    return r\n"
        "ip.run_cell = lambda *a, **k: _clean(_run_cell(*a, **k))\n"
        "async def _async(*a, **k):\n"
        "    return _clean(await _run_cell_async(*a, **k))\n"
        "ip.run_cell_async = _async\n"
        "builtins.AssertionError = type('AssertionError', (Exception,), {})")), FULL - FORWARD, False),
    "megabytes-of-output": (lambda: add_cell(correct(), "for i in range(200_000):\n    print('x' * 100)"),
                            FULL, False),
    "keeps-notes-in-its-home": (lambda: add_cell(correct(), (
        "import os\nopen(os.path.join(os.environ['HOME'], 'notes.txt'), 'w').write('mine')\n"
        "print('home:', os.environ['HOME'])")), FULL, False),
    # routes to the reference inside the process that runs the student's code: none exists there
    "imports-the-reference-by-a-computed-name": (lambda: replace_forward(
        "import importlib\n_m = importlib.import_module('course_lib.' + 'h' + 'mm')\n"
        "def forward_log(obs, pi, A, B):\n    return getattr(_m, 'forward' + '_algorithm')(obs, pi, A, B)\n"),
        FULL - FORWARD, False),
    "finds-the-reference-late-in-sys-modules": (lambda: replace_forward(
        "def forward_log(obs, pi, A, B):\n    import sys\n"
        "    for m in list(sys.modules.values()):\n"
        "        for name in ('forward' + '_algorithm', '_forward' + '_log'):\n"
        "            f = getattr(m, name, None)\n"
        "            if callable(f):\n                return f(obs, pi, A, B)\n"
        "    raise RuntimeError('nothing found')\n"), FULL - FORWARD, False),
    "finds-the-reference-by-introspection": (lambda: replace_forward(
        "def forward_log(obs, pi, A, B):\n    import gc, sys\n"
        "    gc.unfreeze()\n"                         # the objects a kernel inherits are frozen: out of get_objects
        "    for o in gc.get_objects():\n"
        "        if callable(o) and getattr(o, '__name__', '') in ('forward_algorithm', '_forward_log'):\n"
        "            return o(obs, pi, A, B)\n"
        "    f = sys._getframe()\n"
        "    while f is not None:\n"
        "        for v in list(f.f_globals.values()):\n"
        "            g = getattr(v, 'forward_algorithm', None)\n"
        "            if callable(g):\n                return g(obs, pi, A, B)\n"
        "        f = f.f_back\n"
        "    raise RuntimeError('nothing found')\n"), FULL - FORWARD, False),
    "captures-the-reference-early": (lambda: add_cell(replace_forward(
        "def forward_log(obs, pi, A, B):\n    return _captured(obs, pi, A, B)\n"), (
        "import importlib\n"
        "try:\n    _captured = importlib.import_module('course_lib.hmm').forward_algorithm\n"
        "except Exception:\n    _captured = None\n"), position=1), FULL - FORWARD, False),
    "forges-receipts": (lambda: add_cell(wrong_forward(), (
        "from IPython.display import publish_display_data\n"
        "for _ in range(50):\n"
        "    publish_display_data({'application/vnd.course-grading.receipt+json': {'t': 'py', 'v': None},\n"
        "                          'text/plain': ''})")), FULL - FORWARD, False),
    "returns-an-object-that-pickles-a-trap": (lambda: replace_forward(
        "class Trap:\n    def __reduce__(self):\n        return (exec, ('import os; os._exit(0)',))\n"
        "    def __array__(self, dtype=None, copy=None):\n        raise RuntimeError('no')\n"
        "def forward_log(obs, pi, A, B):\n    return Trap(), 0.0\n"), FULL - FORWARD, False),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("course-grade")
    course = base / "course"
    course.mkdir()
    shutil.copy(gs.REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(gs.REPO / "solutions", course / "solutions")
    work = base / "work"
    subs = base / "submissions"
    subs.mkdir()
    attacks = dict(ATTACKS)
    if ISOLATED:
        db = work / "master" / "gradebook.db"
        targets = [str(db), str(course / "solutions"), str(course / "nbgrader_config.py"), str(work)]
        attacks["writes-and-deletes-grader-files"] = (lambda: add_cell(correct(), (
            "import os, shutil, glob\n"
            f"targets = {targets!r}\n"
            "for t in targets + glob.glob('/tmp/**/gradebook.db', recursive=True):\n"
            "    for act in (lambda: open(t, 'w').write('corrupt'), lambda: os.remove(t), lambda: shutil.rmtree(t)):\n"
            "        try:\n"
            "            act()\n"
            "        except Exception:\n"
            "            pass\n")), FULL, True)
    if ISOLATED:
        # files a student knows the place of: the instructor's notebooks (in the course graded
        # and in the project the grader is installed from) and the reference's source
        import course_lib

        installed = gs.Path(course_lib.__file__).resolve().parent
        notebooks = [course / "solutions" / AID / NB, installed.parent / "solutions" / AID / NB]
        attacks["reads-the-solutions-with-no-answer-of-its-own"] = (
            lambda: reads_files(notebooks, untouched()), 0, True)
        attacks["reads-the-references-source"] = (
            lambda: reads_reference_source([installed / "hmm.py"], wrong_forward()), FULL - FORWARD, True)
    paths = []
    for name, (build, _, _) in attacks.items():
        # raw JSON: nbformat.write would repair the duplicated ids a copy-paste leaves
        (subs / f"{name}.ipynb").write_text(json.dumps(build()))
        paths.append(str(subs / f"{name}.ipynb"))
    (subs / "not-a-notebook.ipynb").write_text("{ this is not json")
    paths.append(str(subs / "not-a-notebook.ipynb"))
    out = base / "results.json"
    # The run's temporary folder (TMPDIR): nothing of a graded notebook's processes may stay in it.
    # Beside /tmp, not in the pytest folder, which `nobody` cannot reach.
    run_tmp = gs.Path(tempfile.mkdtemp(prefix="course-grade-test-tmp-"))
    os.chmod(run_tmp, 0o711)
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "course-grade"), AID, *paths, "-j", "2",
         "--course", str(course), "--work", str(work), "--json", str(out), "--markdown", str(base / "summary.md"),
         "--feedback", str(base / "feedback"), "--cell-timeout", "8", "--timeout", "240"],
        capture_output=True, text=True, timeout=1800, env=dict(os.environ, TMPDIR=str(run_tmp)))
    results = {r["student"]: r for r in json.loads(out.read_text())["results"]} if out.exists() else {}
    left = sorted(str(p.relative_to(run_tmp)) for p in run_tmp.rglob("*"))
    shutil.rmtree(run_tmp, ignore_errors=True)
    return {"proc": proc, "results": results, "attacks": attacks, "course": course, "work": work, "base": base,
            "run_tmp": run_tmp, "left_in_tmp": left}


def test_grading_worked_for_every_submission(graded):
    proc = graded["proc"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert len(graded["results"]) == len(graded["attacks"]) + 1
    failed = {s: r["errors"] for s, r in graded["results"].items() if r["status"] != "graded"}
    assert not failed, failed


@pytest.mark.parametrize("name", list(ATTACKS))
def test_each_submission_gets_what_its_answers_deserve(graded, name):
    r = graded["results"][name]
    assert r["max_score"] == FULL, r
    assert r["score"] == ATTACKS[name][1], (r["score"], r["repairs"], [p for p in r["parts"] if p["message"]])


def test_unreadable_notebook_is_graded_as_empty(graded):
    r = graded["results"]["not-a-notebook"]
    assert r["status"] == "graded" and r["score"] == 0 and r["max_score"] == FULL
    assert any("could not be read" in rep for rep in r["repairs"])


def test_repairs_are_reported(graded):
    res = graded["results"]
    assert any("was edited" in rep for rep in res["edited-tests-on-a-correct-notebook"]["repairs"])
    assert any("was missing" in rep for rep in res["deleted-tests-on-an-empty-notebook"]["repairs"])
    assert any("a copy of cell" in rep for rep in res["duplicated-cells"]["repairs"])


@pytest.mark.parametrize("name, says", [
    ("infinite-loop", "forward_log did not return within"),
    ("infinite-loop-ignoring-sigint", "forward_log did not return within"),
    ("os-exit", "the process running your code stopped while forward_log ran"),
    ("kernel-crash", "the process running your code stopped while forward_log ran"),
    ("sys-exit", "SystemExit"),
])
def test_a_crash_or_a_hang_costs_its_part_and_says_why(graded, name, says):
    r = graded["results"][name]
    msgs = {p["cell"]: p["message"] for p in r["parts"]}
    assert says in msgs["test_forward_visible"], msgs["test_forward_visible"]
    assert msgs["test_posteriors_visible"] == "", "the parts after it were graded as usual"


@pytest.mark.parametrize("name", [n for n in ATTACKS if n.startswith(("monkeypatch", "forges"))])
def test_patching_the_students_process_does_not_reach_the_tests(graded, name):
    """The student's cells run in their own process: whatever they patch there (NumPy, IPython,
    builtins, grading helpers, fake receipts), the tests see the wrong forward_log as it is."""
    msgs = {p["cell"]: p["message"] for p in graded["results"][name]["parts"]}
    assert "log_alpha is wrong" in msgs["test_forward_visible"], msgs["test_forward_visible"]


@NEEDS_ISOLATION
def test_the_course_files_cannot_be_read_by_the_students_code(graded):
    """The file attacks earned nothing because the files could not be read, not by chance."""
    r = graded["results"]["reads-the-solutions-with-no-answer-of-its-own"]
    assert r["score"] == 0
    assert graded["results"]["reads-the-references-source"]["score"] == FULL - FORWARD, "as the same wrong answer"
    import course_lib

    installed = gs.Path(course_lib.__file__).resolve().parent
    for folder in (graded["course"] / "solutions", installed, installed.parent / "solutions"):
        assert folder.stat().st_mode & 0o007 == 0, f"{folder} is open to other users"


def test_failures_are_explained(graded):
    r = graded["results"]["plain-wrong-forward"]
    msgs = {p["cell"]: p["message"] for p in r["parts"]}
    assert "log_alpha is wrong" in msgs["test_forward_visible"]
    assert msgs["test_markov_visible"] == ""
    md = (graded["base"] / "summary.md").read_text()
    assert "| plain-wrong-forward | 12 / 15 |" in md


@pytest.mark.parametrize("name, words", [
    ("plain-wrong-forward", ["autograded: 12 / 15", "written answers: 3 points to be graded by hand"]),
    ("not-a-notebook", ["autograded: 0 / 15", "written answers: 0 / 3"]),      # left untouched: 0 by itself
])
def test_scores_read_the_same_in_every_report(graded, name, words):
    """The console table, the Markdown summary, the JSON and the feedback page state a
    submission's scores in the same words: the autograded score out of the autograded maximum
    (15 for a1), and the written answer's 3 points as points still to be graded by hand, never
    as a score (a feedback page once read "3.0 / 18.0", with the answer counted as 0 of 3)."""
    r = graded["results"][name]
    assert r["scores"] == words
    assert f"{name}: {'; '.join(words)}" in graded["proc"].stdout
    md = (graded["base"] / "summary.md").read_text()
    assert f"### {name}\n\n{'; '.join(words)}\n" in md
    assert f"| {name} | {words[0].removeprefix('autograded: ')} | {words[1].removeprefix('written answers: ')} |" in md
    page = gs.text_of_html(graded["base"] / "feedback" / name / "a1_markov_hmm.html")
    assert all(w in page for w in words), page[:2000]
    assert "Score" not in page and "/ 18" not in page, "no total that counts the written answer as 0"
    written = "Written answer (3 points to be graded by hand)" if "to be graded" in words[1] else "Written answer (0 / 3)"
    assert written in " ".join(page.split())


def test_feedback_is_small_and_hides_the_hidden_tests(graded):
    fb = graded["base"] / "feedback" / "megabytes-of-output" / "a1_markov_hmm.html"
    assert fb.exists() and fb.stat().st_size < 3_000_000
    _, hidden = __import__("test_grading_pipeline").secret_lines(AID, [NB])
    text = gs.text_of_html(graded["base"] / "feedback" / "plain-wrong-forward" / "a1_markov_hmm.html")
    assert not gs.leaked_lines(hidden, text)


@NEEDS_ISOLATION
def test_no_private_home_outlives_the_grading(graded):
    """Each sandboxed process of a graded notebook (the grading kernel, the answer process) gets a
    private home in the run's temporary folder; they are all removed once the notebook is graded,
    with what the student's code wrote there (they were left in /tmp, one or two per submission)."""
    student = "keeps-notes-in-its-home"
    assert graded["results"][student]["score"] == FULL
    (graded_nb,) = graded["work"].glob(f"students/{student}/autograded/*/{AID}/{NB}")
    printed = "".join(o.get("text", "") for c in nbformat.read(graded_nb, as_version=4).cells
                      for o in c.get("outputs", []))
    home = gs.Path(re.search(r"home: (\S+)", printed).group(1))
    assert home.is_relative_to(graded["run_tmp"]) and home.name.startswith("course-sandbox-home-"), home
    assert not graded["left_in_tmp"], graded["left_in_tmp"][:10]      # listed before the folder was removed


@NEEDS_ISOLATION
def test_write_attacks_change_nothing(graded):
    r = graded["results"]["writes-and-deletes-grader-files"]
    assert r["score"] == FULL
    assert (graded["course"] / "solutions" / AID / NB).exists()
    assert (graded["course"] / "nbgrader_config.py").exists()


def test_every_grade_lands_in_the_gradebook_once(graded):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded['work'] / 'master' / 'gradebook.db'}") as gb:
        students = {s.id for s in gb.students}
    assert students == set(graded["results"]), "every grade landed exactly once, none was lost"


def test_monkeypatching_torch_is_caught(tmp_path):
    """a3's visible GRU test uses torch.nn.GRUCell as its oracle. A wrong GRU plus a patched
    GRUCell.forward (answering with the student's own step) patches the student's process only;
    the oracle in the grading kernel is untouched, and the part earns nothing."""
    from grading_cases import MUTANTS as ALL

    from course_lib.grading.grader import grade

    aid, nb = "a3_lstm_gru", "a3_lstm_gru.ipynb"
    sub = gs.filled_submission(aid, nb, ALL[aid]["gru-z-swapped"][0][nb])
    add_cell(sub, (
        "import torch\n"
        "def _fake_forward(self, x, h):\n"
        "    w = lambda p: p.detach().numpy()\n"
        "    out = gru_step_forward(x.numpy(), h.numpy(), w(self.weight_ih).T, w(self.weight_hh).T,\n"
        "                           w(self.bias_ih), w(self.bias_hh))[0]\n"
        "    return torch.from_numpy(out)\n"
        "torch.nn.GRUCell.forward = _fake_forward"), position=len(sub.cells))
    # the patch must come after the answer cells; move it just after the GRU answer
    gids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in sub.cells]
    patch = sub.cells.pop()
    sub.cells.insert(gids.index("gru_step_forward") + 1, patch)
    (tmp_path / "torch-patch.ipynb").write_text(json.dumps(sub))
    [r] = grade(aid, [str(tmp_path / "torch-patch.ipynb")], work=tmp_path / "work", course=gs.REPO, progress=False)
    assert r["score"] == r["max_score"] - 3, (r["score"], r["repairs"])
    msgs = {p["cell"]: p["message"] for p in r["parts"]}
    assert msgs["test_gru_step_visible"] and msgs["test_gru_step_hidden"], msgs


def test_timeout_kill_spares_a_process_that_reuses_a_kernel_pid(tmp_path):
    """The grader kills sandbox kernels by the pid they recorded. A recorded pid whose process is
    gone may be handed to another program (here: a live process whose start time differs from the
    recorded one); that program survives, while a process whose start time matches is killed."""
    from course_lib.grading.grader import _kill_kernels
    from course_lib.grading.sandbox import process_start_time

    def sleeper():
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)

    other, kernel = sleeper(), sleeper()
    try:
        pidfile = tmp_path / "kernel.pids"
        pidfile.write_text(f"{other.pid} {process_start_time(other.pid) - 1}\n"
                           f"{kernel.pid} {process_start_time(kernel.pid)}\n")
        _kill_kernels(pidfile)
        assert kernel.wait(timeout=10) == -9
        assert other.poll() is None, "a process that only shares a recorded pid was killed"
        assert not pidfile.exists()
    finally:
        for p in (other, kernel):
            p.kill()
            p.wait()


@pytest.mark.parametrize("failures, status", [(1, "graded"), (5, "failed")])
def test_a_failure_outside_the_notebook_is_graded_again_once(tmp_path, monkeypatch, failures, status):
    """When autograde fails although the notebook, run cell by cell, shows no fault (here: the
    first `failures` runs report a kernel that died while starting, as happens on a busy machine),
    the submission is graded once more. A second such failure is a grading failure."""
    from course_lib.grading import grader

    aid, name = "a2_rnn_bptt", "a2_rnn_bptt.ipynb"
    monkeypatch.setenv("JUPYTER_PATH", os.environ.get("JUPYTER_PATH", ""))    # prepare() sets it
    ctx = grader.prepare(aid, course=gs.REPO, work=tmp_path / "work", timeout=300, cell_timeout=60)
    sub = tmp_path / name
    nbformat.write(gs.filled_submission(aid, name), sub)
    real_autograde, runs = grader._autograde, []

    def flaky_autograde(*args, **kwargs):
        runs.append(args)
        if len(runs) <= failures:
            return False, "RuntimeError: Kernel died before replying to kernel_info\n", False
        return real_autograde(*args, **kwargs)

    monkeypatch.setattr(grader, "_autograde", flaky_autograde)
    try:
        result = grader.grade_submission(ctx, "student", sub)
    finally:
        grader._stop_kernel_servers()
    assert len(runs) == 2 and result["status"] == status, result
    if status == "graded":
        assert result["score"] == result["max_score"] > 0, result
        assert any("its kernel died while starting" in r for r in result["repairs"]), result["repairs"]
    else:
        assert "autograde failed twice" in result["errors"][0], result


def _run_workers(grader, ctx, jobs, students):
    """The results of _Workers grading these students' notebooks (each correct a1), and its worker processes."""
    tasks = []
    for i, student in enumerate(students):
        path = ctx.work / f"{student}.ipynb"
        nbformat.write(correct(), path)
        tasks.append((i, student, path, None))
    results, workers = {}, grader._Workers(ctx, jobs)
    try:
        workers.run(tasks, lambda i, result: results.__setitem__(students[i], result))
    finally:
        workers.close()
    return results, workers.procs


def test_workers_are_forked_and_one_that_dies_is_replaced(tmp_path):
    """A one-threaded process (the `course-grade` command, a test) forks its workers: they have
    nbgrader and the course loaded already. Each runs in a session of its own and holds no other
    worker's pipes (or the run would never end). A worker that dies (here: a forked one, on its
    first submission, through a patch only forked workers inherit) is replaced by a started
    worker, which grades that submission again. With a second thread running, workers are
    started, not forked. Oracle: full marks for every correct submission, as a started worker
    gives them.

    It runs in a new Python process (_forking_scenario), which has one thread: this one may have
    more (after the browser tests, Playwright leaves asyncio's threads in the process that ran them)."""
    script = (f"import pathlib, sys\nsys.path.insert(0, {str(gs.Path(__file__).parent)!r})\n"
              f"import test_grader\ntest_grader._forking_scenario(pathlib.Path({str(tmp_path)!r}))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert proc.stdout.strip().endswith("forked, replaced, started: as expected"), proc.stdout[-2000:]


def _forking_scenario(tmp_path):
    """The body of test_workers_are_forked_and_one_that_dies_is_replaced, in a process of its own."""
    import threading

    from course_lib.grading import grader

    assert threading.active_count() == 1, threading.enumerate()
    ctx = grader.prepare(AID, course=gs.REPO, work=tmp_path / "work", timeout=300, cell_timeout=60)
    real, me, died = grader.grade_submission, os.getpid(), tmp_path / "died"

    def dies_once(ctx, student, path, feedback_dir=None):
        (tmp_path / f"{student}.seen").write_text(f"{os.getppid()} {os.getsid(0)} {os.getpid()}")
        if student == "bob" and not died.exists():
            died.write_text("")
            os._exit(3)
        return real(ctx, student, path, feedback_dir)

    grader.grade_submission = dies_once                 # this process ends with the scenario
    try:
        results, procs = _run_workers(grader, ctx, 2, ["alice", "bob", "carol"])
        assert died.exists(), "the first worker to get bob should have died"
        assert {s: (r["status"], r["score"]) for s, r in results.items()} == {s: ("graded", FULL) for s in results}
        assert [type(p).__name__ for p in procs] == ["_Forked", "_Forked", "Popen"], procs
        assert sorted(p.returncode for p in procs[:2]) == [0, 3] and procs[2].returncode == 0, procs
        assert "--worker" in procs[2].args
        parent, session, pid = map(int, (tmp_path / "alice.seen").read_text().split())
        assert parent == me and session == pid, "a forked worker is this process's child, in a session of its own"

        stop = threading.Event()
        other = threading.Thread(target=stop.wait)
        other.start()
        try:
            results, procs = _run_workers(grader, ctx, 1, ["dave"])
        finally:
            stop.set()
            other.join()
        assert results["dave"]["score"] == FULL and [type(p) for p in procs] == [subprocess.Popen]
    finally:
        grader._stop_kernel_servers()
    print("forked, replaced, started: as expected")


def test_an_assignment_nbgrader_cannot_generate_is_refused_with_nbgraders_reason(tmp_path):
    """course-grade generates the assignment into its gradebook in its own process; when the
    source is broken (two test cells with one grade id) it stops before grading, with
    nbgrader's reason. Oracle: `nbgrader generate_assignment` on the same course, which fails
    with that reason too."""
    from course_lib.course import nbgrader
    from course_lib.grading.grader import grade

    course = tmp_path / "course"
    shutil.copytree(gs.REPO / "solutions" / AID, course / "solutions" / AID)
    shutil.copy(gs.REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    source = course / "solutions" / AID / NB
    nb = nbformat.read(source, as_version=4)
    first, second = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")][:2]
    second.metadata["nbgrader"]["grade_id"] = first.metadata["nbgrader"]["grade_id"]
    nbformat.write(nb, source)
    reason = f"Duplicate grade id: {first.metadata['nbgrader']['grade_id']}"
    plain = nbgrader(course, "generate_assignment", AID, "--force", check=False)
    assert reason in plain.stdout + plain.stderr
    (tmp_path / "submission.ipynb").write_text(json.dumps(correct()))
    with pytest.raises(RuntimeError, match="nbgrader generate_assignment failed") as failure:
        grade(AID, [str(tmp_path / "submission.ipynb")], course=course, work=tmp_path / "work", progress=False,
              warm_kernels=False)
    assert reason in str(failure.value)


def test_cold_kernels_grade_as_the_table_says(tmp_path):
    """Without the warm-kernel server (warm_kernels=False, as when it cannot start) every kernel
    starts as `python -m course_lib.grading.sandbox` and every answer process as
    `python -m course_lib.grading.answer_process`, and a typical mistake still loses exactly its part."""
    from grading_cases import MUTANTS as ALL

    from course_lib.grading.grader import grade

    aid, nb = "a2_rnn_bptt", "a2_rnn_bptt.ipynb"
    name = next(iter(ALL[aid]))
    mutations, lost = ALL[aid][name]
    points = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"].get("points", 0)
              for c in nbformat.read(gs.REPO / "solutions" / aid / nb, as_version=4).cells
              if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}
    (tmp_path / f"{name}.ipynb").write_text(json.dumps(gs.filled_submission(aid, nb, mutations[nb])))
    [r] = grade(aid, [str(tmp_path / f"{name}.ipynb")], work=tmp_path / "work", course=gs.REPO, progress=False,
                warm_kernels=False)
    spec = json.loads((tmp_path / "work" / "jupyter" / "kernels" / "course-sandbox" / "kernel.json").read_text())
    assert "course_lib.grading.sandbox" in spec["argv"], spec["argv"]
    assert r["score"] == sum(points.values()) - sum(points[g] for g in lost), r
    assert not r["repairs"], r["repairs"]


def test_grading_into_a_course_leaves_what_formgrader_and_feedback_need(tmp_path):
    """`course-grade <aid> <course>/submitted --course <course> --db sqlite:///<course>/gradebook.db`,
    as after `nbgrader collect`, plus one notebook from elsewhere. Oracles are nbgrader's own: its
    Gradebook and the NbGraderAPI behind Formgrader list every submission as autograded, with the
    written answer waiting for a hand grade (not "Submissions 0"), the submission timestamp is kept,
    and `nbgrader generate_feedback` makes each student's feedback. As root, the files left in the
    course belong to the course's owner and no other user (`nobody` runs the student's code) can
    write them."""
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    from course_lib.course import nbgrader

    (tmp_path / "course").mkdir()
    course = gs.copy_course(tmp_path / "course")
    stamp = "2024-05-06 10:11:12.000000 UTC"
    for student, nb in (("alice", correct()), ("bob.smith", wrong_forward())):
        gs.submit(course, AID, student, {NB: nb})
    (course / "submitted" / "alice" / AID / "timestamp.txt").write_text(stamp)
    (tmp_path / "elsewhere").mkdir()
    nbformat.write(untouched(), tmp_path / "elsewhere" / "carol.ipynb")
    owner = 4321                                  # the instructor, a user of their own
    if ISOLATED:
        for p in [course, *course.rglob("*")]:
            os.chown(p, owner, owner)
    db = f"sqlite:///{course / 'gradebook.db'}"
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "course-grade"), AID, str(course / "submitted"),
         str(tmp_path / "elsewhere" / "carol.ipynb"), "--course", str(course), "--db", db, "-j", "2",
         "--work", str(tmp_path / "work"), "--json", str(tmp_path / "grades.json")],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    scores = {r["student"]: r["score"] for r in json.loads((tmp_path / "grades.json").read_text())["results"]}
    assert scores == {"alice": FULL, "bob.smith": FULL - FORWARD, "carol": 0}, "ids are the folder names"

    for student in scores:
        for kind in ("submitted", "autograded"):
            assert (course / kind / student / AID / NB).is_file(), f"no {kind}/{student}/{AID}/{NB}"
    with Gradebook(db) as gb:
        for student, score in scores.items():
            sub = gb.find_submission(AID, student)
            assert sub.code_score == score
            manual = [g.name for nb in sub.notebooks for g in nb.grades if g.needs_manual_grade]
            # an untouched written answer scores 0 by itself (nbgrader); a written one waits for a hand
            assert manual == ([] if student == "carol" else ["written_answer"]), (student, manual)
        assert str(gb.find_submission(AID, "alice").timestamp).startswith("2024-05-06 10:11:12")

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    config.CourseDirectory.root = str(course)
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    listed = {s["student"]: s for s in api.get_submissions(AID)}
    assert sorted(listed) == sorted(scores)
    assert all(s["autograded"] for s in listed.values()), listed
    assert [s for s in listed if listed[s]["needs_manual_grade"]] == ["alice", "bob.smith"], listed
    assert len(api.get_notebook_submissions(AID, "a1_markov_hmm")) == len(scores), "Formgrader's notebook page"

    with Gradebook(db) as gb:                     # alice's written answer graded by hand, as Formgrader does
        grade = gb.find_grade("written_answer", "a1_markov_hmm", AID, "alice")
        grade.manual_score, grade.needs_manual_grade = 2.0, False
        gb.db.commit()
    fb = nbgrader(course, "generate_feedback", AID, "--force", check=False)
    assert fb.returncode == 0, fb.stdout[-2000:] + fb.stderr[-2000:]
    words = {"alice": ["autograded: 15 / 15", "written answers: 2 / 3"],
             "bob.smith": ["autograded: 12 / 15", "written answers: 3 points to be graded by hand"],
             "carol": ["autograded: 0 / 15", "written answers: 0 / 3"]}
    for student in scores:
        page = course / "feedback" / student / AID / "a1_markov_hmm.html"
        assert page.is_file(), fb.stderr[-2000:]
        assert all(w in gs.text_of_html(page) for w in words[student]), (student, words[student])

    if ISOLATED:
        import pwd

        nobody = pwd.getpwnam("nobody").pw_uid
        left = [course / "gradebook.db", *(course / "autograded").rglob("*"), *(course / "submitted").rglob("*")]
        for p in left:
            st = p.stat()
            assert st.st_uid == owner != nobody and not st.st_mode & 0o002, (p, st.st_uid, oct(st.st_mode))
        for top in ("autograded", "submitted"):
            assert not (course / top).stat().st_mode & 0o007, f"{top}/ is open to other users"


def test_the_console_table_shows_every_part_name_whole():
    """The table course-grade prints gives each part its full title (they were cut at 38
    characters) and keeps the columns aligned, for the longest titles of every assignment."""
    from course_lib.course import assignment_ids
    from course_lib.grading.grader import _parts_of
    from course_lib.grading.results import summary_table

    titles = {}
    for aid in assignment_ids(gs.REPO):
        for name in gs.notebook_names(aid):
            titles.update(_parts_of(nbformat.read(gs.REPO / "solutions" / aid / name, as_version=4)))
    assert max(len(t) for t in titles.values()) > 38
    parts = [{"part": title, "cell": gid, "score": 1.0, "max_score": 2.0, "kind": "autograded", "message": "m"}
             for gid, title in titles.items()]
    table = summary_table([{"student": "s", "status": "graded", "score": 1.0, "max_score": 2.0,
                            "manual_points": 0.0, "parts": parts, "repairs": [], "errors": []}])
    rows = table.splitlines()[1:]
    assert len(rows) == len(parts)
    for row, p in zip(rows, parts):
        assert row.startswith(f"  {p['part']} ") and f" {p['cell']} " in row, row
    assert len({row.index(" 1 / 2 ") for row in rows}) == 1, "the score column is aligned"
