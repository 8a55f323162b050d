"""Grading in CI, GitHub Classroom style (course_lib.grading.classroom and classroom/).

The class: students' repositories built here with git, each commit dated with
GIT_COMMITTER_DATE. alice commits a correct a1 on time; bob commits a typical mistake on time
and the fix after the deadline; carol never commits; dave commits on time without a notebook;
erin commits only after the deadline; frank's repository does not exist. One run of
course-grade-class grades them all (two workers).

Oracles: the points each test cell must get come from the assignment's source (its points)
and tests/mutants_a1_markov_hmm.py (the cells a typical mistake must fail), as for
course-grade itself; the commit that counts is the one this file made on time; the lines a
student must never see are the solutions' hidden tests (test_grading_pipeline.secret_lines);
git itself reads back the configuration the clones are given; the workflows are read as YAML
and checked by actionlint and zizmor.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import grading_support as gs
import nbformat
import pytest
import yaml
from mutants_a1_markov_hmm import MUTANTS
from test_grading_pipeline import secret_lines

from course_lib.grading import classroom as C
from course_lib.grading.environment import temporarily

pytestmark = [pytest.mark.grading, pytest.mark.xdist_group("classroom")]

AID, NB = "a1_markov_hmm", "a1_markov_hmm.ipynb"
MISTAKE = "forward-transposed-A"
DEADLINE = "2026-03-14T23:59:00+01:00"
ON_TIME, LATE = "2026-03-14T20:00:00+01:00", "2026-03-15T09:30:00+01:00"
STUDENT_WORKFLOW = gs.REPO / "classroom" / ".github" / "workflows" / "check.yml"
INSTRUCTOR_WORKFLOW = gs.REPO / "classroom" / "instructor" / ".github" / "workflows" / "grade-class.yml"


# ----------------------------------------------------------------------------- students' repositories

def git(repo, *args, when=None):
    env = dict(os.environ, GIT_AUTHOR_NAME="Student", GIT_AUTHOR_EMAIL="student@example.org",
               GIT_COMMITTER_NAME="Student", GIT_COMMITTER_EMAIL="student@example.org")
    if when:
        env.update(GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when)
    out = subprocess.run(["git", "-C", str(repo), "-c", "commit.gpgsign=false", *args], env=env,
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def blob(repo, sha, path):
    return subprocess.run(["git", "-C", str(repo), "show", f"{sha}:{path}"], capture_output=True, check=True).stdout


def new_repo(path):
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    return path


def commit(repo, when, notebook=None, name=NB, note="work", notes="notes.md"):
    """Commit (the notebook, or a line of notes) dated `when`; returns the commit's SHA."""
    if notebook is not None:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, repo / name)
    else:
        with open(repo / notes, "a") as f:
            f.write(note + "\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", note, when=when)
    return git(repo, "rev-parse", "HEAD")


def correct():
    return gs.filled_submission(AID, NB)


def mistaken():
    return gs.filled_submission(AID, NB, MUTANTS[MISTAKE][0][NB])


