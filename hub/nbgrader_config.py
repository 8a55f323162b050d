"""nbgrader settings of every user of the class hub (read through JUPYTER_CONFIG_PATH, which
hub/jupyterhub_config.py sets): the course's own settings, so that the Validate button checks a
notebook exactly as the course's grading does, and the exchange through which assignments are
released, fetched, submitted and collected. hub/student/ and hub/instructor/ add what differs
by role."""

import os

c = get_config()  # noqa: F821 (provided by nbgrader)

# The course this hub serves: the checkout whose environment runs it (hub/..).
load_subconfig(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "nbgrader_config.py"))  # noqa: F821

# A folder every user can write to (nbgrader makes it world-writable). One machine: any local
# folder. Kubernetes: a volume shared by every user's pod, mounted at the same path.
c.Exchange.root = os.environ.get("COURSE_HUB_EXCHANGE", "/srv/nbgrader/exchange")  # CHANGE: the exchange folder
