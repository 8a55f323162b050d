"""Grade submitted notebooks with nbgrader, safely, from one command.

    course-grade a1_markov_hmm alice.ipynb bob.ipynb [-j 2] [--db URL] [--json out.json]
                 [--markdown out.md] [--feedback DIR] [--course DIR] [--timeout SECONDS]
    course-grade a1_markov_hmm COURSE/submitted --course COURSE --db sqlite:///COURSE/gradebook.db

For each submission it
1. rebuilds the notebook around the student's answers: every locked and test cell comes
   from the assignment itself (edited, deleted, moved or re-labelled test cells do not
   count), copy-pasted cells lose their duplicate nbgrader identity, and the student's own
   extra cells stay where they were;
2. runs `nbgrader autograde` on it in a private folder, against one shared gradebook
   (SQLite by default, PostgreSQL with --db), with the notebook split in two processes
   (`course_lib.grading.split_execute`): the tests and the references they compare with run in the
   grading kernel, the student's code in an answer process that holds no reference and, as
   root, runs as the unprivileged user `nobody`, with no secrets and no read access to the
   course's files; a crash or a hang there costs the calls it spoiled and no others;
3. zeroes the parts whose answers use or copy the reference (`course_lib.grading.originality`);
4. writes a table per part, JSON, a Markdown summary and nbgrader's feedback (hidden tests
   and tracebacks removed by the course configuration);
5. with a lasting gradebook (--db), leaves the submission in the course as nbgrader would,
   `submitted/<student>/<aid>/` and `autograded/<student>/<aid>/`, so that Formgrader's manual
   grading and `nbgrader generate_feedback` / `release_feedback` work on it afterwards.

A submission is a notebook, a folder of the assignment's notebooks, or nbgrader's
`submitted/` folder, which stands for every `<student>/<aid>/` folder in it (student ids
are the folder names).

Exit status: 0 when every submission was graded, whatever the scores; 1 when grading
itself failed for some submission; 2 for a usage error.
"""

import argparse
import atexit
import contextlib
import gc
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
import traceback
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat

from course_lib.course import course_root
from course_lib.grading import kernel_server
from course_lib.grading.environment import grading_environment, without_secrets
from course_lib.grading.nbgrader_ext import copy_mathjax
from course_lib.grading.results import (
    clear_grader_verdicts,
    collect,
    markdown_summary,
    summary_table,
    tally,
    zero_copied_parts,
)
from course_lib.grading.sandbox import isolation_available, process_start_time
from course_lib.grading.submission import (
    canonicalize,
    expand,
    grade_id,
    read_submission,
    student_ids,
    submission_files,
)

SANDBOX_KERNEL = "course-sandbox"

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
    keep: bool = False          # leave submitted/ and autograded/ in the course (keep_in_course)


def _sandbox_kernelspec(folder, server_socket=None):
    """The grading kernel: served warm by the kernel server when one runs, else started cold."""
    argv = (kernel_server.kernel_argv(server_socket) if server_socket
            else [sys.executable, "-m", "course_lib.grading.sandbox", "-f", "{connection_file}"])
    kernel_server.write_kernelspec(folder, SANDBOX_KERNEL, argv)


_SERVERS = []


def _start_kernel_server(work, env, preload=()):
    """Start the warm-kernel server (course_lib.grading.kernel_server) with these extra modules loaded;
    (process, socket path). If it does not come up, kernels start cold (kernel_server.ready)."""
    sock = Path(work) / "kernel-server.sock"
    proc = kernel_server.start(sock, without_secrets(env), preload)
    _SERVERS.append(proc)
    return proc, sock


def _stop_kernel_servers():
    while _SERVERS:
        kernel_server.stop(_SERVERS.pop())


atexit.register(_stop_kernel_servers)


def _parts_of(source_nb):
    """grade_id -> the title of the part (the last markdown heading above the cell)."""
    parts, title = {}, "(start)"
    for cell in source_nb.cells:
        if cell.cell_type == "markdown":
            for m in re.finditer(r"^#+\s+(.+)$", cell.source, re.M):
                if "BEGIN SOLUTION" not in m.group(1) and "END SOLUTION" not in m.group(1):
                    title = m.group(1).strip()
        if grade_id(cell):
            parts[grade_id(cell)] = title
    return parts


