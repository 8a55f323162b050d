"""nbgrader opens the gradebook anew several times per graded submission, each time with a new
SQLAlchemy engine; course_lib.grading.nbgrader_ext.gradebook_engine (installed by
nbgrader_config.py) keeps one engine per SQLite gradebook and process, with no pooled
connection. Oracle: the same operations through nbgrader's own engine-per-Gradebook, read back
with the sqlite3 module; a gradebook file replaced at the same path is read afresh."""

import sqlite3
from pathlib import Path

import nbgrader.api
import pytest
import sqlalchemy
from traitlets.config.loader import PyFileConfigLoader

from course_lib.grading import nbgrader_ext

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def engines(monkeypatch):
    """Count the engines made (nbgrader's own create_engine until a test installs the shared one);
    start with none remembered."""
    made = []
    real = sqlalchemy.create_engine

    def counted(url, **options):
        made.append(str(url))
        return real(url, **options)

    monkeypatch.setattr(sqlalchemy, "create_engine", counted)
    monkeypatch.setattr(nbgrader.api, "create_engine", counted)          # nbgrader's own, counted
    monkeypatch.setattr(nbgrader.api, "get_alembic_version", nbgrader_ext.read_schema_head)
    nbgrader_ext._shared_engine.cache_clear()
    return made


def fill(url, students):
    for student in students:
        with nbgrader.api.Gradebook(url) as gb:
            gb.add_student(student, first_name=student.title())
            gb.add_assignment(f"hw-{student}")


def read(path):
    with sqlite3.connect(path) as db:
        return (sorted(db.execute("SELECT id, first_name FROM student")),
                sorted(r[0] for r in db.execute("SELECT name FROM assignment")))


def test_the_gradebook_is_the_one_nbgraders_own_engine_writes(tmp_path, engines, monkeypatch):
    students = ["ada", "bo", "cy"]
    fill(f"sqlite:///{tmp_path / 'own.db'}", students)        # nbgrader's create_engine, per Gradebook
    assert len(engines) == 3
    monkeypatch.setattr(nbgrader.api, "create_engine", nbgrader_ext.gradebook_engine)
    engines.clear()
    fill(f"sqlite:///{tmp_path / 'shared.db'}", students)
    assert engines == [f"sqlite:///{tmp_path / 'shared.db'}"], "one engine for three Gradebooks"
    assert read(tmp_path / "shared.db") == read(tmp_path / "own.db")
    assert read(tmp_path / "own.db")[0] == [("ada", "Ada"), ("bo", "Bo"), ("cy", "Cy")]


def test_a_gradebook_replaced_at_the_same_path_is_read_afresh(tmp_path, engines, monkeypatch):
    """A Gradebook left open (never closed, so its engine is never disposed) has written to the
    file; the file is replaced; a new Gradebook at the same path reads the new file, not the old
    one through a connection kept from before."""
    monkeypatch.setattr(nbgrader.api, "create_engine", nbgrader_ext.gradebook_engine)
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    left_open = nbgrader.api.Gradebook(url)
    left_open.add_student("ada")
    (tmp_path / "gradebook.db").unlink()
    fill(url, ["bo"])
    with nbgrader.api.Gradebook(url) as gb:
        assert [s.id for s in gb.students] == ["bo"]
    assert read(tmp_path / "gradebook.db")[0] == [("bo", "Bo")]
    assert len(engines) == 1
    left_open.close()


@pytest.mark.parametrize("url", ["postgresql://grader@127.0.0.1:1/gradebook", "sqlite://", "sqlite:///:memory:"])
def test_other_databases_get_nbgraders_own_engine(engines, monkeypatch, url):
    """PostgreSQL (not connected to here: the engine is only made), and SQLite in memory, where
    each connection would have a database of its own."""
    first, second = nbgrader_ext.gradebook_engine(url), nbgrader_ext.gradebook_engine(url)
    assert first is not second and engines == [url, url]
    assert not isinstance(first.pool, sqlalchemy.pool.NullPool)
    if url.startswith("sqlite"):
        monkeypatch.setattr(nbgrader.api, "create_engine", nbgrader_ext.gradebook_engine)
        with nbgrader.api.Gradebook(url) as gb:                   # a gradebook in memory still works
            gb.add_student("ada")
            assert [s.id for s in gb.students] == ["ada"]


def test_the_course_config_installs_it(engines):
    PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()
    assert nbgrader.api.create_engine is nbgrader_ext.gradebook_engine
