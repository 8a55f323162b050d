"""Grading: what test cells use, and the machinery that autogrades a class.

Test cells import this package as `from course_lib import grading as G`; its names are the
helpers of `course_lib.grading.checks` (check_array, check_output, call, substitute, ...),
loaded on first use so that the processes below do not load them for nothing.

The machinery, one module per job (CONTRIBUTING.md, "How grading works"):

    grader          course-grade: prepare a course, grade submissions in worker processes
    submission      rebuild a submission around the student's answers
    results         scores and verdicts in the gradebook, feedback, summaries
    split_execute   autograde with the student's code in its own process, and its edition of
                    course_lib
    answer_process  the process that runs the student's code
    answer_proxy    the grading kernel's side of it
    wire            the plain-data format between the two
    sandbox         the doors a process closes before it runs a student's code
    kernel_server   warm kernels and answer processes, forked from one loaded interpreter
    kernel_client   what jupyter_client starts for a warm kernel
    kernel_manager  the grading kernels' jupyter_client manager: ready as soon as the kernel is
    environment     the environment every grading process starts from
    originality     does an answer use or copy the course's reference?
    demo_cells      "Try it" cells that do not run when graded
    nbgrader_ext    nbgrader preprocessors of the course's feedback
"""


def __getattr__(name):
    import importlib

    if name.startswith("__"):
        raise AttributeError(name)
    checks = importlib.import_module("course_lib.grading.checks")
    try:
        return getattr(checks, name)
    except AttributeError:
        raise AttributeError(f"module 'course_lib.grading' has no attribute {name!r}") from None


def __dir__():
    import importlib

    return sorted(set(globals()) | set(importlib.import_module("course_lib.grading.checks").__all__))
