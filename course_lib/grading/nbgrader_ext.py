"""nbgrader extensions used by nbgrader_config.py: what the feedback page shows, and what nbgrader
need not work out again for every submission.

    HouseMetadata      a student version's metadata in the house form, however its source was saved
    ScrubTracebacks    a failed test shows the message written for the student, nothing else
    CourseScores       the scores in the words of every other report (results.score_words)
    FeedbackExporter   nbgrader's feedback page with those words, and MathJax from this machine
    read_schema_head   the gradebook schema version, read in this process
    validate_metadata  nbgrader's check of a cell's metadata, its schema checked once
    gradebook_engine   one SQLAlchemy engine per SQLite gradebook and process
    install            puts the last three in nbgrader's place (nbgrader_config.py calls it)

The templates are in templates/: course_feedback.html.j2 (the feedback page) and
base/mathjax.html.j2 (nbconvert's `mathjax` macro, loading MathJax without the network; with
templates/ among HTMLExporter.extra_template_basedirs, as nbgrader_config.py sets it, it is
found before nbconvert's own by the feedback and by Formgrader).
"""

import copy
import functools
import json
import re
import types
from pathlib import Path

import jinja2
import jsonschema
import nbformat
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, default

from course_lib.course import CELL_METADATA, HOUSE_METADATA
from course_lib.grading.results import part_words, score_words, tally


class HouseMetadata(Preprocessor):
    """generate_assignment: the notebook's metadata becomes the house form (HOUSE_METADATA) and
    each cell keeps only the metadata of CELL_METADATA, whatever JupyterLab wrote when the
    instructor saved the source (the kernel's display name, the language's version, a cell's
    collapsed or scrolled state), so that a save changes nothing in assignments/."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        nb.metadata = nbformat.from_dict(copy.deepcopy(HOUSE_METADATA))
        for cell in nb.cells:
            cell.metadata = nbformat.from_dict({k: v for k, v in cell.metadata.items()
                                                if k in CELL_METADATA and (v or k != "tags")})
        return nb, resources


class ScrubTracebacks(Preprocessor):
    """Feedback keeps only the last line of an error in a graded test cell, and none of the
    grading receipts (data the grader reads; nothing for a student to see).

    A traceback prints the source lines of the test that failed, hidden tests included.
    The last line (`GradingError: log_alpha is wrong (case: ...): largest error ...`) is
    the message written for the student, and is all the feedback shows.
    """

    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", [])
                            if "application/vnd.course-grading.receipt+json" not in o.get("data", {})]
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        return cell, resources


class CourseScores(Preprocessor):
    """The scores of the feedback page in the words of the console table, the Markdown summary
    and the JSON of course-grade (course_lib.grading.results.score_words), read from the
    gradebook: `resources["course_scores"]`, the lines under the notebook's name
    ("autograded: 12 / 15", "written answers: 3 points to be graded by hand"), and each graded
    cell's `metadata.nbgrader.course_score` ("1 / 1", "3 points to be graded by hand").
    Runs after nbgrader's GetGrades."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook

        ids = resources["nbgrader"]
        with Gradebook(ids["db_url"]) as gb:
            notebook = gb.find_submission_notebook(ids["notebook"], ids["assignment"], ids["student"])
            grades = {g.name: g for g in notebook.grades}
            resources["course_scores"] = score_words(tally(notebook.grades))
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader", {})
                grade = grades.get(meta.get("grade_id"))
                if meta.get("grade") and grade is not None:
                    meta["course_score"] = part_words(
                        grade.score, grade.max_score, grade.cell_type != "code" and grade.needs_manual_grade)
        return nb, resources


TEMPLATES = Path(__file__).resolve().parent / "templates"
# MathJax's parts that a page in English, typeset by HTML-CSS in the STIX-Web fonts, never loads
MATHJAX_UNUSED = ("localization", "SVG", "a11y")


