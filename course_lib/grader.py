"""Grade submitted notebooks with nbgrader, safely, from one command.

    course-grade a1_markov_hmm alice.ipynb bob.ipynb [-j 2] [--db URL] [--json out.json]
                 [--markdown out.md] [--feedback DIR] [--course DIR] [--timeout SECONDS]

For each submission it
1. rebuilds the notebook around the student's answers: every locked and test cell comes
   from the assignment itself (edited, deleted, moved or re-labelled test cells do not
   count), copy-pasted cells lose their duplicate nbgrader identity, and the student's own
   extra cells stay where they were;
2. runs `nbgrader autograde` on it in a private folder, with the kernel started by
   `course_lib.sandbox_kernel` (as root: the unprivileged user `nobody`, no secrets in its
   environment, a wall-clock limit), against one shared gradebook (SQLite by default,
   PostgreSQL with --db);
3. if the kernel died, exited or hung, finds the cell that did it, stops that cell from
   running (it earns nothing) and grades the rest again;
4. writes a table per part, JSON, a Markdown summary and nbgrader's feedback (hidden tests
   and tracebacks removed by the course configuration).

Exit status: 0 when every submission was graded, whatever the scores; 1 when grading
itself failed for some submission; 2 for a usage error.
"""

import argparse
import atexit
import contextlib
import copy
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat

from course_lib.course import course_root
from course_lib.demo_cells import DEMO_MARKER, is_demo
from course_lib.demo_cells import KERNEL_ARGUMENT as DEMO_CELLS_ARGUMENT
from course_lib.kernel_server import kernel_argv
from course_lib.originality import defined_names
from course_lib.sandbox_kernel import SECRET, isolation_available, process_start_time

SANDBOX_KERNEL = "course-sandbox"
NEUTRALISED = ('raise RuntimeError("When graded, this cell stopped or hung the kernel, so it was not run '
               'and earns nothing.")')
BLOCK_PART = ("import course_lib.grading as _course_grading\n"
              "_course_grading.block_next_part({reason!r})")
UNBLOCK_PART = "import course_lib.grading as _course_grading\n_course_grading.block_next_part(None)"


# ----------------------------------------------------------------------------- cells

def _nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def _gid(cell):
    return _nbgrader(cell).get("grade_id")


def _is_answer(cell):
    meta = _nbgrader(cell)
    return bool(meta.get("solution")) and not meta.get("locked")


def _key(cell):
    """How a cell is recognised: its grade_id for nbgrader cells, else its cell id."""
    gid = _gid(cell)
    return ("grade", gid) if gid else ("id", cell.get("id"))


def canonicalize(submission, release):
    """Rebuild a submission around the student's answers.

    Every cell of the release (the student version) appears once, in release order. An
    answer cell takes the student's source (from the first cell carrying its grade_id), and
    so does an ordinary release cell (matched by cell id; nothing is graded there); every
    locked or test cell is taken from the release as it is. Cells the student added stay
    after the release cell they followed, as ordinary cells without nbgrader metadata.

    A demonstration cell of the release (course_lib.demo_cells) keeps its marker line, so it
    is skipped when graded even if the student deleted that line.

    Returns:
        (notebook, repairs): the rebuilt notebook and a list of what was repaired.
    """
    repairs = []
    release_keys = [_key(c) for c in release.cells]
    by_key = dict(zip(release_keys, release.cells))
    sources, extras, anchor, seen = {}, {None: []}, None, set()
    for cell in submission.cells:
        key = _key(cell)
        if key in by_key and key not in seen:
            seen.add(key)
            rel = by_key[key]
            if _is_answer(rel) or key[0] == "id":
                if cell.get("cell_type") != rel.cell_type:
                    repairs.append(f"cell {key[1]} had its type changed; its type was restored")
                sources[key] = cell.get("source", "")
                if key[0] == "grade" and (_nbgrader(cell).get("points") != _nbgrader(rel).get("points")
                                          or bool(_nbgrader(cell).get("grade")) != bool(_nbgrader(rel).get("grade"))):
                    repairs.append(f"answer cell {key[1]} had its nbgrader metadata changed; it was restored")
            elif cell.get("source", "") != rel.source or _nbgrader(cell) != _nbgrader(rel):
                repairs.append(f"cell {key[1]} was edited; the original was restored")
            anchor = key
            continue
        if key in seen:
            repairs.append(f"a copy of cell {key[1]} was found; it runs as an ordinary cell")
        elif key[0] == "grade":
            repairs.append(f"cell {key[1]!r} is not part of the assignment; it runs as an ordinary cell")
        maker = nbformat.v4.new_code_cell if cell.get("cell_type") == "code" else nbformat.v4.new_markdown_cell
        extras.setdefault(anchor, []).append(maker(cell.get("source", "")))
    for key in release_keys:
        if key not in seen and key[0] == "grade":
            repairs.append(f"cell {key[1]} was missing; it was restored")

    numbered = iter(f"student-{i}" for i in range(10**6))
    for extra in (c for group in extras.values() for c in group):
        extra.id = next(numbered)                         # unique, and never a release id
    cells = list(extras.get(None, []))
    for key, rel in zip(release_keys, release.cells):
        cell = copy.deepcopy(rel)
        if key in sources:
            cell.source = sources[key]
            if is_demo(rel.source) and not is_demo(cell.source):
                cell.source = f"{DEMO_MARKER}\n{cell.source}"
        cells.append(cell)
        cells.extend(extras.get(key, []))
    for cell in cells:
        if cell.get("cell_type") == "code":
            cell.outputs, cell.execution_count = [], None
    nb = copy.deepcopy(release)
    nb.cells = cells
    return nb, repairs