def prepare(aid, course=None, work=None, db_url=None, timeout=900, cell_timeout=120, warm_kernels=True,
            keep=False):
    """Build the master course folder, generate the assignment into the gradebook once, and
    start the warm-kernel server (unless warm_kernels is False). With `keep`, each graded
    submission is left in the course (keep_in_course)."""
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
    isolated = isolation_available()
    env = grading_environment(os.environ, root=root, jupyter_path=jupyter_path, timeout=timeout, isolated=isolated)
    os.environ["JUPYTER_PATH"] = env["JUPYTER_PATH"]       # this process looks the kernelspec up too
    source = {n: nbformat.read(p, as_version=4) for n, p in ((p.name, p) for p in sorted(src.glob("*.ipynb")))}
    server, sock = (_start_kernel_server(work, env, kernel_server.preload_for(source.values()))
                    if warm_kernels else (None, None))
    generated, log = _generate_assignment(master, aid, db_url, env)
    ready = bool(server) and kernel_server.ready(server)
    _sandbox_kernelspec(jupyter_path, sock if ready else None)
    if ready:
        env["COURSE_KERNEL_SERVER"] = str(sock)
    if not generated:
        raise RuntimeError(f"nbgrader generate_assignment failed:\n{_tail(log)}")
    names = sorted(p.name for p in src.glob("*.ipynb"))
    release = {n: nbformat.read(master / "assignments" / aid / n, as_version=4) for n in names}
    parts = {}
    for nb in source.values():
        parts.update(_parts_of(nb))
    return Context(root=root, aid=aid, work=work, db_url=db_url, notebooks=names, release=release,
                   source=source, parts=parts, timeout=timeout, cell_timeout=cell_timeout, env=env,
                   isolated=isolated, keep=keep)


def _default_root():
    try:
        return course_root()
    except FileNotFoundError:
        return course_root(Path(__file__).resolve().parents[1])


def _tail(text, n=3000):
    return text[-n:]


# ----------------------------------------------------------------------------- one submission

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


def _load_config(folder, db_url):
    """The course's nbgrader configuration, as `nbgrader autograde --db URL` run in folder sees it."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(folder)).load_config()
    config.CourseDirectory.root = str(folder)
    config.CourseDirectory.db_url = db_url
    return config


def _run_converter(kind, folder, db_url, env, aid, student=None, settings=None, **flags):
    """nbgrader's converter `kind` (nbgrader.converters: GenerateAssignment, Autograde,
    GenerateFeedback) on assignment `aid` (and `student`), run in this process in `folder` with
    exactly the environment `env`, as `nbgrader <command> --db URL` run there would, with the
    course configuration plus `settings` ({section: {name: value}}) and the converter's `flags`
    set (force=True, ...). nbgrader's log goes to the result, not to stderr.

    Returns:
        nbgrader's capture_log result: {"success", and "log" and "error" when there are any}
    """
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log
    from traitlets.config import Config

    config = _load_config(folder, db_url)
    config.merge(Config(settings or {}))
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = aid
    if student is not None:
        coursedir.student_id = student
    app = kind(coursedir=coursedir, config=config)
    for name, value in flags.items():
        setattr(app, name, value)
    log = logging.getLogger("traitlets")
    propagate, log.propagate = log.propagate, False
    try:
        with _environment(env, folder):
            return capture_log(app)
    finally:
        log.propagate = propagate


def _generate_assignment(folder, aid, db_url, env):
    """`nbgrader generate_assignment AID --force --db URL` run in folder, in this process: a new
    nbgrader process took a second of CPU for a fifth of a second of work.
    Returns (success, traceback and log)."""
    from nbgrader.converters import GenerateAssignment

    result = _run_converter(GenerateAssignment, folder, db_url, env, aid, force=True)
    return bool(result.get("success")), result.get("error", "") + result.get("log", "")   # nbgrader's reason last


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

    settings = {"Execute": {"kernel_name": SANDBOX_KERNEL,
                            "shutdown_kernel": "immediate",        # _kill_kernels ends the rest anyway
                            "timeout": ctx.cell_timeout, "interrupt_on_timeout": False}}
    expired = threading.Event()

    def expire():
        expired.set()
        _kill_kernels(pidfile)

    watchdog = threading.Timer(ctx.timeout, expire)
    watchdog.start()
    try:
        result = _run_converter(Autograde, folder, ctx.db_url, env, ctx.aid, student, settings,
                                force=True, create_student=True)
    finally:
        watchdog.cancel()
    return bool(result.get("success")), result.get("log", "") + result.get("error", ""), expired.is_set()


def grade_submission(ctx, student, path, feedback_dir=None):
    """Autograde one submission in its own folder (and write its feedback to feedback_dir).
    Returns a result dict (never raises)."""
    result = {"student": student, "path": str(path), "status": "graded", "repairs": [], "parts": [],
              **tally([]), "scores": [], "errors": [], "seconds": 0.0}
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
        os.chmod(folder, 0o700)               # the grader's alone: no student process reads it
        shutil.copy(ctx.root / "nbgrader_config.py", folder / "nbgrader_config.py")
        (folder / "solutions" / ctx.aid).mkdir(parents=True)   # nbgrader wants the folder; it stays empty
        try:
            notebooks = read_submission(path, ctx)
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
        for name, nb in canon.items():
            nbformat.write(nb, sub_dir / name)
        for name in EXCHANGE_FILES:                      # written by nbgrader's exchange on submit
            if _exchange_file(Path(path) / name):
                shutil.copyfile(Path(path) / name, sub_dir / name)
        for attempt in range(2):
            with phase("autograde"):
                ok, out, timed_out = _autograde(ctx, folder, student, env, pidfile)
                _kill_kernels(pidfile)
            autograded = folder / "autograded" / student / ctx.aid
            if ok and all((autograded / n).exists() for n in ctx.notebooks):
                break
            if timed_out:
                raise RuntimeError(f"grading took longer than {ctx.timeout} s and was stopped")
            if attempt == 1:
                raise RuntimeError(f"autograde failed twice:\n{_tail(out)}")
            # The student's code runs in its own process, so nothing it does stops the grading
            # kernel: a failure came from outside the notebook (a kernel that died while starting
            # on a busy machine). Grade it again, once.
            cause = ("its kernel died while starting" if "Kernel died before replying to kernel_info" in out
                     else "nbgrader failed")
            result["repairs"].append(f"the first grading run failed ({cause}); the submission was graded again")
        with phase("originality"):
            clear_grader_verdicts(ctx, student)
            notes, reasons = zero_copied_parts(ctx, student, canon)
        result["repairs"] += notes
        with phase("collect"):
            result.update(collect(ctx, student, folder, reasons))
        if ctx.keep:
            keep_in_course(ctx, student, path, folder)
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


def _course_owner(root):
    """(uid, gid) that files the grader leaves in the course get: the course folder's owner (the
    instructor who runs Formgrader), unless that is the user the student's code runs as."""
    import pwd

    st = Path(root).stat()
    try:
        sandbox_uid = pwd.getpwnam("nobody").pw_uid
    except KeyError:
        sandbox_uid = None
    return (os.getuid(), os.getgid()) if st.st_uid == sandbox_uid else (st.st_uid, st.st_gid)


