"""Demonstration cells that do not run while a notebook is graded or validated.

An assignment's "Try it" cell lets a student watch their answers at work (Baum-Welch
learning the casino, gradients vanishing over time). It earns no points, and it can cost
more than every test cell together. A code cell whose first line is

    # Try it (skipped when graded)

runs as usual in JupyterLab, and is replaced by a one-line note while nbgrader autogrades
or validates the notebook (nbgrader sets NBGRADER_EXECUTION in the kernel's environment
then). The kernel loads this module as an IPython extension; nbgrader_config.py and the
grading sandbox pass it on the kernel's command line, so no notebook has to import it.

Nothing is gained by putting the marker on an answer cell: that answer is then not run
when graded, and its tests fail.
"""

import os

DEMO_MARKER = "# Try it (skipped when graded)"
NOTE = "This demonstration cell is not run when the notebook is graded or validated."
KERNEL_ARGUMENT = "--InteractiveShellApp.extensions=['course_lib.grading.demo_cells']"


def is_demo(source):
    """True when a cell's source starts with the marker line (leading blank lines allowed)."""
    for line in source.splitlines():
        if line.strip():
            return line.strip() == DEMO_MARKER
    return False


def skip_demo(lines):
    """IPython input transformer: a demonstration cell becomes a print of NOTE."""
    if is_demo("".join(lines)):
        return [f"print({NOTE!r})\n"]
    return lines


def load_ipython_extension(ip):
    """Install the transformer, only while nbgrader grades or validates."""
    if os.environ.get("NBGRADER_EXECUTION") and skip_demo not in ip.input_transformers_cleanup:
        ip.input_transformers_cleanup.append(skip_demo)