# ----------------------------------------------------------------------------- setup

@dataclass
class Context:
    root: Path
    aid: str
    work: Path
    db_url: str
    notebooks: list
    release: dict
    source: dict
    parts: dict
    timeout: int
    cell_timeout: int
    env: dict = field(default_factory=dict)
    isolated: bool = False


def _bin(name):
    return os.path.join(os.path.dirname(sys.executable), name)


def _sandbox_kernelspec(folder, server_socket=None):
    """The grading kernel: served warm by the kernel server when one runs, else started cold."""
    spec_dir = Path(folder) / "kernels" / SANDBOX_KERNEL
    spec_dir.mkdir(parents=True, exist_ok=True)
    argv = (kernel_argv(server_socket) if server_socket
            else [sys.executable, "-m", "course_lib.sandbox_kernel", "-f", "{connection_file}"])
    spec = {"argv": argv, "display_name": "Python 3 (grading sandbox)", "language": "python",
            "metadata": {"debugger": False}}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))


_SERVERS = []


def _uses_torch(notebooks):
    """Whether the code of these notebooks imports torch, itself or through a course_lib module."""
    import importlib.util

    code = "\n".join(c.source for nb in notebooks for c in nb.cells if c.cell_type == "code")
    if re.search(r"\btorch\b", code):
        return True
    modules = set(re.findall(r"course_lib\.(\w+)", code))
    for names in re.findall(r"from\s+course_lib\s+import\s+([\w\s,]+)", code):
        modules.update(n.split()[0] for n in names.split(",") if n.strip())
    for name in modules:
        spec = importlib.util.find_spec(f"course_lib.{name}") if name.isidentifier() else None
        if spec and spec.origin and re.search(r"^\s*(import|from)\s+torch\b",
                                              Path(spec.origin).read_text(encoding="utf-8"), re.M):
            return True
    return False


def _start_kernel_server(work, env, preload=()):
    """Start the warm-kernel server (course_lib.kernel_server) with these extra modules loaded;
    (process, socket path). If it does not come up, kernels start cold (_server_ready)."""
    sock = Path(work) / "kernel-server.sock"
    clean = {k: v for k, v in env.items() if not SECRET.search(k)}
    proc = subprocess.Popen([sys.executable, "-m", "course_lib.kernel_server", str(sock),
                             "--preload", ",".join(preload)],
                            env=clean, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=True)
    _SERVERS.append(proc)
    return proc, sock


def _server_ready(proc):
    if proc.stdout.readline().strip() == "ready":
        return True
    proc.kill()
    return False


def _stop_kernel_servers():
    while _SERVERS:
        proc = _SERVERS.pop()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


atexit.register(_stop_kernel_servers)


def _parts_of(source_nb):
    """grade_id -> the title of the part (the last markdown heading above the cell)."""
    parts, title = {}, "(start)"
    for cell in source_nb.cells:
        if cell.cell_type == "markdown":
            for m in re.finditer(r"^#+\s+(.+)$", cell.source, re.M):
                if "BEGIN SOLUTION" not in m.group(1) and "END SOLUTION" not in m.group(1):
                    title = m.group(1).strip()
        if _gid(cell):
            parts[_gid(cell)] = title
    return parts