def _hand_over(path, root):
    """Give `path` (and what it holds) to the course's owner, closed to other users at the top:
    the student's process (`nobody`) can neither write it nor read another student's answers.
    Changing the owner needs root; without root the files are the grader's, who owns the course."""
    uid, gid = _course_owner(root)
    path = Path(path)
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        if os.geteuid() == 0:
            os.chown(p, uid, gid, follow_symlinks=False)
        if not p.is_symlink():
            os.chmod(p, p.stat().st_mode & ~0o002)      # nobody else writes
    if not path.is_symlink():
        os.chmod(path, path.stat().st_mode & ~0o007)


def _course_folder(root, name):
    """<course>/<name>/ (submitted/, autograded/), made as nbgrader would, but closed to other users."""
    folder = Path(root) / name
    if not folder.is_dir():
        folder.mkdir(exist_ok=True)
        _hand_over(folder, root)
    return folder


# Files nbgrader's exchange writes beside a submission: the submission time (Formgrader lists a
# submission only when it matches the gradebook's) and the secret that release_feedback names
# the student's feedback by. Both travel with the notebooks; neither is ever larger than a line.
EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")


def _exchange_file(path):
    return path.is_file() and not path.is_symlink() and path.stat().st_size <= 1024


def keep_in_course(ctx, student, path, folder):
    """Leave a graded submission in the course, where nbgrader's own `autograde` leaves it:
    `<course>/submitted/<student>/<aid>/` (the files as the student handed them in, unless
    that is where they came from) and `<course>/autograded/<student>/<aid>/` (the notebooks as
    graded). Formgrader lists a submission for manual grading only when both exist, and
    `nbgrader generate_feedback` reads the second."""
    root, aid = ctx.root, ctx.aid
    submitted = _course_folder(root, "submitted") / student / aid
    if Path(path).resolve() != submitted.resolve():
        if submitted.exists():
            shutil.rmtree(submitted)
        submitted.mkdir(parents=True)
        for name, f in submission_files(path, ctx).items():
            if f.is_file():
                shutil.copyfile(f, submitted / name)
        for name in EXCHANGE_FILES:
            if _exchange_file(folder / "submitted" / student / aid / name):
                shutil.copyfile(folder / "submitted" / student / aid / name, submitted / name)
        _hand_over(submitted.parent, root)
    autograded = _course_folder(root, "autograded") / student / aid
    if autograded.exists():
        shutil.rmtree(autograded)
    autograded.parent.mkdir(exist_ok=True)
    shutil.copytree(folder / "autograded" / student / aid, autograded)
    _hand_over(autograded.parent, root)


