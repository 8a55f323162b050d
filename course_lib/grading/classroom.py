"""Grading in CI, GitHub Classroom style: advice in the student's repository, grades in the
instructor's.

    course-check NOTEBOOK [NOTEBOOK ...] [--markdown FILE] [--timeout SECONDS]
    course-grade-class ASSIGNMENT --class-list FILE --deadline ISO-8601 [--notebook PATH]
                       [--at-ref FILE] [-j N] [--out DIR] [--db URL] [--course DIR] [--work DIR]

`course-check` runs in a student's own repository (classroom/.github/workflows/check.yml),
with nothing but public things: the student's notebook and the course's public code. It runs
the notebook as nbgrader's Validate button does, with the visible tests the student already
has, and writes what each test says to the job's summary. It is advice, never a grade: the
student controls that workflow and everything it writes.

`course-grade-class` runs where the students have no say: in the instructor's private course
repository (classroom/instructor/.github/workflows/grade-class.yml), or on the instructor's
machine. For each student of the class list it

1. clones the student's repository (bare: nothing of it is checked out or run by git), with the
   read token in COURSE_GIT_TOKEN if set, sent as an HTTP header and never on a command line;
2. takes the commit that counts (below) and exports the assignment's notebooks at it;
3. drops the token from its environment, then grades every exported submission with
   course-grade's machinery (course_lib.grading.grader.grade: -j workers, the split between
   grading kernel and answer process, the sandbox, the originality check);
4. writes, under --out: `summary.json` and `summary.md` (each student's commit, its committer
   date, when it was fetched, scores per part) and `feedback/<student>/`: nbgrader's feedback
   pages (hidden tests and tracebacks removed by the course's configuration) and `grade.md`,
   that student's part of the summary.

Which commit counts. Without --at-ref: the last commit, following first parents from the head
of the repository's default branch *as fetched*, whose committer date is at or before the
deadline. A committer date is written by the student's own git and can be forged (`git commit`
with GIT_COMMITTER_DATE set), so a late commit can pass for an early one if it is pushed
before the fetch. What bounds that is the fetch time: nothing pushed after the fetch is
seen, so a run just after the deadline (the instructor workflow's schedule) leaves a backdated
commit only the minutes in between, and summary.json records the commit of each student and
when it was fetched. That record, passed back as --at-ref to a later regrade,
pins the same commits whatever the students push or rewrite afterwards. --at-ref also takes a
CSV (`student,commit`) built from a trusted source, such as the push times that GitHub
records for a repository (its activity API).

A student whose repository has no commit at or before the deadline, or no notebook at the
commit that counts, gets 0 with the reason; a repository that cannot be cloned is reported as
a failure (exit status 1), so that a typo in the class list is not mistaken for a missing
submission.

Exit status: 0 when every student got a grade or a reason for none; 1 when grading or a clone
failed for some student; 2 for a usage error (a bad class list, deadline or record).
"""

import argparse
import ast
import base64
import csv
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import nbformat

from course_lib.course import course_root
from course_lib.grading.grader import _default_root, _parts_of, absolute_db_url, grade
from course_lib.grading.results import markdown_summary
from course_lib.grading.submission import grade_id

TOKEN_VARIABLE = "COURSE_GIT_TOKEN"
STUDENT_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")   # what course-grade keeps as it is
STUDENT_COLUMNS = ("student", "github_username")            # the second: GitHub Classroom's export
REPOSITORY_COLUMNS = ("repository", "student_repository_url")
GIT_TIMEOUT = 300

ADVICE = ("These checks are **advice, not a grade**. They run the visible tests you already have, "
          "as the Validate button does, in a workflow that lives in your own repository. Your grade "
          "comes from the instructor's grading of the last commit you push before the deadline, which "
          "also runs hidden tests on other cases: passing here does not promise full marks.")


# ----------------------------------------------------------------------------- student side