def prepare(aid, course=None, work=None, db_url=None, timeout=900, cell_timeout=120, warm_kernels=True):
    """Build the master course folder, generate the assignment into the gradebook once, and
    start the warm-kernel server (unless warm_kernels is False)."""
    root = course_root(course) if course else _default_root()
    src = root / "solutions" / aid
    if not src.is_dir():
        known = sorted(p.name for p in (root / "solutions").iterdir() if p.is_dir())
        raise ValueError(f"unknown assignment {aid!r}; {root / 'solutions'} holds {known}")
    work = Path(work or tempfile.mkdtemp(prefix=f"course-grade-{aid}-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o755)
    master = work / "master"
    if master.exists():
        shutil.rmtree(master)
    master.mkdir()
    os.chmod(master, 0o700)                   # the kernel's user can neither read nor write it
    shutil.copy(root / "nbgrader_config.py", master / "nbgrader_config.py")
    shutil.copytree(src, master / "solutions" / aid)
    db_url = db_url or f"sqlite:///{master / 'gradebook.db'}"
    jupyter_path = work / "jupyter"
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["JUPYTER_PATH"] = os.pathsep.join([str(jupyter_path), *[p for p in env.get("JUPYTER_PATH", "").split(os.pathsep)
                                                                 if p and "course-grade" not in p]])
    os.environ["JUPYTER_PATH"] = env["JUPYTER_PATH"]       # this process looks the kernelspec up too
    env["COURSE_SANDBOX_SECONDS"] = str(timeout)
    isolated = isolation_available()
    env["COURSE_SANDBOX_ISOLATE"] = "1" if isolated else "0"
    source = {n: nbformat.read(p, as_version=4) for n, p in ((p.name, p) for p in sorted(src.glob("*.ipynb")))}
    server, sock = (_start_kernel_server(work, env, ["torch"] if _uses_torch(source.values()) else [])
                    if warm_kernels else (None, None))
    proc = subprocess.run([_bin("nbgrader"), "generate_assignment", aid, "--force", f"--db={db_url}"],
                          cwd=master, env=env, capture_output=True, text=True)
    _sandbox_kernelspec(jupyter_path, sock if server and _server_ready(server) else None)
    if proc.returncode:
        raise RuntimeError(f"nbgrader generate_assignment failed:\n{_tail(proc.stdout + proc.stderr)}")
    names = sorted(p.name for p in src.glob("*.ipynb"))
    release = {n: nbformat.read(master / "assignments" / aid / n, as_version=4) for n in names}
    parts = {}
    for nb in source.values():
        parts.update(_parts_of(nb))
    return Context(root=root, aid=aid, work=work, db_url=db_url, notebooks=names, release=release,
                   source=source, parts=parts, timeout=timeout, cell_timeout=cell_timeout, env=env,
                   isolated=isolated)


def _default_root():
    try:
        return course_root()
    except FileNotFoundError:
        return course_root(Path(__file__).resolve().parents[1])


def _tail(text, n=3000):
    return text[-n:]


# ----------------------------------------------------------------------------- one submission

def student_ids(paths, notebook_names=()):
    """A readable, unique student id per submission: the file's name, or its folder's name
    when the file is named like the assignment's notebook (alice/a1_markov_hmm.ipynb)."""
    stems = {Path(n).stem for n in notebook_names}
    ids, used = [], set()
    for p in paths:
        p = Path(p).resolve()
        if p.is_dir():
            base = p.name
        elif p.stem in stems:
            base = p.parent.name
        else:
            base = p.stem
        base = re.sub(r"[^A-Za-z0-9_-]+", "-", base).strip("-") or "student"
        sid, k = base, 2
        while sid in used:
            sid, k = f"{base}-{k}", k + 1
        used.add(sid)
        ids.append(sid)
    return ids


def _read_submission(path, ctx):
    """{notebook name: notebook} for a submission given as one .ipynb or a folder."""
    path = Path(path)
    files = {path.name: path} if path.is_file() else {n: path / n for n in ctx.notebooks}
    if path.is_file() and len(ctx.notebooks) == 1:
        files = {ctx.notebooks[0]: path}
    out = {}
    for name, f in files.items():
        if name not in ctx.notebooks:
            raise ValueError(f"{f} is not a notebook of {ctx.aid} (expected {ctx.notebooks})")
        out[name] = nbformat.read(f, as_version=4) if f.exists() else None
    return out


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_kernels(pidfile):
    """Kill the process groups of the sandbox kernels listed in `pidfile` ("pid start-time" lines).
    A kernel still running is killed with its group only if it is the same process (its start
    time matches), since a pid freed by a kernel that ended may already belong to another program,
    a student's JupyterLab kernel for one. A group whose leader is gone is still killed: Linux
    does not hand out a pid while a process group of that number exists."""
    if not pidfile.exists():
        return
    for line in pidfile.read_text().splitlines():
        fields = line.split()
        if len(fields) != 2 or not all(f.isdigit() for f in fields):
            continue
        pid, started = int(fields[0]), int(fields[1])
        now = process_start_time(pid)
        if now is None or now == started:
            _kill_group(pid)
    pidfile.unlink()


def _load_config(folder, ctx):
    """The course's nbgrader configuration, as `nbgrader autograde --db URL` run in folder sees it."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(folder)).load_config()
    config.CourseDirectory.root = str(folder)
    config.CourseDirectory.db_url = ctx.db_url
    return config


@contextlib.contextmanager
def _environment(env, cwd):
    """Run the body with exactly this environment and working folder (one submission at a time
    per worker process), then restore both. nbgrader's SQLAlchemy session warnings (harmless, and
    hidden when nbgrader runs as a command) stay quiet."""
    from sqlalchemy.exc import SAWarning

    saved, here = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SAWarning)
            yield
    finally:
        os.chdir(here)
        os.environ.clear()
        os.environ.update(saved)


def _autograde(ctx, folder, student, env, pidfile):
    """`nbgrader autograde` of one student in `folder`, run in this process with the grading
    kernel. After ctx.timeout seconds a watchdog kills the kernels, which ends the run.

    Returns:
        (success, log, timed_out)
    """
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    config = _load_config(folder, ctx)
    config.Execute.kernel_name = SANDBOX_KERNEL
    config.Execute.timeout = ctx.cell_timeout
    config.Execute.interrupt_on_timeout = False
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id, coursedir.student_id = ctx.aid, student
    app = Autograde(coursedir=coursedir, config=config)
    app.force, app.create_student = True, True
    expired = threading.Event()

    def expire():
        expired.set()
        _kill_kernels(pidfile)

    watchdog = threading.Timer(ctx.timeout, expire)
    watchdog.start()
    try:
        with _environment(env, folder):
            result = capture_log(app)
    finally:
        watchdog.cancel()
    return bool(result.get("success")), result.get("log", "") + result.get("error", ""), expired.is_set()


def _grading_client(nb, ctx, folder, env):
    """A NotebookClient on the grading kernel, started as nbgrader's Execute starts it."""
    from nbclient import NotebookClient

    return NotebookClient(nb, timeout=ctx.cell_timeout, kernel_name=SANDBOX_KERNEL, allow_errors=True,
                          interrupt_on_timeout=False, resources={"metadata": {"path": str(folder)}},
                          extra_arguments=["--HistoryManager.hist_file=:memory:", DEMO_CELLS_ARGUMENT])


def _as_graded(nb, source_nb):
    """The notebook as autograde runs it: test cells with their hidden tests."""
    src = {_gid(c): c for c in source_nb.cells if _gid(c)}
    out = copy.deepcopy(nb)
    for cell in out.cells:
        meta = _nbgrader(cell)
        if meta.get("grade") and not meta.get("solution") and _gid(cell) in src:
            cell.source = src[_gid(cell)].source
    return out


def _find_culprit(ctx, folder, nb, name, env):
    """Execute the notebook as graded, in the sandbox kernel, and return the index of the
    first cell after which the kernel was dead or unresponsive (None if it runs through)."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    trial = _as_graded(nb, ctx.source[name])
    client = _grading_client(trial, ctx, folder, env)
    current = {"index": None}

    def on_start(cell, cell_index):
        current["index"] = cell_index
    client.on_cell_start = on_start
    try:
        client.execute(env=dict(env, NBGRADER_EXECUTION="autograde"))
    except (CellTimeoutError, DeadKernelError, RuntimeError, TimeoutError):
        return current["index"]
    return None


def _neutralise(nb, index):
    """Stop cell `index` from running: an answer or ordinary cell is replaced by an error; a
    test cell is kept but every graded call in it is refused (the part earns nothing)."""
    cell = nb.cells[index]
    meta = _nbgrader(cell)
    if meta.get("grade") and not meta.get("solution"):
        before = nbformat.v4.new_code_cell(BLOCK_PART.format(
            reason="a call in this test stopped or hung the kernel when graded"))
        after = nbformat.v4.new_code_cell(UNBLOCK_PART)
        before.id, after.id = f"guard-before-{index}", f"guard-after-{index}"
        nb.cells[index + 1:index + 1] = [after]
        nb.cells[index:index] = [before]
        return f"a test in {_gid(cell)} stopped or hung the kernel; that part earns nothing"
    cell.source = NEUTRALISED
    return f"cell {_gid(cell) or cell.id} stopped or hung the kernel; it was not run"


def grade_submission(ctx, student, path, feedback_dir=None):
    """Autograde one submission in its own folder (and write its feedback to feedback_dir).
    Returns a result dict (never raises)."""
    result = {"student": student, "path": str(path), "status": "graded", "repairs": [], "parts": [],
              "score": 0.0, "max_score": 0.0, "manual_points": 0.0, "errors": [], "seconds": 0.0}
    t0 = time.perf_counter()
    result["phases"] = {}

    @contextlib.contextmanager
    def phase(name):                       # seconds spent per phase, for `make bench`
        start = time.perf_counter()
        try:
            yield
        finally:
            result["phases"][name] = round(result["phases"].get(name, 0.0) + time.perf_counter() - start, 2)

    folder = ctx.work / "students" / student
    try:
        if folder.exists():
            shutil.rmtree(folder)
        sub_dir = folder / "submitted" / student / ctx.aid
        sub_dir.mkdir(parents=True)
        for p in (folder, folder / "submitted", folder / "submitted" / student, sub_dir):
            os.chmod(p, 0o755)
        shutil.copy(ctx.root / "nbgrader_config.py", folder / "nbgrader_config.py")
        (folder / "solutions" / ctx.aid).mkdir(parents=True)   # no solutions in the sandbox
        try:
            notebooks = _read_submission(path, ctx)
        except Exception as err:                           # unreadable: graded as empty
            result["repairs"].append(f"the submission could not be read ({type(err).__name__}: {err}); "
                                     "it was graded as an untouched notebook")
            notebooks = {n: None for n in ctx.notebooks}
        canon = {}
        for name in ctx.notebooks:
            sub = notebooks.get(name) or ctx.release[name]
            if notebooks.get(name) is None and not result["repairs"]:
                result["repairs"].append(f"{name} was not submitted; it was graded as untouched")
            nb, repairs = canonicalize(sub, ctx.release[name])
            result["repairs"] += repairs
            canon[name] = nb
        pidfile = folder / "kernel.pids"
        env = dict(ctx.env, COURSE_SANDBOX_PIDFILE=str(pidfile))
        regraded = False
        for attempt in range(4):
            for name, nb in canon.items():
                nbformat.write(nb, sub_dir / name)
            with phase("autograde"):
                ok, out, timed_out = _autograde(ctx, folder, student, env, pidfile)
                _kill_kernels(pidfile)
            autograded = folder / "autograded" / student / ctx.aid
            if ok and not timed_out and all((autograded / n).exists() for n in ctx.notebooks):
                break
            if attempt == 3:
                raise RuntimeError(f"autograde failed after {attempt + 1} attempts:\n{_tail(out)}")
            fixed = False
            for name, nb in canon.items():
                with phase("culprit"):
                    culprit = _find_culprit(ctx, sub_dir, nb, name, env)
                _kill_kernels(pidfile)
                if culprit is not None:
                    result["repairs"].append(_neutralise(nb, culprit))
                    fixed = True
                    break
            if not fixed:
                # Run cell by cell, the notebook showed no fault: the failure came from outside it,
                # e.g. a kernel that died while starting on a busy machine. Grade it again, once.
                if regraded:
                    raise RuntimeError(f"autograde failed and no cell could be blamed:\n{_tail(out)}")
                regraded = True
                cause = ("its kernel died while starting" if "Kernel died before replying to kernel_info" in out
                         else "no cell of the submission caused it")
                result["repairs"].append(f"the first grading run failed ({cause}); the submission was graded again")
        with phase("originality"):
            _clear_grader_verdicts(ctx, student)
            notes, reasons = _zero_copied_parts(ctx, student, canon)
        result["repairs"] += notes
        with phase("replay"):
            notes, replay_reasons = _verify_outside_kernel(ctx, student, folder, canon, env)
        result["repairs"] += notes
        reasons = {**replay_reasons, **reasons}
        with phase("collect"):
            result.update(_collect(ctx, student, folder, reasons))
    except Exception as err:
        result["status"] = "failed"
        result["errors"].append(f"{type(err).__name__}: {err}")
    if feedback_dir and result["status"] == "graded":
        try:
            with phase("feedback"):
                result["feedback"] = generate_feedback(ctx, student, feedback_dir)
        except Exception as err:
            result["errors"].append(f"feedback: {err}")
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return result


def _clear_grader_verdicts(ctx, student):
    """Forget the verdicts an earlier run of this grader left on the student's test cells
    (a regrade in a lasting gradebook starts from nbgrader's own scores)."""
    from nbgrader.api import Gradebook

    with Gradebook(ctx.db_url) as gb:
        for nb in gb.find_submission(ctx.aid, student).notebooks:
            for grade in nb.grades:
                if grade.cell_type == "code" and grade.manual_score is not None:
                    grade.manual_score = None
        gb.db.commit()


def _zero_copied_parts(ctx, student, canon):
    """A part whose answer uses or copies the reference earns nothing: its autograded test
    cells get a manual score of 0 in the gradebook, with the reason as the comment."""
    from nbgrader.api import Gradebook

    from course_lib.originality import reference_use

    notes, by_test = [], {}
    for name, nb in canon.items():
        given = {_gid(c): c.source for c in ctx.release[name].cells if _gid(c)}
        for cell in nb.cells:
            if not (_is_answer(cell) and cell.cell_type == "code"):
                continue
            reasons = reference_use(cell.source, given.get(_gid(cell), ""))
            if not reasons:
                continue
            part = ctx.parts.get(_gid(cell))
            tests = [g for g, p in ctx.parts.items() if p == part and g != _gid(cell)
                     and _nbgrader(next(c for c in ctx.source[name].cells if _gid(c) == g)).get("grade")]
            with Gradebook(ctx.db_url) as gb:
                for gid in tests:
                    grade = gb.find_grade(gid, Path(name).stem, ctx.aid, student)
                    grade.manual_score = 0.0
                    grade.needs_manual_grade = False
                    by_test[gid] = "not the student's own work: " + "; ".join(reasons)
                comment = gb.find_comment(_gid(cell), Path(name).stem, ctx.aid, student)
                comment.manual_comment = "; ".join(reasons)
                gb.db.commit()
            notes.append(f"{_gid(cell)} is not the student's own work ({'; '.join(reasons)}): "
                         f"{part or 'its part'} earns nothing")
    return notes, by_test


def replay_notebook(source_nb, answer_sources):
    """The test cells of an assignment, to run in a kernel that never ran the student's code.

    Answer cells become placeholders for the names they define; before each test cell, a
    cell switches the grading helpers to answering graded calls from that cell's receipts.
    """
    cells = []
    for cell in source_nb.cells:
        meta = _nbgrader(cell)
        if cell.cell_type != "code" or not meta:
            continue
        if meta.get("solution"):
            names = sorted(defined_names(cell.source) | defined_names(answer_sources.get(_gid(cell), "")))
            stub = "\n".join(f"def {n}(*args, **kwargs):\n    raise RuntimeError('replay placeholder')"
                             for n in names if n.isidentifier()) or "pass"
            cells.append(nbformat.v4.new_code_cell(stub))
        elif meta.get("grade"):
            cells.append(nbformat.v4.new_code_cell(
                f"import course_lib.grading as _course_grading\n_course_grading.replay_cell({_gid(cell)!r})"))
            cells.append(copy.deepcopy(cell))
        elif meta.get("locked"):
            cells.append(copy.deepcopy(cell))
    for i, cell in enumerate(cells):
        cell.id = f"replay-{i}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb = copy.deepcopy(source_nb)
    nb.cells = cells
    return nb


def _verify_outside_kernel(ctx, student, folder, canon, env):
    """Run the test cells again, from the receipts, in a fresh sandbox kernel; a test that
    passed in the student's kernel but fails here earns nothing (its checks were tampered with)."""
    from nbgrader.api import Gradebook
    from nbgrader.utils import determine_grade

    from course_lib.grading import RECEIPT_MIME

    notes, by_test = [], {}
    for name in ctx.notebooks:
        graded = nbformat.read(folder / "autograded" / student / ctx.aid / name, as_version=4)
        receipts = {}
        for cell in graded.cells:
            if _nbgrader(cell).get("grade") and not _nbgrader(cell).get("solution"):
                receipts[_gid(cell)] = [o["data"][RECEIPT_MIME] for o in cell.get("outputs", [])
                                        if o.get("output_type") == "display_data" and RECEIPT_MIME in o.get("data", {})]
        replay_dir = folder / "replay"
        replay_dir.mkdir(exist_ok=True)
        os.chmod(replay_dir, 0o755)
        rfile = replay_dir / f"{Path(name).stem}.receipts.json"
        rfile.write_text(json.dumps(receipts))
        os.chmod(rfile, 0o644)
        answers = {_gid(c): c.source for c in canon[name].cells if _is_answer(c)}
        nb = replay_notebook(ctx.source[name], answers)
        client = _grading_client(nb, ctx, replay_dir, env)
        client.execute(env=dict(env, COURSE_GRADING_REPLAY=str(rfile)))
        for cell in nb.cells:                 # a replay that cannot read its receipts proves nothing
            if "replay_cell(" in cell.source and any(o.get("output_type") == "error" for o in cell.outputs):
                err = next(o for o in cell.outputs if o.get("output_type") == "error")
                raise RuntimeError(f"the replay could not load the receipts: {err.get('ename')}: {err.get('evalue')}")
        with Gradebook(ctx.db_url) as gb:
            for cell in nb.cells:
                meta = _nbgrader(cell)
                if not (meta.get("grade") and not meta.get("solution")):
                    continue
                cell.outputs = [o for o in cell.outputs if not (o.get("output_type") == "stream"
                                and o.get("name") == "stderr" and "Warning: " in o.get("text", ""))]
                replay_score, _ = determine_grade(cell)
                grade = gb.find_grade(_gid(cell), Path(name).stem, ctx.aid, student)
                if replay_score is not None and replay_score < grade.score:
                    errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in cell.outputs if o.get("output_type") == "error"]
                    why = errors[0] if errors else "the check did not pass outside the student's kernel"
                    grade.manual_score = float(replay_score)
                    grade.needs_manual_grade = False
                    by_test[_gid(cell)] = f"checked outside your kernel: {why}"
                    notes.append(f"{_gid(cell)} passed in the student's kernel but not when checked outside it "
                                 f"({why[:200]}); it earns {replay_score:g}")
            gb.db.commit()
    return notes, by_test


def _collect(ctx, student, folder, reasons=None):
    """Scores from the gradebook, and the message of each failed test from the notebook."""
    from nbgrader.api import Gradebook

    messages = {}
    for name in ctx.notebooks:
        nb = nbformat.read(folder / "autograded" / student / ctx.aid / name, as_version=4)
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error" and _gid(cell):
                    messages[_gid(cell)] = f"{out.get('ename')}: {out.get('evalue')}"
    messages.update(reasons or {})
    parts, score, max_score, manual = [], 0.0, 0.0, 0.0
    with Gradebook(ctx.db_url) as gb:
        sub = gb.find_submission(ctx.aid, student)
        order = {gid: i for i, gid in enumerate(ctx.parts)}
        for nb in sub.notebooks:
            for grade in sorted(nb.grades, key=lambda g: order.get(g.name, len(order))):
                row = {"notebook": nb.name, "cell": grade.name, "part": ctx.parts.get(grade.name, ""),
                       "score": grade.score, "max_score": grade.max_score,
                       "kind": "autograded" if grade.cell_type == "code" else "manual",
                       "message": messages.get(grade.name, "")}
                if row["kind"] == "manual":
                    manual += grade.max_score
                    row["score"] = None
                else:
                    score += grade.score
                    max_score += grade.max_score
                parts.append(row)
    return {"parts": parts, "score": score, "max_score": max_score, "manual_points": manual}


def generate_feedback(ctx, student, dest):
    """nbgrader's feedback for one graded student (run in this process), copied to dest/<student>/."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    folder = ctx.work / "students" / student
    config = _load_config(folder, ctx)
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id, coursedir.student_id = ctx.aid, student
    app = GenerateFeedback(coursedir=coursedir, config=config)
    app.force = True
    with _environment(ctx.env, folder):
        result = capture_log(app)
    src = folder / "feedback" / student / ctx.aid
    if not result.get("success") or not src.is_dir():
        raise RuntimeError(f"generate_feedback failed for {student}:\n{_tail(result.get('log', '') + result.get('error', ''))}")
    out = Path(dest) / student
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(src, out)
    return sorted(str(p) for p in out.glob("*.html"))


# ----------------------------------------------------------------------------- reports

def summary_table(results):
    lines = []
    for r in results:
        head = f"{r['student']}: {r['score']:g} / {r['max_score']:g} autograded"
        if r["manual_points"]:
            head += f" (+ {r['manual_points']:g} graded by hand)"
        if r["status"] != "graded":
            head += "  GRADING FAILED: " + "; ".join(r["errors"])[:500]
        lines.append(head)
        for p in r["parts"]:
            score = "manual" if p["score"] is None else f"{p['score']:g}/{p['max_score']:g}"
            lines.append(f"  {p['part'][:38]:<38}  {p['cell']:<28} {score:>8}  {p['message'][:120]}")
        for rep in r["repairs"]:
            lines.append(f"  note: {rep}")
    return "\n".join(lines)


def markdown_summary(aid, results):
    rows = [f"## {aid}: grading summary", "",
            "| student | autograded score | by hand | status |", "|---|---|---|---|"]
    for r in results:
        rows.append(f"| {r['student']} | {r['score']:g} / {r['max_score']:g} | {r['manual_points']:g} | {r['status']} |")
    for r in results:
        rows += ["", f"### {r['student']}", "", "| part | test | score | what failed |", "|---|---|---|---|"]
        for p in r["parts"]:
            score = "by hand" if p["score"] is None else f"{p['score']:g} / {p['max_score']:g}"
            msg = p["message"].replace("|", "\\|").replace("\n", " ")[:300]
            rows.append(f"| {p['part']} | `{p['cell']}` | {score} | {msg} |")
        for rep in r["repairs"]:
            rows.append(f"\n- note: {rep}")
        for err in r["errors"]:
            rows.append(f"\n- **grading failed**: {err[:500]}")
    return "\n".join(rows) + "\n"


# ----------------------------------------------------------------------------- command line

def _failed(student, path, error):
    return {"student": student, "path": str(path), "status": "failed", "repairs": [], "parts": [], "phases": {},
            "score": 0.0, "max_score": 0.0, "manual_points": 0.0, "errors": [error], "seconds": 0.0}


def _worker(ctx_file):
    """A grading worker (`python -m course_lib.grader --worker CTX`): reads one task per line
    ({"student", "path", "feedback_dir"}) and answers with the result of grade_submission, one
    JSON line each, on what was its standard output. Anything else that writes to standard
    output (nbgrader, a library) lands on standard error instead."""
    import pickle

    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    with open(ctx_file, "rb") as f:
        ctx = pickle.load(f)
    ctx.env = dict(os.environ)                           # the worker was started with it
    log = logging.getLogger("traitlets")                 # nbgrader's log goes to the results
    log.propagate = False
    log.addHandler(logging.NullHandler())
    for line in sys.stdin:
        task = json.loads(line)
        result = grade_submission(ctx, task["student"], task["path"], task["feedback_dir"])
        answers.write(json.dumps(result) + "\n")
        answers.flush()


class _Workers:
    """`jobs` long-lived worker processes, each grading one submission at a time, so that
    nbgrader and the course are imported once per worker rather than once per submission.
    A worker that dies is replaced; the submission it held is graded once more."""

    def __init__(self, ctx, jobs):
        import pickle

        self.ctx, self.jobs = ctx, max(1, jobs)
        self.ctx_file = ctx.work / "master" / "context.pickle"
        with open(self.ctx_file, "wb") as f:             # no environment: it may hold secrets (PGPASSWORD)
            pickle.dump(replace(ctx, env={}), f)
        os.chmod(self.ctx_file, 0o600)
        self.procs = []

    def _start(self, slot):
        log = open(self.ctx.work / f"worker-{slot}.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "course_lib.grader", "--worker", str(self.ctx_file)],
                                env=self.ctx.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                text=True, start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def _ask(self, proc, student, path, feedback_dir):
        """The result of one submission from this worker, or None if the worker died."""
        try:
            proc.stdin.write(json.dumps({"student": student, "path": str(path),
                                         "feedback_dir": str(feedback_dir) if feedback_dir else None}) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
        except (BrokenPipeError, OSError):
            return None
        return json.loads(line) if line else None

    def run(self, tasks, report):
        """Grade tasks [(index, student, path, feedback_dir)], calling report(index, result)."""
        queue, lock = list(reversed(tasks)), threading.Lock()

        def slot(number):
            proc = self._start(number)
            while True:
                with lock:
                    if not queue:
                        break
                    index, student, path, feedback_dir = queue.pop()
                result = None
                for _ in range(2):                          # a worker that dies is replaced, once
                    result = self._ask(proc, student, path, feedback_dir)
                    if result is not None:
                        break
                    _kill_group(proc.pid)
                    proc.wait()
                    proc = self._start(number)
                report(index, result or _failed(student, path, "the grading worker died twice on this "
                                                "submission (see worker-*.log in the work folder)"))
            proc.stdin.close()
            proc.wait()

        threads = [threading.Thread(target=slot, args=(n,)) for n in range(min(self.jobs, len(tasks)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                _kill_group(proc.pid)
                proc.wait()


def grade(aid, paths, jobs=1, db_url=None, course=None, work=None, timeout=900, cell_timeout=120,
          feedback_dir=None, progress=True, warm_kernels=True):
    """Grade every submission; returns the list of result dicts, in the order of `paths`.

    `jobs` worker processes grade one submission each at a time, each submission in its own
    folder with its own kernels, against one gradebook.
    """
    ctx = prepare(aid, course=course, work=work, db_url=db_url, timeout=timeout, cell_timeout=cell_timeout,
                  warm_kernels=warm_kernels)
    ids = student_ids(paths, ctx.notebooks)
    results, lock, done = [None] * len(paths), threading.Lock(), [0]

    def report(i, result):
        with lock:
            results[i] = result
            done[0] += 1
            if progress:
                print(f"[{done[0]}/{len(paths)}] {result['student']}: {result['score']:g}/{result['max_score']:g} "
                      f"({result['status']}, {result['seconds']:.1f} s)", file=sys.stderr, flush=True)

    workers = _Workers(ctx, jobs)
    try:
        workers.run([(i, ids[i], paths[i], feedback_dir) for i in range(len(paths))], report)
    finally:
        workers.close()
        _stop_kernel_servers()
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(prog="course-grade", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment", help="assignment id, e.g. a1_markov_hmm")
    parser.add_argument("submissions", nargs="+", help="submitted .ipynb files (or folders of them)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    parser.add_argument("--db", help="gradebook URL (default: a new SQLite file in the work folder); "
                                     "postgresql://user@host/db with the password in PGPASSWORD")
    parser.add_argument("--json", help="write the results as JSON to this file")
    parser.add_argument("--markdown", help="write a Markdown summary to this file "
                                           "(also appended to $GITHUB_STEP_SUMMARY when set)")
    parser.add_argument("--feedback", help="write nbgrader's feedback HTML under this folder")
    parser.add_argument("--course", help="the course folder (default: found from here)")
    parser.add_argument("--work", help="keep the grading folders here (default: a temporary folder)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per submission")
    parser.add_argument("--cell-timeout", type=int, default=120, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    missing = [p for p in args.submissions if not Path(p).exists()]
    if missing:
        parser.error(f"no such submission: {', '.join(missing)}")
    if args.jobs < 1:
        parser.error("-j must be at least 1")
    try:
        results = grade(args.assignment, args.submissions, jobs=args.jobs, db_url=args.db, course=args.course,
                        work=args.work, timeout=args.timeout, cell_timeout=args.cell_timeout,
                        feedback_dir=args.feedback)
    except (ValueError, FileNotFoundError) as err:
        print(f"course-grade: {err}", file=sys.stderr)
        return 2
    print(summary_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps({"assignment": args.assignment, "results": results}, indent=1))
    md = markdown_summary(args.assignment, results)
    if args.markdown:
        Path(args.markdown).write_text(md)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a") as f:
            f.write(md)
    return 0 if all(r["status"] == "graded" for r in results) else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker(sys.argv[2])
    else:
        sys.exit(main())
