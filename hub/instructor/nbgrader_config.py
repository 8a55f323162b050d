"""nbgrader settings of an instructor on the class hub (after hub/nbgrader_config.py): the course
folder where assignments are released from, collected into, graded and given feedback, so that
Formgrader and the nbgrader commands work from any folder of the instructor's JupyterLab."""

import os

c = get_config()  # noqa: F821 (provided by nbgrader)

# The instructor's own clone of the course (solutions/, assignments/, and nbgrader's submitted/,
# autograded/, feedback/ and gradebook.db once used). Its nbgrader_config.py sets the course id
# and makes that folder the course root.
COURSE = os.environ.get("COURSE_HUB_COURSE", os.path.expanduser("~/sequence-models"))  # CHANGE: the instructor's course folder
if not os.path.isfile(os.path.join(COURSE, "nbgrader_config.py")):
    raise FileNotFoundError(f"no course at {COURSE}: clone the course there or set COURSE_HUB_COURSE")
load_subconfig(os.path.join(COURSE, "nbgrader_config.py"))  # noqa: F821