def _is_placeholder(source):
    """Whether a cell holds no code to run (comments and a docstring only): in a student's
    notebook, a cell of hidden tests, which nbgrader emptied when it made the student version."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    return all(isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) for s in body)


def _message(cell):
    """What a test cell said when it failed: its exception, else what it wrote to stderr."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return f"{out.get('ename')}: {out.get('evalue')}"
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            return "wrote to stderr: " + out.get("text", "").strip()[:500]
    return ""


def check_notebook(path, timeout=300):
    """Run a notebook as nbgrader's Validate does, and read each test cell's verdict.

    The notebook runs top to bottom in a fresh kernel in its own folder, with NBGRADER_EXECUTION
    set and the course's demonstration-cell extension loaded (a "Try it" cell is skipped, as
    when graded).

    Args:
        path: the notebook file.
        timeout: seconds allowed per cell.
    Returns:
        one dict per test cell, in order: cell (grade id), part (the heading above it),
        points, result ("passed", "failed", "hidden": a cell of hidden tests that run only
        when graded), message (what a failed test said), edited (the student changed the cell;
        the grader runs the original).
    """
    from nbgrader import utils
    from nbgrader.preprocessors import ClearOutput, Execute
    from traitlets.config import Config

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    edited = {grade_id(c) for c in nb.cells
              if utils.is_locked(c) and c.metadata.nbgrader.get("checksum") not in (None, utils.compute_checksum(c))}
    config = Config()
    config.Execute.timeout = timeout
    config.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR",
                                      "--InteractiveShellApp.extensions=['course_lib.grading.demo_cells']"]
    resources = {"metadata": {"path": str(path.parent.resolve())}}
    with utils.setenv(NBGRADER_VALIDATING="1", NBGRADER_EXECUTION="validate"):
        for step in (ClearOutput, Execute):
            nb, resources = step(config=config).preprocess(nb, resources)
    parts, rows = _parts_of(nb), []
    for cell in nb.cells:
        if not (utils.is_grade(cell) and cell.cell_type == "code" and not utils.is_solution(cell)):
            continue
        score, points = utils.determine_grade(cell)
        if _is_placeholder(cell.source):
            result = "hidden"
        else:
            result = "passed" if score == points else "failed"
        rows.append({"cell": grade_id(cell), "part": parts.get(grade_id(cell), ""), "points": points,
                     "result": result, "message": _message(cell) if result == "failed" else "",
                     "edited": grade_id(cell) in edited})
    return rows


def _cell_text(text, n=400):
    return text.replace("|", "\\|").replace("\n", " ")[:n]


def check_markdown(checked):
    """The job summary of course-check: {notebook name: rows of check_notebook, or an error}."""
    lines = ["## Checks of your notebook: advice, not a grade", "", ADVICE]
    for name, rows in checked.items():
        lines += ["", f"### {name}", ""]
        if isinstance(rows, str):
            lines.append(f"The notebook could not be checked: {_cell_text(rows, 1000)}")
            continue
        visible = [r for r in rows if r["result"] != "hidden"]
        passed = sum(r["result"] == "passed" for r in visible)
        lines += [f"{passed} of {len(visible)} visible tests pass.", "",
                  "| part | test | result | what it says |", "|---|---|---|---|"]
        for r in rows:
            result = {"passed": "passed", "failed": "**failed**",
                      "hidden": "hidden tests: run only when graded"}[r["result"]]
            note = _cell_text(r["message"])
            if r["edited"]:
                note = ("you edited this test cell; grading runs the original. " + note).strip()
            lines.append(f"| {_cell_text(r['part'], 80)} | `{r['cell']}` | {result} | {note} |")
    return "\n".join(lines) + "\n"


