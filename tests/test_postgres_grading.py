"""course-grade against a real PostgreSQL gradebook, with two workers.

A real server (Debian's PostgreSQL, started here without systemd, as the `postgres` user,
on 127.0.0.1 and a free port) holds the gradebook. 30 submissions of a1 (correct,
untouched, and the typical mistakes of tests/mutants_a1_markov_hmm.py) are graded in one
run of the installed `course-grade` with `-j 2` and a plain `postgresql://ROLE@HOST:PORT/DB`
URL; the password travels only in PGPASSWORD. Every grade must land exactly once and be
the one the answers deserve, and the password must show up nowhere: not in the output,
the JSON, the Markdown, the grading folders, nor in the student's kernel (one submission
looks for it and tries to write to the gradebook).

Skips, with the reason, when the PostgreSQL server binaries are missing or when not root.
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grading_support as gs
import nbformat
import pytest
from mutants_a1_markov_hmm import MUTANTS
from pg_server import PostgresServer, unavailable_reason

from course_lib.grading.environment import temporarily

pytestmark = [pytest.mark.grading, pytest.mark.xdist_group("postgres")]

AID, NB = "a1_markov_hmm", "a1_markov_hmm.ipynb"
N_SUBMISSIONS = 30
PROBE_TABLE = "probe_was_here"


def _test_points():
    """{grade_id: points} of the autograded test cells of a1, from its source notebook."""
    nb = nbformat.read(gs.REPO / "solutions" / AID / NB, as_version=4)
    out = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution") and cell.cell_type == "code":
            out[meta["grade_id"]] = meta["points"]
    return out


POINTS = _test_points()
FULL = sum(POINTS.values())


def _probe_cell(port, role, database):
    """An extra cell a student could add: look for the grader's password, try to reach the
    gradebook with the grader's role, and leave a mark there if that worked."""
    return (
        "import os\n"
        "print('environment seen by the kernel:', {k: v for k, v in os.environ.items()\n"
        "      if k.startswith('PG') or 'PASS' in k.upper() or 'DB' in k.upper()})\n"
        "try:\n"
        "    import psycopg\n"
        f"    with psycopg.connect(host='127.0.0.1', port={port}, user={role!r}, dbname={database!r},\n"
        "                         connect_timeout=5) as conn:\n"
        f"        conn.execute('CREATE TABLE {PROBE_TABLE} (x int)')\n"
        "        conn.execute('UPDATE grade SET auto_score = max_score')\n"
        "    print('the gradebook was reachable')\n"
        "except Exception as err:\n"
        "    print('no access to the gradebook:', type(err).__name__)\n")


def _kinds(pg):
    """[(kind, build, expected autograded score)]: correct, untouched, every mutant."""
    def correct():
        return gs.filled_submission(AID, NB)

    def probing():
        nb = correct()
        nb.cells.insert(2, nbformat.v4.new_code_cell(_probe_cell(pg.port, pg.role, pg.database)))
        return nb

    kinds = [("correct", correct, FULL),
             ("untouched", lambda: gs.filled_submission(AID, NB, untouched=True), 0),
             ("correct-probing-the-gradebook", probing, FULL)]
    for name, (mutations, failing) in MUTANTS.items():
        assert failing <= set(POINTS), f"mutant {name} lists unknown test cells {failing - set(POINTS)}"
        kinds.append((name, lambda m=mutations: gs.filled_submission(AID, NB, m[NB]),
                      FULL - sum(POINTS[t] for t in failing)))
    return kinds