def write_class_list(path, rows):
    path.write_text("student,repository\n" + "".join(f"{s},{r}\n" for s, r in rows))
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class of the module docstring, graded by one run of course-grade-class."""
    base = tmp_path_factory.mktemp("classroom")
    repos, shas = base / "repos", {}
    alice, bob, carol, dave, erin = (new_repo(repos / s) for s in ("alice", "bob", "carol", "dave", "erin"))
    shas["alice"] = commit(alice, ON_TIME, correct())
    shas["bob"] = commit(bob, ON_TIME, mistaken())
    shas["bob-late"] = commit(bob, LATE, correct(), note="the fix, after the deadline")
    commit(dave, ON_TIME, note="started, no notebook yet")
    commit(erin, LATE, correct())
    rows = [(s, repos / s) for s in ("alice", "bob", "carol", "dave", "erin")] + [("frank", repos / "frank")]
    class_list = write_class_list(base / "class.csv", rows)
    out, step_summary = base / "out", base / "step-summary.md"
    with temporarily(COURSE_GIT_TOKEN="not-a-real-token", GITHUB_STEP_SUMMARY=str(step_summary)):
        status = C.main([AID, "--class-list", str(class_list), "--deadline", DEADLINE, "-j", "2",
                         "--out", str(out), "--course", str(gs.REPO), "--work", str(base / "work")])
        token_after = os.environ.get(C.TOKEN_VARIABLE)
    summary = json.loads((out / "summary.json").read_text())
    return {"status": status, "out": out, "shas": shas, "summary": summary, "token_after": token_after,
            "by_student": {r["student"]: r for r in summary["students"]}, "step_summary": step_summary,
            "repos": repos}


def expected_points(lost=()):
    """{test cell: points it must earn}: full points from the source, 0 for the cells in `lost`."""
    source = nbformat.read(gs.REPO / "solutions" / AID / NB, as_version=4)
    points = {gs.grade_id(c): float(c.metadata.nbgrader["points"]) for c in source.cells
              if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}
    return {gid: 0.0 if gid in lost else p for gid, p in points.items()}


def scores(record):
    return {p["cell"]: p["score"] for p in record["parts"] if p["kind"] == "autograded"}


# ----------------------------------------------------------------------------- the class

def test_scores_are_those_of_the_on_time_commits(graded):
    """alice earns every point; bob loses exactly the cells his mistake fails: his correct
    commit came after the deadline and does not count."""
    alice, bob = graded["by_student"]["alice"], graded["by_student"]["bob"]
    assert alice["status"] == bob["status"] == "graded", (alice["errors"], bob["errors"])
    assert scores(alice) == expected_points()
    assert scores(bob) == expected_points(MUTANTS[MISTAKE][1])
    full = sum(expected_points().values())
    assert (alice["score"], alice["max_score"]) == (full, full)
    assert bob["score"] == sum(expected_points(MUTANTS[MISTAKE][1]).values()) < full


def test_summary_records_the_commit_that_counts(graded):
    by, shas = graded["by_student"], graded["shas"]
    assert by["alice"]["commit"] == shas["alice"]
    assert by["bob"]["commit"] == shas["bob"] != shas["bob-late"]
    for s in ("alice", "bob"):
        assert by[s]["committed_at"] == ON_TIME and by[s]["selected_by"] == "deadline"
        assert C.parse_deadline(by[s]["fetched_at"]) > C.parse_deadline(ON_TIME)
    md = (graded["out"] / "summary.md").read_text()
    assert f"`{shas['bob'][:7]}`" in md and shas["bob-late"][:7] not in md
    assert graded["summary"]["deadline"] == C.parse_deadline(DEADLINE).isoformat()
    assert [r["student"] for r in graded["summary"]["students"]] == ["alice", "bob", "carol", "dave", "erin", "frank"]


def test_no_submission_scores_zero_with_a_reason(graded):
    by, full = graded["by_student"], sum(expected_points().values())
    reasons = {"carol": "the repository has no commit",
               "dave": f"no {NB} at commit",
               "erin": "no commit on main at or before the deadline"}
    for student, reason in reasons.items():
        rec = by[student]
        assert rec["status"] == "no submission", rec
        assert reason in rec["reason"], rec["reason"]
        assert (rec["score"], rec["max_score"], rec["parts"]) == (0.0, full, [])
        assert reason in (graded["out"] / "feedback" / student / "grade.md").read_text()
    assert by["dave"]["commit"] and by["carol"]["commit"] is None and by["erin"]["commit"] is None


def test_an_unreachable_repository_is_a_failure_not_a_zero(graded):
    frank = graded["by_student"]["frank"]
    assert frank["status"] == "failed" and "could not clone" in frank["reason"]
    assert str(graded["repos"] / "frank") in frank["reason"]
    assert graded["status"] == 1, "a failed clone makes the exit status 1"


def test_feedback_shows_no_hidden_test(graded):
    _, hidden = secret_lines(AID, [NB])
    assert hidden
    feedback = graded["out"] / "feedback"
    pages = {s: feedback / s / "a1_markov_hmm.html" for s in ("alice", "bob")}
    assert all(p.exists() for p in pages.values()), sorted(str(p) for p in feedback.rglob("*"))
    assert not (feedback / "carol" / "a1_markov_hmm.html").exists()
    texts = {f"{s}.html": gs.text_of_html(p) for s, p in pages.items()}
    folders = [d for d in feedback.iterdir() if d.name != "mathjax"]     # mathjax/: the pages' offline MathJax
    assert {d.name for d in folders} == set(graded["by_student"]), folders     # each student has a grade.md
    texts |= {f"{d.name}/grade.md": (d / "grade.md").read_text() for d in folders}
    texts["summary.md"] = (graded["out"] / "summary.md").read_text()
    assert len(texts) == 2 + 6 + 1
    for name, text in texts.items():
        assert not gs.leaked_lines(hidden, text), f"{name} shows hidden tests"
    # bob's feedback says what his mistake broke, in the words written for students
    assert "GradingError" in texts["bob.html"] and "log_alpha" in texts["bob/grade.md"]


def test_the_token_is_gone_before_grading_and_the_job_summary_has_the_table(graded):
    assert graded["token_after"] is None
    table = graded["step_summary"].read_text()
    assert table == C.class_markdown(graded["summary"])
    assert "| alice |" in table and "no submission" in table


def test_course_check_runs_the_visible_tests(graded, tmp_path):
    """course-check on bob's two notebooks: the visible tests his mistake fails (and no other)
    fail; the cells of hidden tests, emptied in the student version, are marked hidden."""
    source = nbformat.read(gs.REPO / "solutions" / AID / NB, as_version=4)
    hidden = {gs.grade_id(c) for c in source.cells if gs.HIDDEN_MARKERS[0] in c.source}
    visible = set(expected_points()) - hidden
    bob = graded["repos"] / "bob"
    late_nb, on_time_nb = tmp_path / "late" / NB, tmp_path / "on-time" / NB
    for sha, path in ((graded["shas"]["bob-late"], late_nb), (graded["shas"]["bob"], on_time_nb)):
        path.parent.mkdir()
        path.write_bytes(blob(bob, sha, NB))
    rows = C.check_notebook(late_nb)
    assert {r["cell"] for r in rows} == visible | hidden
    assert {r["cell"] for r in rows if r["result"] == "hidden"} == hidden
    assert all(r["result"] == "passed" for r in rows if r["cell"] in visible), rows
    md = tmp_path / "check.md"
    assert C.check_main([str(on_time_nb), "--markdown", str(md)]) == 1
    text = md.read_text()
    assert "advice, not a grade" in text
    failed = [line for line in text.splitlines() if "**failed**" in line]
    assert {line.split("`")[1] for line in failed} == visible & MUTANTS[MISTAKE][1]
    assert "GradingError" in failed[0]


# ----------------------------------------------------------------------------- the commit that counts

@pytest.fixture
def history(tmp_path):
    """main: c1, c2 (on time), the merge at 23:59:00 exactly of a branch whose commit is dated
    between c2 and the deadline, c3 (late), and c4, dated before the deadline but committed
    last (a forged date)."""
    repo = new_repo(tmp_path / "student")
    shas = {"c1": commit(repo, "2026-03-14T10:00:00+01:00", note="c1")}
    git(repo, "checkout", "-q", "-b", "side")
    shas["side"] = commit(repo, "2026-03-14T15:00:00+01:00", note="side", notes="side.md")     # later than c2
    git(repo, "checkout", "-q", "main")
    shas["c2"] = commit(repo, "2026-03-14T12:00:00+01:00", note="c2")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge", "side", when=DEADLINE)
    shas["merge"] = git(repo, "rev-parse", "HEAD")
    shas["c3"] = commit(repo, "2026-03-15T08:00:00+01:00", note="c3")
    shas["c4"] = commit(repo, "2026-03-14T13:00:00+01:00", note="c4")
    bare = tmp_path / "clone.git"
    C.clone(str(repo), bare)
    return bare, shas


def test_select_commit_follows_first_parents_to_the_deadline(history):
    bare, shas = history
    # the forged c4 is at the head: its date is all git knows (the limitation the docs state)
    assert C.select_commit(bare, C.parse_deadline(DEADLINE))[0] == shas["c4"]
    one_second_later = C.parse_deadline("2026-03-14T23:59:01+01:00")
    git(bare, "update-ref", "refs/heads/main", shas["c3"])           # without the forged commit
    assert C.select_commit(bare, C.parse_deadline(DEADLINE))[:3] == (shas["merge"], DEADLINE, "deadline")
    assert C.select_commit(bare, one_second_later)[0] == shas["merge"]
    # one second before the merge: its first parent (c2), not the side branch's commit dated later
    assert C.select_commit(bare, C.parse_deadline("2026-03-14T23:58:59+01:00"))[0] == shas["c2"]
    with pytest.raises(C.NoSubmission, match="at or before the deadline"):
        C.select_commit(bare, C.parse_deadline("2026-03-14T09:00:00+01:00"))


def test_a_recorded_commit_is_taken_as_it_is(history):
    bare, shas = history
    sha, when, how = C.select_commit(bare, C.parse_deadline(DEADLINE), recorded=shas["c3"])
    assert (sha, how) == (shas["c3"], "recorded") and when == "2026-03-15T08:00:00+01:00"
    with pytest.raises(RuntimeError, match="not in the repository"):
        C.select_commit(bare, C.parse_deadline(DEADLINE), recorded="0" * 40)


def test_export_reads_the_notebook_at_the_commit(tmp_path):
    repo = new_repo(tmp_path / "student")
    first = commit(repo, ON_TIME, correct(), name=f"work/{NB}")
    commit(repo, LATE, mistaken(), name=f"work/{NB}")
    bare = tmp_path / "clone.git"
    C.clone(str(repo), bare)
    for where in ("work", f"work/{NB}", "/work/"):
        dest = C.export_notebooks(bare, first, [NB], tmp_path / "out", where)
        assert (dest / NB).read_bytes() == blob(repo, first, f"work/{NB}")
    with pytest.raises(C.NoSubmission, match=f"its notebooks: work/{NB}"):
        C.export_notebooks(bare, first, [NB], tmp_path / "out")
    with pytest.raises(ValueError, match="give the folder"):
        C.export_notebooks(bare, first, [NB, "other.ipynb"], tmp_path / "out", f"work/{NB}")


# ----------------------------------------------------------------------------- the command, without grading

@pytest.fixture
def fake_grading(monkeypatch):
    """course-grade-class with grade() replaced by a record of what it was given."""
    calls = []

    def fake_grade(aid, paths, **kwargs):
        calls.append({"paths": [Path(p) for p in paths], "token": os.environ.get(C.TOKEN_VARIABLE), **kwargs})
        return [{"student": Path(p).name, "status": "graded", "score": 1.0, "max_score": 15.0,
                 "manual_points": 3.0, "parts": [], "repairs": [], "errors": [], "feedback": []} for p in paths]

    monkeypatch.setattr(C, "grade", fake_grade)
    return calls


def run(tmp_path, class_list, *extra):
    return C.main([AID, "--class-list", str(class_list), "--deadline", DEADLINE, "--out", str(tmp_path / "out"),
                   "--course", str(gs.REPO), "--work", str(tmp_path / "work"), *extra])


def test_the_token_reaches_git_only(tmp_path, fake_grading, monkeypatch):
    env = C.git_environment("https://github.com/course-org/a1-alice", "tok123")
    assert C.TOKEN_VARIABLE not in env and "tok123" not in "".join(env.values())
    got = subprocess.run(["git", "config", "--get", "http.https://github.com/.extraheader"], env=env,
                         capture_output=True, text=True).stdout.strip()
    assert got == "AUTHORIZATION: basic " + __import__("base64").b64encode(b"x-access-token:tok123").decode()
    assert "GIT_CONFIG_COUNT" not in C.git_environment("/some/local/path", "tok123")
    repo = new_repo(tmp_path / "alice")
    commit(repo, ON_TIME, correct())
    monkeypatch.setenv(C.TOKEN_VARIABLE, "tok123")
    assert run(tmp_path, write_class_list(tmp_path / "c.csv", [("alice", repo)])) == 0
    assert fake_grading[0]["token"] is None and os.environ.get(C.TOKEN_VARIABLE) is None


def test_a_regrade_from_the_record_grades_the_same_commits(tmp_path, fake_grading):
    repo = new_repo(tmp_path / "bob")
    on_time = commit(repo, ON_TIME, mistaken())
    class_list = write_class_list(tmp_path / "c.csv", [("bob", repo), ("carol", new_repo(tmp_path / "carol"))])
    assert run(tmp_path, class_list) == 0
    record = tmp_path / "record.json"
    (tmp_path / "out" / "summary.json").rename(record)
    commit(repo, "2026-03-14T21:00:00+01:00", correct(), note="pushed later with a forged date")
    assert run(tmp_path, class_list, "--at-ref", str(record)) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    bob, carol = summary["students"]
    assert (bob["commit"], bob["selected_by"]) == (on_time, "recorded")
    assert carol["status"] == "no submission" and "record" in carol["reason"]
    exported = fake_grading[-1]["paths"][0] / NB
    assert exported.read_bytes() == blob(repo, on_time, NB)


def test_class_lists_in_csv_json_toml_and_classroom_export(tmp_path):
    want = [C.Student("alice", "https://github.com/org/a1-alice"), C.Student("bob-2", "/srv/repos/bob")]
    (tmp_path / "a.csv").write_text("github_username,student_repository_url,points_awarded\n"
                                    "alice,https://github.com/org/a1-alice,\nbob-2,/srv/repos/bob,\n\n")
    (tmp_path / "b.json").write_text(json.dumps([{"student": s.id, "repository": s.repository} for s in want]))
    (tmp_path / "c.toml").write_text("".join(f'[[students]]\nstudent = "{s.id}"\nrepository = "{s.repository}"\n'
                                             for s in want))
    for name in ("a.csv", "b.json", "c.toml"):
        assert C.read_class_list(tmp_path / name) == want, name


@pytest.mark.parametrize("text, message", [
    ("name,repository\nalice,/r\n", "must have a column 'student' or 'github_username'; its header has ['name', 'repository']"),
    ("student,repo\nalice,/r\n", "must have a column 'repository' or 'student_repository_url'"),
    ("student,repository\nalice,/r\nalice,/s\n", "row 3: student 'alice' is listed twice"),
    ("student,repository\nalice@uni.edu,/r\n", "student id 'alice@uni.edu' may hold only letters"),
    ("student,repository\nalice,\n", "row 2 has no 'repository'"),
    ("student,repository\n", "lists no student"),
])
def test_a_bad_class_list_is_refused_with_what_is_wrong(tmp_path, capsys, text, message):
    bad = tmp_path / "class.csv"
    bad.write_text(text)
    assert run(tmp_path, bad) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("deadline", ["2026-03-14T23:59:00", "14/03/2026 23:59", "tomorrow", ""])
def test_a_deadline_without_time_zone_is_refused(tmp_path, capsys, deadline):
    class_list = write_class_list(tmp_path / "c.csv", [("alice", tmp_path)])
    status = C.main([AID, "--class-list", str(class_list), "--deadline", deadline, "--out", str(tmp_path / "o")])
    assert status == 2
    assert "ISO 8601 date and time with a time zone" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_record_must_name_every_student(tmp_path, capsys):
    class_list = write_class_list(tmp_path / "c.csv", [("alice", tmp_path), ("bob", tmp_path)])
    record = tmp_path / "record.csv"
    record.write_text("student,commit\nalice,0123abc\n")
    assert run(tmp_path, class_list, "--at-ref", str(record)) == 2
    assert "no entry for bob" in capsys.readouterr().err
    record.write_text("student,commit\nalice,main\nbob,\n")
    assert run(tmp_path, class_list, "--at-ref", str(record)) == 2
    assert "'main' is not a commit SHA" in capsys.readouterr().err


def test_entry_points_are_declared():
    import tomllib

    scripts = tomllib.loads((gs.REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["course-grade-class"] == "course_lib.grading.classroom:main"
    assert scripts["course-check"] == "course_lib.grading.classroom:check_main"


# ----------------------------------------------------------------------------- the workflows

def workflow(path):
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))          # YAML 1.1 reads the key `on` as True
    return data


def steps(data):
    return [step for job in data["jobs"].values() for step in job["steps"]]


def test_the_student_template_holds_only_the_check():
    assert sorted(p.name for p in STUDENT_WORKFLOW.parent.iterdir()) == ["check.yml"]


def test_the_student_workflow_holds_nothing_secret():
    text, data = STUDENT_WORKFLOW.read_text(), workflow(STUDENT_WORKFLOW)
    assert "secrets." not in text and "secrets[" not in text
    assert "token" not in text.lower().replace("no token", "")
    assert data["permissions"] == {"contents": "read"}
    assert all(job.get("permissions", {"contents": "read"}) == {"contents": "read"} for job in data["jobs"].values())
    assert set(data["on"]) <= {"push", "workflow_dispatch", "pull_request"}
    for step in steps(data):
        with_ = step.get("with", {})
        assert not {"repository", "token", "ssh-key"} & set(with_), step
        if step.get("uses", "").startswith("actions/checkout@"):
            assert with_.get("persist-credentials") is False
    runs = [step["run"] for step in steps(data) if "run" in step]
    assert any(r.startswith("course-check ") for r in runs)
    assert not any("git clone" in r or "curl" in r or "wget" in r for r in runs)


def test_the_instructor_workflow_keeps_the_token_to_its_one_command():
    data = workflow(INSTRUCTOR_WORKFLOW)
    assert {"workflow_dispatch", "schedule"} <= set(data["on"])
    assert {"assignment", "deadline"} <= set(data["on"]["workflow_dispatch"]["inputs"])
    assert data["permissions"] == {"contents": "read"}
    with_secret = [s for s in steps(data) if "secrets." in json.dumps(s)]
    assert len(with_secret) == 1 and with_secret[0]["run"].startswith("course-grade-class ")
    assert set(with_secret[0]["env"]) == {C.TOKEN_VARIABLE}
    assert "secrets." not in json.dumps({k: v for k, v in data.items() if k != "jobs"})
    for step in steps(data):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"].get("persist-credentials") is False and "repository" not in step["with"]


@pytest.mark.parametrize("path, command", [(STUDENT_WORKFLOW, "course-check"),
                                           (INSTRUCTOR_WORKFLOW, "course-grade-class")], ids=["check", "grade-class"])
def test_workflows_call_the_installed_commands_with_real_options(path, command):
    runs = [s["run"] for s in steps(workflow(path)) if "run" in s]
    call = next(r for r in runs if r.startswith(command + " "))
    helptext = subprocess.run([tool(command), "--help"], capture_output=True, text=True, check=True).stdout
    for flag in [w for w in call.split() if w.startswith("-")]:
        assert flag in helptext, f"{path.name} uses {flag}, which {command} does not have"
    install = next(r for r in runs if "pip install" in r)
    assert "-c constraints.txt" in install and "download.pytorch.org/whl/cpu" in install


def tool(name):
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{name} is missing: install the dev extra (pip install -c constraints.txt -e '.[dev]')"
    return str(path)


@pytest.mark.parametrize("path", [STUDENT_WORKFLOW, INSTRUCTOR_WORKFLOW], ids=["check", "grade-class"])
def test_workflows_pass_actionlint_and_zizmor(path):
    lint = subprocess.run([tool("actionlint"), "-no-color", str(path)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    audit = subprocess.run([tool("zizmor"), "--offline", "--no-progress", str(path)], capture_output=True, text=True)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "No findings" in audit.stdout