def check_main(argv=None):
    parser = argparse.ArgumentParser(
        prog="course-check",
        description="Run the visible tests of assignment notebooks, as nbgrader's Validate does, and "
                    "say what each one says. Advice for students, never a grade. Exit status 0 when "
                    "every visible test passes, 1 otherwise.")
    parser.add_argument("notebooks", nargs="+", help="the notebooks to check")
    parser.add_argument("--markdown", help="also write the summary to this file "
                                           "(it is appended to $GITHUB_STEP_SUMMARY when that is set)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds allowed per cell (default 300)")
    args = parser.parse_args(argv)
    checked, ok = {}, True
    for name in args.notebooks:
        try:
            rows = check_notebook(name, timeout=args.timeout)
        except Exception as err:                 # a missing or broken notebook: say so, go on
            rows = f"{type(err).__name__}: {err}"
        checked[name] = rows
        if isinstance(rows, str):
            ok = False
            print(f"{name}: could not be checked: {rows}")
            continue
        for r in rows:
            ok &= r["result"] != "failed"
            print(f"{name}: {r['cell']:<28} {r['result']:<7} {r['message'][:200]}")
    md = check_markdown(checked)
    _write_markdown(md, args.markdown)
    return 0 if ok else 1


def _write_markdown(md, path=None):
    if path:
        Path(path).write_text(md, encoding="utf-8")
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
            f.write(md)


# ----------------------------------------------------------------------------- instructor side: input

@dataclass(frozen=True)
class Student:
    id: str
    repository: str


def _pick(row, names, where):
    for name in names:
        if str(row.get(name) or "").strip():
            return str(row[name]).strip()
    raise ValueError(f"{where} has no {' or '.join(repr(n) for n in names)}")


def read_class_list(path):
    """The students of a class list: CSV with a header row, JSON or TOML.

    CSV: the columns `student` and `repository` (or GitHub Classroom's `github_username` and
    `student_repository_url`); others are ignored. JSON: a list of {"student", "repository"}
    objects, or {"students": [...]}. TOML: `[[students]]` tables with the same keys. A
    repository is a URL or a local path of a git repository.

    Returns:
        [Student(id, repository)], in the order of the file.
    Raises:
        ValueError: a missing column, an empty or repeated id, an id with other characters
        than letters, digits, '-' and '_'.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no class list at {path}")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        columns = [c.strip() for c in reader.fieldnames or []]
        for names in (STUDENT_COLUMNS, REPOSITORY_COLUMNS):
            if not set(names) & set(columns):
                raise ValueError(f"{path} must have a column {' or '.join(repr(n) for n in names)}; "
                                 f"its header has {columns}")
        rows = [({k.strip(): v for k, v in row.items() if k}, f"{path} row {i}")
                for i, row in enumerate(reader, start=2) if any((v or "").strip() for v in row.values() if v)]
    elif path.suffix.lower() in (".json", ".toml"):
        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as err:
            raise ValueError(f"{path} is not valid {path.suffix[1:].upper()}: {err}") from None
        if isinstance(data, dict):
            data = data.get("students")
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ValueError(f"{path} must hold a list of students, each with 'student' and 'repository' "
                             "(JSON: a list or {\"students\": [...]}; TOML: [[students]] tables)")
        rows = [(r, f"{path} entry {i}") for i, r in enumerate(data, start=1)]
    else:
        raise ValueError(f"a class list is a .csv, .json or .toml file, got {path.name}")
    students, seen = [], set()
    for row, where in rows:
        sid, repo = _pick(row, STUDENT_COLUMNS, where), _pick(row, REPOSITORY_COLUMNS, where)
        if not STUDENT_ID.match(sid):
            raise ValueError(f"{where}: student id {sid!r} may hold only letters, digits, '-' and '_'")
        if sid in seen:
            raise ValueError(f"{where}: student {sid!r} is listed twice")
        seen.add(sid)
        students.append(Student(sid, repo))
    if not students:
        raise ValueError(f"{path} lists no student")
    return students


def parse_deadline(text):
    """An ISO 8601 date and time with a time zone (2026-03-14T23:59:00+01:00, or Z for UTC)."""
    try:
        deadline = dt.datetime.fromisoformat(str(text).strip())
    except ValueError:
        deadline = None
    if deadline is None or deadline.tzinfo is None:
        raise ValueError(f"the deadline must be an ISO 8601 date and time with a time zone, "
                         f"e.g. 2026-03-14T23:59:00+01:00 or 2026-03-14T22:59:00Z; got {text!r}")
    return deadline


def read_recorded_commits(path):
    """{student: commit SHA or None} from the summary.json of an earlier run (None: no commit
    counted then) or from a CSV with the columns `student` and `commit`."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no record of commits at {path}")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            pairs = [(s["student"], s.get("commit")) for s in data["students"]]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{path} is not a summary.json of course-grade-class ({err})") from None
    else:
        reader = csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines())
        if not {"student", "commit"} <= set(reader.fieldnames or []):
            raise ValueError(f"{path} must have the columns 'student' and 'commit'; its header has {reader.fieldnames}")
        pairs = [(r["student"].strip(), (r["commit"] or "").strip() or None) for r in reader]
    bad = [c for _, c in pairs if c and not re.fullmatch(r"[0-9a-f]{7,64}", c)]
    if bad:
        raise ValueError(f"{path}: {bad[0]!r} is not a commit SHA")
    return dict(pairs)