class FeedbackExporter(HTMLExporter):
    """The exporter of nbgrader's GenerateFeedback (with its template `feedback`), rendering
    templates/course_feedback.html.j2: the scores in the course's words (CourseScores), and
    MathJax from this machine (templates/base/mathjax.html.j2), with a copy of it in the feedback
    folder (copy_mathjax) for pages opened from disk, unless `mathjax_copy` is off (course-grade
    copies it once to where it puts the pages)."""

    mathjax_copy = Bool(True, help="copy MathJax into the feedback folder").tag(config=True)

    @default("extra_loaders")
    def _extra_loaders_default(self):
        return [jinja2.FileSystemLoader(str(TEMPLATES))]

    @default("template_file")
    def _template_file_default(self):
        return "course_feedback.html.j2"

    def from_notebook_node(self, nb, resources=None, **kw):
        """HTMLExporter's conversion, with its last step (parsing the whole page with
        BeautifulSoup to add alt texts and tab stops, half the time of a feedback page) done by
        accessible() on the rendered text instead."""
        coursedir = getattr(self.parent, "coursedir", None)        # the GenerateFeedback converter's
        if coursedir is not None and self.mathjax_copy:
            copy_mathjax(coursedir.format_path(coursedir.feedback_directory, ".", "."))
        return render_html(self, nb, resources, **kw)


class _CompiledTemplates(jinja2.BytecodeCache):
    """Jinja's compiled templates, kept in this process for every exporter: nbgrader makes a new
    exporter, and so a new Jinja environment, for every feedback page, and parsing and compiling
    nbconvert's templates again took a quarter of the page's time. Jinja checks the source's
    checksum on every load, so an edited template is compiled anew."""

    def __init__(self):
        self._code = {}

    def load_bytecode(self, bucket):
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)             # ignored by Jinja if the checksum differs

    def dump_bytecode(self, bucket):
        self._code[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = _CompiledTemplates()
_HIGHLIGHTED = {}                                         # (lexer, options, source, language, magics) -> HTML
_HIGHLIGHTED_MOST = 20_000


def _remembered(highlight):
    """nbconvert's highlight_code filter, remembering what it returned: the given cells and visible
    tests of an assignment are the same on every student's page. Of a cell's metadata the filter
    reads only `magics_language`, so only that is part of the key (the rest, such as the
    execution times nbgrader records, differs from page to page)."""
    options = json.dumps(highlight.extra_formatter_options, sort_keys=True, default=str)

    def highlighted(source, language=None, metadata=None):
        key = (highlight.pygments_lexer, options, source, language, (metadata or {}).get("magics_language"))
        html = _HIGHLIGHTED.get(key)
        if html is None:
            if len(_HIGHLIGHTED) >= _HIGHLIGHTED_MOST:
                _HIGHLIGHTED.clear()
            html = _HIGHLIGHTED[key] = highlight(source, language, metadata)
        return html
    return highlighted


def render_html(exporter, nb, resources=None, **kw):
    """What HTMLExporter.from_notebook_node returns (nbconvert 7), for an HTMLExporter: the same
    filters and template, with the alt texts and tab stops added by accessible(), the templates
    compiled once per process and each cell's source highlighted once per process."""
    langinfo = nb.metadata.get("language_info", {})
    lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
    highlight = exporter.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=exporter))
    if isinstance(highlight, Highlight2HTML):
        highlight = _remembered(highlight)
    exporter.register_filter("highlight_code", highlight)
    exporter.environment.bytecode_cache = COMPILED_TEMPLATES
    resources = exporter._init_resources(resources)
    exporter.register_filter("filter_data_type", WidgetsDataTypeFilter(
        notebook_metadata=exporter._nb_metadata, parent=exporter, resources=resources))
    html, resources = TemplateExporter.from_notebook_node(exporter, nb, resources, **kw)
    return accessible(html), resources


_IMG_WITHOUT_ALT = re.compile(r"<img(?![^>]*\balt=)")
_FOCUSABLE = re.compile(r'(<div class="[^"]*\b(?:jp-Cell-inputWrapper|jp-OutputArea-output)\b[^"]*")')


