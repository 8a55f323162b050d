"""nbgrader settings of a student on the class hub (after hub/nbgrader_config.py)."""

import os

c = get_config()  # noqa: F821 (provided by nbgrader)

# A submission is named after the student's hub account. nbgrader would otherwise use the name
# of the Linux user, which every student shares when the servers run as one user (this hub's
# SimpleLocalProcessSpawner, or the `jovyan` of a Docker or Kubernetes image).
if os.environ.get("JUPYTERHUB_USER"):
    c.CourseDirectory.student_id = os.environ["JUPYTERHUB_USER"]

# A student's course folder is their home, where fetched assignments and feedback go; the
# instructor's folders stay out of reach.
c.CourseDirectory.root = os.path.expanduser("~")
