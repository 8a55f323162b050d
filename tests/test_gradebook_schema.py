"""A new gradebook is stamped with nbgrader's schema revision read in the same process
(course_lib.grading.nbgrader_ext.read_schema_head) instead of by a new `alembic heads` process.
Oracle: alembic's own command line, run on nbgrader's migrations (`heads`) and on the new
gradebook (`current`)."""

import os
import subprocess
import sys

import nbgrader.api
from nbgrader.dbutil import _temp_alembic_ini
from traitlets.config.loader import PyFileConfigLoader

from course_lib.grading.nbgrader_ext import read_schema_head

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALEMBIC = os.path.join(os.path.dirname(sys.executable), "alembic")


def alembic(db_url, *args):
    with _temp_alembic_ini(db_url) as ini:
        out = subprocess.run([ALEMBIC, "-c", ini, *args], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_the_head_is_the_one_alembic_reports(tmp_path):
    heads = alembic(f"sqlite:///{tmp_path / 'unused.db'}", "heads")
    assert heads[1:] == ["(head)"], heads
    assert read_schema_head() == heads[0]


def test_the_course_config_installs_it_and_a_new_gradebook_is_at_the_head(tmp_path, monkeypatch):
    monkeypatch.setattr(nbgrader.api, "get_alembic_version", lambda: "not-the-head")
    PyFileConfigLoader("nbgrader_config.py", path=REPO).load_config()
    assert nbgrader.api.get_alembic_version is read_schema_head
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with nbgrader.api.Gradebook(url):
        pass
    assert alembic(url, "current") == [read_schema_head(), "(head)"]
