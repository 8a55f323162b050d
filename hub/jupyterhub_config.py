"""JupyterHub for a class of the course: students and instructors log in, each gets JupyterLab
on the course's environment, with the lectures in their home and nbgrader's exchange for
assignments (fetch, Validate and submit from the Assignments tab; release, collect, Formgrader
and feedback for instructors).

    .venv/bin/jupyterhub -f hub/jupyterhub_config.py

Every line an instructor edits is marked `# CHANGE:`. The settings at the top can also be given
in the environment (COURSE_HUB_<NAME>, e.g. COURSE_HUB_STUDENTS="alice bob"), which is how the
test suite runs this file unchanged in a temporary folder. Passwords come only from the
environment, never from this file.

As written it runs everything as the Linux user that starts the hub, with one shared password
for the students and one for the instructors: right for a workshop, a trial or the tests, not
for a class whose students must be kept apart. README.md, "A class on JupyterHub", says what to
use in production (a real authenticator, real Linux users or Kubernetes).
"""

import os
import pwd
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (provided by JupyterHub)

HUB = Path(__file__).resolve().parent      # this folder: the per-role nbgrader and Jupyter settings
BIN = Path(sys.executable).parent          # the course's environment (.venv/bin)


def setting(name, default):
    """A setting of this file; the environment variable COURSE_HUB_<NAME> overrides it."""
    return os.environ.get(f"COURSE_HUB_{name}", default)


# ----------------------------------------------------------------------------- the class

INSTRUCTORS = setting("INSTRUCTORS", "instructor").split()   # CHANGE: instructors' user names
STUDENTS = setting("STUDENTS", "alice bob").split()          # CHANGE: the class list
STATE = Path(setting("STATE", "/srv/jupyterhub"))            # CHANGE: the hub's own files (database, cookie secret)
HOMES = Path(setting("HOMES", str(STATE / "home")))         # CHANGE: where the "simple" spawner makes each home
LECTURES = Path(setting("LECTURES", str(HUB.parent / "notebooks")))   # CHANGE: the lectures every user sees
# The exchange folder and the instructor's course folder are set in hub/nbgrader_config.py and
# hub/instructor/nbgrader_config.py, where nbgrader reads them.

# ----------------------------------------------------------------------------- who may log in

c.JupyterHub.authenticator_class = "shared-password"        # CHANGE: e.g. "github" (OAuthenticator) or "ldapauthenticator"
c.Authenticator.allowed_users = set(STUDENTS) | set(INSTRUCTORS)
c.Authenticator.admin_users = set(INSTRUCTORS)               # the hub's admin page: start and stop students' servers
# Students log in with COURSE_HUB_PASSWORD (8 characters or more), instructors with
# COURSE_HUB_ADMIN_PASSWORD (32 or more). Whoever knows the students' password can log in as
# any student: a real authenticator is the remedy.
c.SharedPasswordAuthenticator.user_password = os.environ.get("COURSE_HUB_PASSWORD")
c.SharedPasswordAuthenticator.admin_password = os.environ.get("COURSE_HUB_ADMIN_PASSWORD")
c.JupyterHub.load_groups = {
    "instructors": {"users": INSTRUCTORS},
    "students": {"users": STUDENTS},
}

# ----------------------------------------------------------------------------- the hub itself

c.JupyterHub.bind_url = "http://:8000"                       # CHANGE: put HTTPS in front (a reverse proxy, or ssl_cert/ssl_key)
STATE.mkdir(parents=True, exist_ok=True)
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
# The proxy is the Python port of configurable-http-proxy (a PyPI package of the course's
# environment), so the hub needs no Node.js. Unlike Node's program it gives up on a request after
# 20 s unless told otherwise (503): a server that takes longer to start would leave its user on
# the "pending" page for good, and a Validate or a Formgrader action on a busy machine would fail.
c.ConfigurableHTTPProxy.command = [str(BIN / "configurable-http-proxy"), "--proxy-timeout", str(3600 * 1000)]   # ms
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")

# ----------------------------------------------------------------------------- each user's server

c.JupyterHub.spawner_class = "simple"                        # CHANGE: "localprocess" with real Linux users, or KubeSpawner
c.SimpleLocalProcessSpawner.home_dir_template = str(HOMES / "{username}")
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]   # JupyterLab from the course's environment
if os.geteuid() == 0:   # a hub started by root runs every server as root with this spawner
    c.SimpleLocalProcessSpawner.args = ["--ServerApp.allow_root=True"]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 300                                # a busy server (a class logging in at once, a slow machine) starts JupyterLab slowly
c.Spawner.http_timeout = 300
c.Spawner.env_keep.extend(["COURSE_HUB_EXCHANGE", "COURSE_HUB_COURSE"])   # read by the nbgrader settings


def role(user_name):
    return "instructor" if user_name in INSTRUCTORS else "student"


c.Spawner.environment = {
    # the course's environment first: nbgrader runs its tools (alembic) from there
    "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "/usr/bin:/bin")]),
    # nbgrader and Jupyter settings by role: hub/<role>/ (Formgrader for instructors only), then hub/
    "JUPYTER_CONFIG_PATH": lambda spawner: os.pathsep.join([str(HUB / role(spawner.user.name)), str(HUB)]),
}


def home_of(spawner):
    """The user's home on this machine: the spawner's ("simple") or the Linux user's
    ("localprocess"); None where servers run elsewhere (Kubernetes: mount the lectures instead)."""
    if getattr(spawner, "home_dir", None):
        return Path(spawner.home_dir)
    try:
        return Path(pwd.getpwnam(spawner.user.name).pw_dir)
    except KeyError:
        return None


def link_lectures(spawner):
    """Before a server starts: its home exists and shows the lectures as the folder `lectures`."""
    home = home_of(spawner)
    if home is None:
        return
    home.mkdir(parents=True, exist_ok=True)
    link = home / "lectures"
    if not link.exists() and not link.is_symlink():
        link.symlink_to(LECTURES, target_is_directory=True)


c.Spawner.pre_spawn_hook = link_lectures