def accessible(html):
    """What nbconvert's HTMLExporter adds to a page: an alt text on every image without one, and
    a tab stop on every cell's input and output (div.jp-Cell-inputWrapper, div.jp-OutputArea-output)."""
    html = _IMG_WITHOUT_ALT.sub('<img alt="No description has been provided for this image"', html)
    return _FOCUSABLE.sub(r'\1 tabindex="0"', html)


def copy_mathjax(folder):
    """Put MathJax 2.7 (jupyter-server-mathjax's copy, less the parts a page never loads) in
    folder/mathjax/, once: the feedback pages in folder/<student>/ and below find it there when
    they are opened from disk. Without jupyter-server-mathjax installed, nothing is copied (the
    pages still find MathJax when a Jupyter server with it shows them)."""
    import os
    import shutil
    import tempfile

    try:
        import jupyter_server_mathjax
    except ImportError:
        return None
    target = Path(folder) / "mathjax"
    if (target / "MathJax.js").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".mathjax-", dir=target.parent))
    try:
        shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / "static", staging / "mathjax",
                        ignore=lambda _, names: [n for n in names if n in MATHJAX_UNUSED])
        for p in [staging / "mathjax", *(staging / "mathjax").rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        os.rename(staging / "mathjax", target)           # whole or not at all; a parallel copy may win
    except OSError:
        if not (target / "MathJax.js").is_file():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def read_schema_head():
    """The revision that nbgrader stamps on a new gradebook: the head of its alembic migrations,
    read from nbgrader's own migration scripts in this process.

    nbgrader's get_alembic_version asks for the same revision by running `alembic heads` in a
    new Python process, for every new gradebook (0.9 s of CPU, where this takes 0.07 s)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import _temp_alembic_ini

    with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as alembic_ini:   # the URL is not used
        heads = ScriptDirectory.from_config(Config(alembic_ini)).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"nbgrader's migrations have {len(heads)} heads ({heads}); expected one")
    return heads[0]


def validate_metadata(instance, schema, cls=None, *args, **kwargs):
    """jsonschema.validate, with the schema itself checked once per process rather than on every
    call. nbgrader validates the metadata of every graded cell this way, several times per
    notebook, and checking its schema against the metaschema was nine tenths of that time. The
    same errors are raised: best_match of the validator's errors, or the SchemaError of a bad
    schema (which is never remembered)."""
    if cls is not None or args or kwargs:
        return jsonschema.validate(instance, schema, cls, *args, **kwargs)
    validator = _checked_validator(json.dumps(schema, sort_keys=True))
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


@functools.lru_cache(maxsize=64)
def _checked_validator(schema_json):
    """The validator of a schema (given as JSON), once the schema is checked against its metaschema."""
    schema = json.loads(schema_json)
    kind = jsonschema.validators.validator_for(schema)
    kind.check_schema(schema)
    return kind(schema)


def gradebook_engine(url, **options):
    """sqlalchemy.create_engine as nbgrader's Gradebook calls it, with one engine per SQLite
    gradebook and process instead of one per Gradebook object. An engine keeps its dialect and
    its compiled statements: nbgrader opens the gradebook several times per graded submission,
    and setting up a new engine and compiling the same queries again each time took a sixth of
    a grading worker's time. The engine pools no connection (NullPool): each one is opened for
    its use and closed after it, so a gradebook file replaced at the same path is read afresh.
    Any other database (PostgreSQL, or SQLite in memory) gets nbgrader's own engine, as before."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:") or "poolclass" in options:
        return create_engine(url, **options)            # each in-memory database is its connection's own
    return _shared_engine(str(url), tuple(sorted(options.items())))


@functools.lru_cache(maxsize=1_000)
def _shared_engine(url, options):
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(url, poolclass=NullPool, **dict(options))


def install():
    """Put read_schema_head, validate_metadata and gradebook_engine in nbgrader's place, in this
    process: nbgrader_config.py calls this, so every nbgrader command and course-grade use them."""
    import nbgrader.api
    from nbgrader.nbgraderformat import common

    nbgrader.api.get_alembic_version = read_schema_head
    nbgrader.api.create_engine = gradebook_engine
    common.jsonschema = types.SimpleNamespace(validate=validate_metadata)