def generate_feedback(ctx, student, dest):
    """nbgrader's feedback for one graded student (run in this process), copied to dest/<student>/."""
    from nbgrader.converters import GenerateFeedback

    folder = ctx.work / "students" / student
    result = _run_converter(GenerateFeedback, folder, ctx.db_url, ctx.env, ctx.aid, student,
                            {"FeedbackExporter": {"mathjax_copy": False}},   # copied once, to dest, below
                            force=True)
    src = folder / "feedback" / student / ctx.aid
    if not result.get("success") or not src.is_dir():
        raise RuntimeError(f"generate_feedback failed for {student}:\n{_tail(result.get('log', '') + result.get('error', ''))}")
    out = Path(dest) / student
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(src, out)
    copy_mathjax(dest)                      # dest/mathjax/: the pages typeset offline from disk
    return sorted(str(p) for p in out.glob("*.html"))


# ----------------------------------------------------------------------------- command line

def _failed(student, path, error):
    return {"student": student, "path": str(path), "status": "failed", "repairs": [], "parts": [], "phases": {},
            **tally([]), "scores": [], "errors": [error], "seconds": 0.0}


def _serve(ctx, tasks, answers):
    """Grade the tasks read from `tasks`, one JSON line each ({"student", "path", "feedback_dir"}),
    answering on `answers` with the result of grade_submission, one JSON line each."""
    log = logging.getLogger("traitlets")                 # nbgrader's log goes to the results
    log.propagate = False
    log.addHandler(logging.NullHandler())
    for line in tasks:
        task = json.loads(line)
        result = grade_submission(ctx, task["student"], task["path"], task["feedback_dir"])
        answers.write(json.dumps(result) + "\n")
        answers.flush()


def _worker(ctx_file):
    """A grading worker started as a new process (`python -m course_lib.grading.grader --worker CTX`):
    serves the tasks on its standard input, answering on what was its standard output. Anything
    else that writes to standard output (nbgrader, a library) lands on standard error instead."""
    import pickle

    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    with open(ctx_file, "rb") as f:
        ctx = pickle.load(f)
    ctx.env = dict(os.environ)                           # the worker was started with it
    _serve(ctx, sys.stdin, answers)


class _Forked:
    """A forked worker, with the part of subprocess.Popen's interface that _Workers uses."""

    def __init__(self, pid, stdin, stdout):
        self.pid, self.stdin, self.stdout, self.returncode = pid, stdin, stdout, None

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self):
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        for pipe in (self.stdin, self.stdout):
            with contextlib.suppress(OSError):
                pipe.close()
        return self.returncode


