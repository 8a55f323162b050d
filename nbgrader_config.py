"""nbgrader configuration: the course root is this repository.

Instructors edit the sources in solutions/<assignment>/ and run `make assignments`, which
writes the student versions to assignments/<assignment>/.
"""

import importlib.util
import os

from course_lib.grading import nbgrader_ext

c = get_config()  # noqa: F821 (provided by nbgrader)

# In every nbgrader command and course-grade: the gradebook's schema revision read in this
# process, cell metadata checked against a schema checked once, one engine per SQLite gradebook.
nbgrader_ext.install()

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "sequence-models"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"

# The student versions: nbgrader's steps, then the notebook and cell metadata in the house form
# (a source saved in JupyterLab carries the kernel's display name and the Python version).
c.GenerateAssignment.preprocessors = [
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "nbgrader.preprocessors.InstantiateTests",
    "nbgrader.preprocessors.LockCells",
    "nbgrader.preprocessors.ClearSolutions",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.CheckCellMetadata",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.SaveCells",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.CheckCellMetadata",
    "course_lib.grading.nbgrader_ext.HouseMetadata",
]

# What a student sees in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A graded notebook that hangs is stopped; an infinite loop never blocks a class.
c.ExecutePreprocessor.timeout = 300
c.Execute.timeout = 300
c.Execute.interrupt_on_timeout = True

# Kernels that grade or validate load course_lib.grading.demo_cells: a "Try it" cell whose first line
# is `# Try it (skipped when graded)` is not run then (it earns nothing and can cost more than
# every test together); in JupyterLab it runs as usual. No history file is written either.
c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:",
                             "--InteractiveShellApp.extensions=['course_lib.grading.demo_cells']"]

# Hidden tests and solutions stay out of the feedback a student receives, and the page states
# the scores in the words of course-grade's other reports ("autograded: 12 / 15", "written
# answers: 3 points to be graded by hand").
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "course_lib.grading.nbgrader_ext.CourseScores",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "nbgrader.preprocessors.ClearHiddenTests",
    "course_lib.grading.nbgrader_ext.ScrubTracebacks",
]
c.GenerateFeedback.exporter_class = "course_lib.grading.nbgrader_ext.FeedbackExporter"

# Formulas are typeset without the network: nbgrader's feedback and Formgrader pages call
# nbconvert's `mathjax` macro, which loads MathJax from a CDN; the course's (its templates/base/),
# found first, loads the copy of the jupyter-server-mathjax package. nbgrader's own templates
# (feedback, formgrade) stay where nbgrader looks for them.
c.HTMLExporter.extra_template_basedirs = [
    os.path.join(importlib.util.find_spec("nbgrader").submodule_search_locations[0],
                 "server_extensions", "formgrader", "templates"),
    os.path.join(os.path.dirname(importlib.util.find_spec("course_lib.grading").origin), "templates"),
]

# A harmless warning on stderr does not zero a test cell: stderr output that consists only
# of Python warnings (`file:line: SomeWarning: message` and its source line) is dropped
# before grading. Any other stderr output still scores 0, as nbgrader intends.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"\A(?:[^\n]*Warning: [^\n]*\n(?:[ \t]+[^\n]*\n)*)+\Z"

# Autograding splits every notebook between two processes (course_lib.grading.split_execute): the
# tests and the references they compare with run in the grading kernel, the student's cells in
# a separate process that holds no reference and, as root, cannot read the course's files.
c.Autograde.autograde_preprocessors = [
    "course_lib.grading.split_execute.SplitExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
