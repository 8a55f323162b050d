"""The environment every grading process starts from, built in this one place.

    grading_environment(...)   the grader's processes: workers, the grading kernel, the kernel
                               server (course_lib.grading.grader.prepare)
    without_secrets(env)       what a process that may run or start student code gets
    answer_environment(env)    the answer process's, from the grading kernel's

Variables the grading processes read:

    COURSE_SANDBOX_SECONDS   wall-clock limit of a sandboxed process
    COURSE_SANDBOX_ISOLATE   "1": this process becomes `nobody` (course_lib.grading.sandbox)
    COURSE_SANDBOX_PIDFILE   where a sandboxed process records itself, to be killed on timeout
    COURSE_SANDBOX_HOMES     the folder a sandboxed process makes its private home in, removed
                             with what is in it when the notebook is graded (split_execute)
    COURSE_ANSWERS_ISOLATE   "1": answer processes become `nobody`
    COURSE_ANSWER_LIB        the folder of course_lib's edition (course_lib.grading.split_execute)
    COURSE_ANSWER_TIMEOUT    seconds a call of the student's code may take
    COURSE_KERNEL_SERVER     the warm-process server's socket (course_lib.grading.kernel_server)
    COURSE_PRIVATE_ROOTS     course folders to close to other users while isolating
"""

import contextlib
import os
import re
import sys

SECRET = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|DATABASE_URL|^PG|DB_URL|API_KEY)", re.I)
# One BLAS/OpenMP thread per process: the grader runs -j kernels at once, and test cells are small.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def without_secrets(env):
    """`env` less database URLs and passwords, tokens and keys."""
    return {k: v for k, v in env.items() if not SECRET.search(k)}


def single_threaded(env):
    """`env` with one BLAS/OpenMP thread, unless it says otherwise."""
    for var in THREAD_VARIABLES:
        env.setdefault(var, "1")
    return env


def grading_environment(base, *, root, jupyter_path, timeout, isolated):
    """The environment of the grader's processes for the course at `root`: the course's
    Python first on PATH (nbgrader runs `alembic`), the grading kernelspec found first, the
    limits, and who runs the student's code (see the module docstring)."""
    env = dict(base)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["JUPYTER_PATH"] = os.pathsep.join([str(jupyter_path), *[p for p in env.get("JUPYTER_PATH", "").split(os.pathsep)
                                                                 if p and "course-grade" not in p]])
    env["COURSE_SANDBOX_SECONDS"] = str(timeout)
    # The grading kernel runs only the course's code, as the grader's user; the student's code
    # runs in the answer process, as `nobody` when that is possible.
    env["COURSE_SANDBOX_ISOLATE"] = "0"
    env["COURSE_ANSWERS_ISOLATE"] = "1" if isolated else "0"
    env["COURSE_PRIVATE_ROOTS"] = str(root)
    return single_threaded(env)


def answer_environment(env, isolate):
    """The answer process's environment, from the grading kernel's `env`."""
    out = without_secrets(env)
    out["COURSE_SANDBOX_ISOLATE"] = "1" if isolate else "0"
    return out


@contextlib.contextmanager
def temporarily(**values):
    """Set environment variables for the length of a `with` block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