class _Workers:
    """`jobs` long-lived worker processes, each grading one submission at a time, so that
    nbgrader and the course are loaded once per run rather than once per submission: the workers
    are forked from this process, which loaded them to generate the assignment (_fork), or, when
    it runs other threads, started as new processes (_start). A worker that dies is replaced by a
    started one; the submission it held is graded once more."""

    def __init__(self, ctx, jobs):
        import pickle

        self.ctx, self.jobs = ctx, max(1, jobs)
        self.ctx_file = ctx.work / "master" / "context.pickle"
        with open(self.ctx_file, "wb") as f:             # no environment: it may hold secrets (PGPASSWORD)
            pickle.dump(replace(ctx, env={}), f)
        os.chmod(self.ctx_file, 0o600)
        self.procs = []

    def _start(self, slot):
        """A new worker process, started with `python -m`: it imports nbgrader and the course itself."""
        log = open(self.ctx.work / f"worker-{slot}.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "course_lib.grading.grader", "--worker", str(self.ctx_file)],
                                env=self.ctx.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                text=True, start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def _fork(self, slot):
        """A worker forked from this process, which has nbgrader and the course loaded already (a
        started worker spends about a second of CPU loading them). The child holds no pipe of the
        other workers or of the kernel servers (it would keep their input open), runs in a session
        of its own, as a started worker does, and runs at its end the exit functions it registered
        (the folder of its kernels' sockets) and none of this process's (its kernel servers would
        stop). Only a process with one thread forks: a lock that another thread held at the fork
        would stay locked in the child."""
        log = os.open(self.ctx.work / f"worker-{slot}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        tasks_r, tasks_w = os.pipe()
        answers_r, answers_w = os.pipe()
        siblings = [pipe for proc in self.procs + _SERVERS for pipe in (proc.stdin, proc.stdout)]
        pid = os.fork()
        if pid == 0:                                     # the worker
            code = 1
            try:
                gc.freeze()                              # what it inherited stays: its collections skip it
                atexit._clear()                          # this process's exit (its kernel servers) is not the child's
                os.setsid()
                for pipe in siblings:
                    with contextlib.suppress(OSError, ValueError):
                        os.close(pipe.fileno())
                os.dup2(tasks_r, 0)
                os.dup2(log, 1)
                os.dup2(log, 2)
                for fd in (tasks_r, tasks_w, answers_r, log):
                    os.close(fd)
                for sig in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(sig, signal.SIG_DFL)
                sys.stdin = open(0, closefd=False)
                sys.stdout = sys.stderr = open(2, "w", buffering=1, closefd=False)
                os.environ.clear()
                os.environ.update(self.ctx.env)
                # Grade in a new thread: it starts with no event loop. This thread's loop, if this
                # process had one, shares its epoll instance with the parent and is left alone.
                answers = os.fdopen(answers_w, "w")
                server = threading.Thread(target=_serve, args=(self.ctx, sys.stdin, answers), name="worker")
                server.start()
                server.join()
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                atexit._run_exitfuncs()                  # the child's own (the folder of its kernels' sockets)
                os._exit(code)
        os.close(tasks_r)
        os.close(answers_w)
        os.close(log)
        proc = _Forked(pid, os.fdopen(tasks_w, "w"), os.fdopen(answers_r))
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
        slots = min(self.jobs, len(tasks))
        forked = {}
        if slots and hasattr(os, "fork") and threading.active_count() == 1:
            forked = {n: self._fork(n) for n in range(slots)}

        def slot(number):
            proc = forked.get(number) or self._start(number)
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

        threads = [threading.Thread(target=slot, args=(n,)) for n in range(slots)]
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
          feedback_dir=None, progress=True, warm_kernels=True, keep=None):
    """Grade every submission; returns the list of result dicts, one per submission that
    `paths` name (a `submitted/` folder names one per student in it), in order.

    `jobs` worker processes grade one submission each at a time, each submission in its own
    folder with its own kernels, against one gradebook. `keep` (default: when `db_url` is
    given, a gradebook that outlives the run) leaves each graded submission in the course
    for Formgrader and nbgrader's feedback (keep_in_course).
    """
    keep = bool(db_url) if keep is None else keep
    ctx = prepare(aid, course=course, work=work, db_url=db_url, timeout=timeout, cell_timeout=cell_timeout,
                  warm_kernels=warm_kernels, keep=keep)
    paths = expand(paths, aid)
    ids = student_ids(paths, ctx.notebooks, aid)
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
    gradebook = _sqlite_file(ctx.db_url)
    if keep and gradebook and gradebook.exists() and gradebook.resolve().is_relative_to(ctx.root.resolve()):
        _hand_over(gradebook, ctx.root)                 # Formgrader, run by the course's owner, writes it
    return results


def _sqlite_file(db_url):
    """The file of an SQLite gradebook URL, or None for another database."""
    m = re.match(r"sqlite:///(.+)$", db_url or "")
    return Path(m.group(1)) if m else None


def absolute_db_url(db_url):
    """An SQLite URL with a relative path (sqlite:///gradebook.db) made absolute from the current
    folder: grading runs in other folders, where the relative path would name another file."""
    path = _sqlite_file(db_url)
    return f"sqlite:///{path.resolve()}" if path and not path.is_absolute() else db_url


def main(argv=None):
    parser = argparse.ArgumentParser(prog="course-grade", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment", help="assignment id, e.g. a1_markov_hmm")
    parser.add_argument("submissions", nargs="+",
                        help="submitted .ipynb files, folders of them, or nbgrader's submitted/ folder "
                             "(its <student>/<assignment>/ folders; student ids are the folder names)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    parser.add_argument("--db", help="gradebook URL, e.g. sqlite:///COURSE/gradebook.db (the one Formgrader "
                                     "uses) or postgresql://user@host/db with the password in PGPASSWORD; "
                                     "the graded submissions are then also left in the course's submitted/ "
                                     "and autograded/ folders, for manual grading and nbgrader's feedback "
                                     "(default: a new SQLite file in the work folder, nothing left behind)")
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
        results = grade(args.assignment, args.submissions, jobs=args.jobs, db_url=absolute_db_url(args.db),
                        course=args.course,
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