def _password_env(pg):
    """PGPASSWORD (and the venv's bin/, for nbgrader's alembic) in this process, for a while."""
    return temporarily(PGPASSWORD=pg.password,
                       PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


@pytest.fixture(scope="module")
def pg():
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = PostgresServer(role="grader", database="gradebook")
    try:
        server.start()
        yield server
    finally:
        server.stop()                              # always, even when start() failed half-way


@pytest.fixture(scope="module")
def graded(pg, tmp_path_factory):
    base = tmp_path_factory.mktemp("pg-grade")
    course = base / "course"
    course.mkdir()
    shutil.copy(gs.REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(gs.REPO / "solutions", course / "solutions")
    work, subs = base / "work", base / "submissions"
    subs.mkdir()
    kinds = _kinds(pg)
    expected, paths = {}, []
    for i in range(N_SUBMISSIONS):
        kind, build, score = kinds[i % len(kinds)]
        student = f"s{i:02d}-{kind}"
        (subs / f"{student}.ipynb").write_text(json.dumps(build()))
        paths.append(str(subs / f"{student}.ipynb"))
        expected[student] = score
    out, md = base / "results.json", base / "summary.md"
    env = dict(os.environ, PGPASSWORD=pg.password)
    env.pop("GITHUB_STEP_SUMMARY", None)
    cmd = [os.path.join(os.path.dirname(sys.executable), "course-grade"), AID, *paths, "-j", "2",
           "--db", pg.url, "--course", str(course), "--work", str(work), "--json", str(out),
           "--markdown", str(md), "--cell-timeout", "60", "--timeout", "300"]
    assert pg.password not in " ".join(cmd)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=2400)
    return {"proc": proc, "expected": expected, "json": out.read_text() if out.exists() else "",
            "markdown": md.read_text() if md.exists() else "", "work": work, "base": base, "env": env,
            "gradebook": _snapshot(pg)}


def _snapshot(pg):
    """What the gradebook holds right now: row counts, and per student its submissions of
    a1 and, for each, the autograded score, its maximum and the names of its code grades."""
    from nbgrader.api import Grade, Gradebook, SubmittedAssignment, SubmittedNotebook

    with _password_env(pg), Gradebook(pg.url) as gb:
        snap = {"counts": {"submissions": gb.db.query(SubmittedAssignment).count(),
                           "notebooks": gb.db.query(SubmittedNotebook).count(),
                           "grades": gb.db.query(Grade).count()},
                "students": {}}
        for student in gb.students:
            rows = []
            for sub in student.submissions:
                codes = sorted(g.name for nb in sub.notebooks for g in nb.grades if g.cell_type == "code")
                rows.append({"assignment": sub.assignment.name, "code_score": sub.code_score,
                             "max_code_score": sub.max_code_score, "code_grades": codes})
            snap["students"][student.id] = rows
    return snap


def test_plain_postgresql_url_uses_psycopg3(pg):
    """With SQLAlchemy 2.x a driverless postgresql:// URL means psycopg (v3) is needed."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(pg.url)
    try:
        assert engine.dialect.driver == "psycopg"
        assert engine.url.password is None
    finally:
        engine.dispose()


def test_the_command_succeeds(graded):
    proc = graded["proc"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_json_has_every_expected_score(graded):
    results = {r["student"]: r for r in json.loads(graded["json"])["results"]}
    assert sorted(results) == sorted(graded["expected"])
    failed = {s: r["errors"] for s, r in results.items() if r["status"] != "graded"}
    assert not failed, failed
    wrong = {s: (r["score"], graded["expected"][s]) for s, r in results.items()
             if r["score"] != graded["expected"][s] or r["max_score"] != FULL}
    assert not wrong, f"(got, expected): {wrong}"


def test_every_grade_landed_exactly_once(graded):
    results = {r["student"]: r for r in json.loads(graded["json"])["results"]}
    snap = graded["gradebook"]
    assert sorted(snap["students"]) == sorted(graded["expected"])
    graded_cells = len(POINTS) + 1                          # the tests and the written answer
    assert snap["counts"] == {"submissions": N_SUBMISSIONS, "notebooks": N_SUBMISSIONS,
                              "grades": N_SUBMISSIONS * graded_cells}
    wrong = {}
    for student, score in graded["expected"].items():
        subs = snap["students"][student]
        assert len(subs) == 1 and subs[0]["assignment"] == AID, (student, subs)
        assert subs[0]["code_grades"] == sorted(POINTS) and subs[0]["max_code_score"] == FULL, student
        if not subs[0]["code_score"] == score == results[student]["score"]:
            wrong[student] = (subs[0]["code_score"], results[student]["score"], score)
    assert not wrong, f"(gradebook, JSON, expected): {wrong}"


def test_the_kernel_could_neither_see_the_password_nor_reach_the_gradebook(pg, graded):
    with _password_env(pg), contextlib.closing(__import__("psycopg").connect(
            host="127.0.0.1", port=pg.port, user=pg.role, dbname=pg.database)) as conn:
        row = conn.execute("SELECT to_regclass(%s)", (PROBE_TABLE,)).fetchone()
    assert row[0] is None, "a submission's kernel wrote to the gradebook"
    probes = sorted(Path(graded["work"], "students").glob(f"*probing*/autograded/*/{AID}/{NB}"))
    assert probes, "the probing submissions were not autograded"
    for path in probes:
        nb = nbformat.read(path, as_version=4)
        cell = next(c for c in nb.cells if PROBE_TABLE in c.source)
        shown = "".join(o.get("text", "") for o in cell.get("outputs", []))
        assert "no access to the gradebook" in shown, (path, cell.get("outputs"))
        assert "the gradebook was reachable" not in shown and pg.password not in shown, shown


def test_the_password_is_nowhere(pg, graded):
    proc, secret = graded["proc"], pg.password
    assert graded["json"] and graded["markdown"]
    for name, text in [("stdout", proc.stdout), ("stderr", proc.stderr), ("JSON", graded["json"]),
                       ("Markdown", graded["markdown"])]:
        assert secret not in text, f"the password appears in the {name}"
    leaked = [str(p) for p in Path(graded["work"]).rglob("*")
              if p.is_file() and secret.encode() in p.read_bytes()]
    assert not leaked, f"the password was written to {leaked}"


def test_regrading_replaces_the_grades_in_a_shared_gradebook(pg, graded):
    """A gradebook on a server outlives one run: grading a student again (a resubmission)
    must replace that student's grades, whatever the first run decided, and touch no one
    else's. Here the student who called the reference resubmits a correct notebook, and a
    student with a correct notebook resubmits an untouched one."""
    kinds = {kind: (build, score) for kind, build, score in _kinds(pg)}
    resub = {"s13-forward-calls-reference": "correct", "s00-correct": "untouched"}
    assert set(resub) <= set(graded["expected"])
    folder = graded["base"] / "resubmitted"
    folder.mkdir()
    paths = []
    for student, kind in resub.items():
        (folder / f"{student}.ipynb").write_text(json.dumps(kinds[kind][0]()))
        paths.append(str(folder / f"{student}.ipynb"))
    out = graded["base"] / "regraded.json"
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "course-grade"), AID, *paths, "-j", "2",
                           "--db", pg.url, "--course", str(graded["base"] / "course"),
                           "--work", str(graded["base"] / "work-regrade"), "--json", str(out),
                           "--cell-timeout", "60", "--timeout", "300"],
                          env=graded["env"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert pg.password not in proc.stdout + proc.stderr + out.read_text()
    expected = dict(graded["expected"], **{s: kinds[k][1] for s, k in resub.items()})
    got_json = {r["student"]: r["score"] for r in json.loads(out.read_text())["results"]}
    snap = _snapshot(pg)
    assert snap["counts"]["submissions"] == N_SUBMISSIONS and sorted(snap["students"]) == sorted(expected)
    got = {s: [r["code_score"] for r in rows] for s, rows in snap["students"].items()}
    assert {s: got_json[s] for s in resub} == {s: expected[s] for s in resub}, "the JSON of the second run"
    assert got == {s: [v] for s, v in expected.items()}, "the gradebook after the second run"
