"""nbgrader checks the metadata of every graded cell with jsonschema.validate, which checks the
schema itself against its metaschema on every call; course_lib.grading.nbgrader_ext.validate_metadata
checks it once per process. Oracle: jsonschema.validate itself, on nbgrader's own schema, for
valid and invalid metadata and for a broken schema."""

import json
from pathlib import Path

import jsonschema
import nbgrader.nbgraderformat.common as common
import pytest
from nbformat.v4 import new_code_cell
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from traitlets.config.loader import PyFileConfigLoader

from course_lib.grading import nbgrader_ext

REPO = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((Path(common.__file__).parent / "v3.json").read_text())
VALID = {"schema_version": 3, "grade": True, "solution": False, "locked": True, "points": 2,
         "grade_id": "test_a", "task": False}
INVALID = [
    {**VALID, "points": "two"},                               # a wrong type
    {**VALID, "solution": None},                              # a null where a boolean belongs
    {**VALID, "grade": "yes", "points": -1},                  # two faults: best_match picks one
]


def outcome(validate, instance, schema):
    try:
        validate(instance, schema)
    except (jsonschema.ValidationError, jsonschema.SchemaError) as err:
        return type(err).__name__, err.message, list(err.path)
    return "valid"


@pytest.mark.parametrize("instance", [VALID, *INVALID])
def test_the_same_verdict_as_jsonschema(instance):
    assert outcome(nbgrader_ext.validate_metadata, instance, SCHEMA) == outcome(jsonschema.validate, instance, SCHEMA)


def test_the_schema_is_checked_once(monkeypatch):
    checks = []
    kind = jsonschema.validators.validator_for(SCHEMA)
    real = kind.check_schema
    monkeypatch.setattr(kind, "check_schema", classmethod(lambda cls, s, **kw: checks.append(s) or real(s, **kw)))
    nbgrader_ext._checked_validator.cache_clear()
    for instance in [VALID, *INVALID] * 3:
        outcome(nbgrader_ext.validate_metadata, instance, SCHEMA)
    assert len(checks) == 1
    outcome(jsonschema.validate, VALID, SCHEMA)
    assert len(checks) == 2, "the premise: jsonschema.validate checks the schema on every call"


def test_a_broken_schema_is_refused_every_time():
    nbgrader_ext._checked_validator.cache_clear()
    broken = {**SCHEMA, "type": 12}
    for _ in range(2):
        got = outcome(nbgrader_ext.validate_metadata, VALID, broken)
        assert got[0] == "SchemaError" and got == outcome(jsonschema.validate, VALID, broken)


def test_the_course_config_installs_it_for_nbgrader(monkeypatch):
    monkeypatch.setattr(common, "jsonschema", jsonschema)
    PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()
    assert common.jsonschema.validate is nbgrader_ext.validate_metadata
    validator = MetadataValidator()
    validator.validate_cell(new_code_cell("x = 1", metadata={"nbgrader": dict(VALID)}))
    with pytest.raises(ValidationError, match="'two' is not of type 'number'"):
        validator.validate_cell(new_code_cell("x = 1", metadata={"nbgrader": INVALID[0]}))