# ----------------------------------------------------------------------------- instructor side: git

class NoSubmission(Exception):
    """The student gets 0 for this reason."""


def git_environment(repository, token=None):
    """The environment of the git commands for one repository: never a prompt for a password,
    and with a token, an HTTP authorization header for the repository's host only, passed in
    the environment (GIT_CONFIG_*), never on a command line or in a file."""
    env = {k: v for k, v in os.environ.items() if k != TOKEN_VARIABLE and not k.startswith("GIT_CONFIG_")}
    env.update(GIT_TERMINAL_PROMPT="0", GCM_INTERACTIVE="never", LC_ALL="C")
    url = urlsplit(repository)
    if token and url.scheme in ("http", "https") and url.hostname:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0=f"http.{url.scheme}://{url.netloc}/.extraheader",
                   GIT_CONFIG_VALUE_0=f"AUTHORIZATION: basic {basic}")
    return env


def _git(git_dir, *args, env=None, check=True):
    proc = subprocess.run(["git", f"--git-dir={git_dir}", *args], env=env or git_environment(""),
                          capture_output=True, timeout=GIT_TIMEOUT)
    if check and proc.returncode:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace').strip()[-500:]}")
    return proc


def clone(repository, dest, token=None):
    """A bare clone of every branch of `repository` into dest (replaced if it exists)."""
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    try:
        proc = subprocess.run(["git", "clone", "--bare", "--quiet", "--no-tags", "--", repository, str(dest)],
                              env=git_environment(repository, token), capture_output=True, timeout=GIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"could not clone {repository}: no answer in {GIT_TIMEOUT} s") from None
    if proc.returncode:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"could not clone {repository}: {' '.join(err[-2:]) or f'git exited {proc.returncode}'}")


def select_commit(git_dir, deadline, recorded=None, repository="", token=None):
    """The commit that counts (see the module docstring).

    Args:
        git_dir: a bare clone.
        deadline: an aware datetime.
        recorded: a commit SHA from a trusted record, taken as it is; None to choose by date.
    Returns:
        (sha, committer date as ISO 8601, how it was chosen).
    Raises:
        NoSubmission: no commit on the default branch at or before the deadline.
        RuntimeError: the recorded commit is not in the repository.
    """
    if recorded:
        found = _git(git_dir, "rev-parse", "--verify", "-q", f"{recorded}^{{commit}}", check=False)
        if found.returncode:      # not on a branch any more: ask the server for it by name
            _git(git_dir, "fetch", "-q", repository or "origin", recorded,
                 env=git_environment(repository, token), check=False)
            found = _git(git_dir, "rev-parse", "--verify", "-q", f"{recorded}^{{commit}}", check=False)
        if found.returncode:
            raise RuntimeError(f"the recorded commit {recorded} is not in the repository")
        sha = found.stdout.decode().strip()
        when = _git(git_dir, "show", "-s", "--format=%cI", sha).stdout.decode().strip()
        return sha, when, "recorded"
    if _git(git_dir, "rev-parse", "--verify", "-q", "HEAD^{commit}", check=False).returncode:
        raise NoSubmission("the repository has no commit")
    branch = _git(git_dir, "symbolic-ref", "--short", "-q", "HEAD", check=False).stdout.decode().strip() or "HEAD"
    log = _git(git_dir, "log", "--first-parent", "--format=%H %ct %cI", "HEAD").stdout.decode().split("\n")
    limit = deadline.timestamp()
    commits = [line.split(" ") for line in log if line.strip()]
    for sha, seconds, iso in commits:
        if int(seconds) <= limit:
            return sha, iso, "deadline"
    raise NoSubmission(f"no commit on {branch} at or before the deadline (the earliest, "
                       f"{commits[-1][0][:7]}, is dated {commits[-1][2]})")


