"""The kernel that runs a submission while it is graded.

    python -m course_lib.grading.sandbox -f CONNECTION_FILE

It starts an ordinary IPython kernel after closing the doors a submission could use to
reach past its own answers:

- as root (CI, a grading container) it switches to the unprivileged user `nobody`, so the
  submission can read the course but can write neither the gradebook, nor solutions/, nor
  another student's files (the grader asks for this only when `isolation_available()`);
- it removes secrets from the environment (database URLs and passwords, tokens), so a
  PostgreSQL gradebook cannot be reached with the grader's credentials;
- it gets a private, writable home folder (in COURSE_SANDBOX_HOMES when set, the folder that
  SplitExecute removes once the notebook is graded) and a wall-clock limit after which it kills
  itself, so a loop that ignores SIGINT cannot hold a grading worker forever;
- it caps memory and the size of files it may write.

Nothing here changes what a correct answer computes.
"""

import os
import pwd
import resource
import shutil
import signal
import sys
import tempfile

from course_lib.grading.environment import SECRET

MEMORY_LIMIT = int(os.environ.get("COURSE_SANDBOX_MEMORY", str(6 * 1024**3)))       # bytes
FILE_LIMIT = int(os.environ.get("COURSE_SANDBOX_FILESIZE", str(64 * 1024**2)))      # bytes
WALL_LIMIT = int(os.environ.get("COURSE_SANDBOX_SECONDS", "900"))                   # seconds


def _drop_to_nobody():
    nobody = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)


def process_start_time(pid):
    """The start time of process `pid` (clock ticks after boot, /proc/<pid>/stat field 22), or
    None when there is no such process. A pid with its start time names one process for good:
    pids are reused, and a pid alone could name somebody else's process later."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


_ISOLATED = []       # [True] once `nobody` has started this Python: no need to ask again


def isolation_available():
    """True when this process is root and `nobody` can start this Python with ipykernel.

    The interpreter must be reachable by other users: a Python under a private home folder
    (/root is 0700 on many machines) needs `chmod o+x` on that folder first. A yes is kept for
    the rest of the process (asking starts a Python, a third of a second); a no is asked again,
    so that a folder opened meanwhile counts at the next grading run.
    """
    if _ISOLATED:
        return True
    if os.geteuid() != 0:
        return False
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return False
    import subprocess

    try:
        proc = subprocess.run([sys.executable, "-c", "import ipykernel, numpy"], preexec_fn=_drop_to_nobody,
                              capture_output=True, cwd="/", timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    if proc.returncode == 0:
        _ISOLATED.append(True)
    return proc.returncode == 0


def homes_folder(prefix="course-sandbox-homes-"):
    """A new folder for the private homes of sandboxed processes (set it as COURSE_SANDBOX_HOMES,
    and remove it once they are done). 0711: a process that became `nobody` reaches its own
    home, and lists no other."""
    folder = tempfile.mkdtemp(prefix=prefix)
    os.chmod(folder, 0o711)
    return folder


def _connection_file(argv):
    for i, arg in enumerate(argv):
        if arg == "-f" and i + 1 < len(argv):
            return i + 1, argv[i + 1]
        if arg.startswith("-f="):
            return i, arg[3:]
    raise SystemExit("sandbox_kernel: expected -f CONNECTION_FILE")


def prepare(argv=None):
    """Close the doors (see the module docstring) in this process. With kernel arguments
    `argv`, return them for IPKernelApp with the connection file replaced by a private copy.
    After this call the process may be `nobody`, with limits set and the alarm running."""
    homes = os.environ.get("COURSE_SANDBOX_HOMES")       # removed by whoever made it, once graded
    home = tempfile.mkdtemp(prefix="course-sandbox-home-", dir=homes if homes and os.path.isdir(homes) else None)
    if argv is not None:
        argv = list(argv)
        index, conn = _connection_file(argv)
        private_conn = os.path.join(home, "kernel.json")
        shutil.copy(conn, private_conn)                      # readable after the switch below
        if argv[index].startswith("-f="):
            argv[index] = f"-f={private_conn}"
        else:
            argv[index] = private_conn
    for name in list(os.environ):
        if SECRET.search(name):
            del os.environ[name]
    os.environ.update({
        "HOME": home, "IPYTHONDIR": os.path.join(home, ".ipython"),
        "MPLCONFIGDIR": os.path.join(home, ".matplotlib"),
        "JUPYTER_RUNTIME_DIR": os.path.join(home, ".runtime"),
        "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1",
    })

    isolate = os.environ.pop("COURSE_SANDBOX_ISOLATE", "") == "1" and os.geteuid() == 0
    # The grader kills the processes listed in the pid file on timeout (exec keeps the pid and
    # start time). A process that stays the grader's user (the grading kernel) keeps the file's
    # name, so that the processes it starts register too; one that becomes `nobody` forgets it.
    pidfile = os.environ.pop("COURSE_SANDBOX_PIDFILE", "") if isolate else os.environ.get("COURSE_SANDBOX_PIDFILE", "")
    if pidfile:
        with open(pidfile, "a") as f:
            f.write(f"{os.getpid()} {process_start_time(os.getpid())}\n")

    if isolate:
        nobody = pwd.getpwnam("nobody")
        for folder, _, files in os.walk(home):
            os.chown(folder, nobody.pw_uid, nobody.pw_gid)
            for f in files:
                os.chown(os.path.join(folder, f), nobody.pw_uid, nobody.pw_gid)
        _drop_to_nobody()

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
    # The alarm's default action ends the process; the kernel's own code is not yet loaded,
    # and a submission that catches SIGALRM is still stopped by the grader's own time limit.
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(WALL_LIMIT)
    return None if argv is None else ["--IPKernelApp.log_level=ERROR", *argv]


def main(argv=None):
    argv = prepare(sys.argv[1:] if argv is None else argv)
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *argv])


if __name__ == "__main__":
    main()