def export_notebooks(git_dir, sha, names, dest, notebook=None):
    """Write the assignment's notebooks, as they are at commit `sha`, into dest/.

    Args:
        names: the assignment's notebook file names.
        notebook: where they are in the repository: a .ipynb path (an assignment of one notebook)
            or a folder holding them under their own names; default the top folder.
    Raises:
        NoSubmission: none of them is there.
    """
    if notebook and notebook.endswith(".ipynb"):
        if len(names) != 1:
            raise ValueError(f"--notebook names one file, but the assignment has {len(names)} notebooks {names}; "
                             "give the folder that holds them")
        where = {names[0]: notebook.strip("/")}
    else:
        folder = (notebook or "").strip("/")
        where = {n: f"{folder}/{n}" if folder else n for n in names}
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    found = 0
    for name, inside in where.items():
        blob = _git(git_dir, "show", f"{sha}:{inside}", check=False)
        if blob.returncode == 0:
            (dest / name).write_bytes(blob.stdout)
            found += 1
    if not found:
        files = _git(git_dir, "ls-tree", "-r", "--name-only", sha).stdout.decode().split("\n")
        there = [f for f in files if f.endswith(".ipynb")][:5]
        raise NoSubmission(f"no {' or '.join(where.values())} at commit {sha[:7]}"
                           + (f" (its notebooks: {', '.join(there)})" if there else " (it holds no notebook)"))
    return dest


# ----------------------------------------------------------------------------- instructor side: grading

def _now():
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _assignment(root, aid):
    """(notebook names, autograded points, points graded by hand) of an assignment's sources."""
    src = Path(root) / "solutions" / aid
    if not src.is_dir():
        known = sorted(p.name for p in (Path(root) / "solutions").iterdir() if p.is_dir())
        raise ValueError(f"unknown assignment {aid!r}; {Path(root) / 'solutions'} holds {known}")
    names, auto, manual = sorted(p.name for p in src.glob("*.ipynb")), 0.0, 0.0
    for name in names:
        for cell in nbformat.read(src / name, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                if cell.cell_type == "code":
                    auto += float(meta.get("points", 0))
                else:
                    manual += float(meta.get("points", 0))
    return names, auto, manual


def _collect_one(student, deadline, recorded, names, notebook, work, token):
    """Clone, choose the commit, export: the record of one student before grading."""
    rec = {"student": student.id, "repository": student.repository, "status": "graded", "reason": "",
           "commit": None, "committed_at": None, "selected_by": None, "fetched_at": None,
           "score": 0.0, "max_score": 0.0, "manual_points": 0.0, "parts": [], "repairs": [], "errors": [],
           "feedback": []}
    git_dir = work / "repositories" / f"{student.id}.git"
    try:
        clone(student.repository, git_dir, token)
        rec["fetched_at"] = _now().isoformat()
        if recorded is not None and recorded.get(student.id) is None:
            raise NoSubmission("no commit counted in the record of the deadline")
        sha, when, how = select_commit(git_dir, deadline, recorded and recorded[student.id],
                                       student.repository, token)
        rec.update(commit=sha, committed_at=when, selected_by=how)
        dest = export_notebooks(git_dir, sha, names, work / "submissions" / student.id, notebook)
        (dest / "timestamp.txt").write_text(when)          # nbgrader's submission time: the commit's
        rec["path"] = str(dest)
    except NoSubmission as why:
        rec.update(status="no submission", reason=str(why))
    except (RuntimeError, OSError, subprocess.SubprocessError) as err:
        rec.update(status="failed", reason=str(err))
        rec["errors"].append(str(err))
    return rec


def grade_class(aid, students, deadline, out, *, notebook=None, recorded=None, jobs=1, db_url=None,
                course=None, work=None, timeout=900, token=None, progress=True):
    """Grade a class at a deadline (see the module docstring); returns the summary dict, also
    written to out/summary.json, with out/summary.md and out/feedback/<student>/."""
    root = course_root(course) if course else _default_root()
    names, auto, manual = _assignment(root, aid)
    if recorded is not None:
        missing = [s.id for s in students if s.id not in recorded]
        if missing:
            raise ValueError(f"the record of commits has no entry for {', '.join(missing)}")
    out = Path(out).resolve()
    work = Path(work or tempfile.mkdtemp(prefix=f"course-grade-class-{aid}-")).resolve()
    for folder in (out, work):
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)                 # no student process reads another's answers
    with ThreadPoolExecutor(min(max(jobs, 4), 16)) as pool:          # clones wait on the network
        records = list(pool.map(lambda s: _collect_one(s, deadline, recorded, names, notebook, work, token),
                                students))
    os.environ.pop(TOKEN_VARIABLE, None)        # grading starts without it (its processes inherit os.environ)
    todo = [r for r in records if r["status"] == "graded"]
    feedback = out / "feedback"
    if todo:
        results = grade(aid, [r["path"] for r in todo], jobs=jobs, db_url=db_url, course=root,
                        work=work / "grading", timeout=timeout, feedback_dir=feedback, progress=progress)
        for rec, res in zip(todo, results):
            if res["student"] != rec["student"]:
                raise RuntimeError(f"course-grade graded {res['student']!r} for {rec['student']!r}")
            rec.update({k: res[k] for k in ("status", "score", "max_score", "manual_points", "parts",
                                             "repairs", "errors")})
            rec["feedback"] = [Path(p).name for p in res.get("feedback", [])]
            if res["status"] != "graded":
                rec["reason"] = "grading failed: " + "; ".join(res["errors"])[:500]
    for rec in records:
        rec.pop("path", None)
        if rec["status"] != "graded":
            rec.update(max_score=rec["max_score"] or auto, manual_points=rec["manual_points"] or manual)
        folder = feedback / rec["student"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "grade.md").write_text(student_markdown(aid, rec), encoding="utf-8")
        rec["feedback"].append("grade.md")
    summary = {"assignment": aid, "deadline": deadline.isoformat(), "notebook": notebook,
               "graded_at": _now().isoformat(), "students": records}
    (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    (out / "summary.md").write_text(class_markdown(summary), encoding="utf-8")
    return summary


def _short_part(title):
    return title.split(" — ")[0].split(":")[0].strip() or title


def _commit_line(rec):
    if not rec["commit"]:
        return "no commit"
    how = {"deadline": "the last commit dated at or before the deadline",
           "recorded": "the commit recorded at the deadline"}[rec["selected_by"]]
    return f"`{rec['commit'][:10]}` of {rec['committed_at']} ({how})"


def class_markdown(summary):
    """The class table: commit, score per part and total of each student."""
    recs = summary["students"]
    parts = list(dict.fromkeys(p["part"] for r in recs for p in r["parts"] if p["kind"] == "autograded"))
    head = ["student", "commit", "committed", *[_short_part(p) for p in parts], "total", "status"]
    lines = [f"## {summary['assignment']}: the class at the deadline {summary['deadline']}", "",
             f"Graded {summary['graded_at']}. Each student's commit is the last on the default branch "
             "dated at or before the deadline, as fetched at the time in summary.json (committer dates "
             "are written by the student's git; the fetch time bounds what a forged date can gain), "
             "unless a record of the deadline pinned it.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in recs:
        per_part = []
        for part in parts:
            rows = [p for p in r["parts"] if p["part"] == part and p["kind"] == "autograded"]
            per_part.append(f"{sum(p['score'] for p in rows):g}/{sum(p['max_score'] for p in rows):g}"
                            if rows else "-")
        status = r["status"] + (f": {_cell_text(r['reason'], 200)}" if r["reason"] else "")
        lines.append("| " + " | ".join([r["student"], f"`{r['commit'][:7]}`" if r["commit"] else "-",
                                        r["committed_at"] or "-", *per_part,
                                        f"{r['score']:g} / {r['max_score']:g}", status]) + " |")
    early = [r["student"] for r in recs if r["fetched_at"] and r["selected_by"] == "deadline"
             and dt.datetime.fromisoformat(r["fetched_at"]) < dt.datetime.fromisoformat(summary["deadline"])]
    if early:
        lines += ["", f"- note: fetched before the deadline, so later commits may still come: {', '.join(early)}"]
    manual = max((r["manual_points"] for r in recs), default=0)
    if manual:
        lines += ["", f"- {manual:g} more points are graded by hand (Formgrader, with --db)."]
    return "\n".join(lines) + "\n"


def student_markdown(aid, rec):
    """One student's grade: the commit graded, the score per part, what each failed test said."""
    lines = [f"# {aid}: your grade", "", f"- repository: {rec['repository']}",
             f"- graded commit: {_commit_line(rec)}"]
    if rec["status"] != "graded":
        lines += [f"- score: {rec['score']:g} / {rec['max_score']:g} ({rec['status']}: {rec['reason']})"]
        return "\n".join(lines) + "\n"
    return "\n".join(lines) + "\n\n" + markdown_summary(aid, [rec])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="course-grade-class", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment", help="assignment id, e.g. a1_markov_hmm")
    parser.add_argument("--class-list", required=True,
                        help="CSV (columns student, repository), JSON or TOML list of the students")
    parser.add_argument("--deadline", required=True, help="ISO 8601 with a time zone, e.g. 2026-03-14T23:59:00+01:00")
    parser.add_argument("--notebook", help="where the notebook is in each repository: a .ipynb path, or a "
                                           "folder holding the assignment's notebooks (default: the top folder)")
    parser.add_argument("--at-ref", help="take each student's commit from this record instead of by date: "
                                         "the summary.json of an earlier run, or a CSV with columns student, commit")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    parser.add_argument("--out", help="folder of summary.json, summary.md and feedback/ (default: class-ASSIGNMENT)")
    parser.add_argument("--db", help="gradebook URL, as for course-grade: with it the graded submissions are also left "
                                     "in the course for Formgrader (default: a new SQLite file in the work folder)")
    parser.add_argument("--course", help="the course folder (default: found from here)")
    parser.add_argument("--work", help="keep the clones and grading folders here (default: a temporary folder)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per submission")
    args = parser.parse_args(argv)
    token = os.environ.pop(TOKEN_VARIABLE, None) or None      # the clones alone see it
    if args.jobs < 1:
        parser.error("-j must be at least 1")
    try:
        students = read_class_list(args.class_list)
        deadline = parse_deadline(args.deadline)
        recorded = read_recorded_commits(args.at_ref) if args.at_ref else None
        summary = grade_class(args.assignment, students, deadline, args.out or f"class-{args.assignment}",
                              notebook=args.notebook, recorded=recorded, jobs=args.jobs,
                              db_url=absolute_db_url(args.db),
                              course=args.course, work=args.work, timeout=args.timeout, token=token)
    except (ValueError, FileNotFoundError) as err:
        print(f"course-grade-class: {err}", file=sys.stderr)
        return 2
    md = class_markdown(summary)
    print(md)
    _write_markdown(md)
    return 0 if all(r["status"] in ("graded", "no submission") for r in summary["students"]) else 1


if __name__ == "__main__":
    sys.exit(main())
