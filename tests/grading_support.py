"""Building submissions and reading grades for the grading-pipeline tests.

A submission is the student version of an assignment with its answer cells filled in from
the instructor's solution, optionally with a typical mistake edited into one cell.
"""

import html
import re
import shutil
from pathlib import Path

import nbformat

from course_lib.course import nbgrader

REPO = Path(__file__).resolve().parents[1]
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def copy_course(dest):
    """A throwaway course folder: the config, the sources and the committed student versions."""
    dest = Path(dest)
    shutil.copy(REPO / "nbgrader_config.py", dest / "nbgrader_config.py")
    shutil.copytree(REPO / "solutions", dest / "solutions")
    shutil.copytree(REPO / "assignments", dest / "assignments")
    return dest


def notebook_names(aid):
    return sorted(p.name for p in (REPO / "solutions" / aid).glob("*.ipynb"))


def grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def strip_markers(source, markers=SOLUTION_MARKERS):
    return "\n".join(line for line in source.split("\n") if line.strip() not in markers)


def block_lines(source, markers):
    """The meaningful lines between a BEGIN and END marker pair."""
    lines, inside = [], False
    for line in source.split("\n"):
        s = line.strip()
        if s == markers[0]:
            inside = True
        elif s == markers[1]:
            inside = False
        elif inside and len(s) > 12 and not s.startswith("#"):
            lines.append(s)
    return lines


def filled_submission(aid, nb_name, mutations=None, untouched=False):
    """The student notebook with every answer cell filled from the solution.

    mutations: {grade_id: [(old, new), ...]} edits applied to those answer cells; each old
    string must occur in the cell (a mutation that no longer applies is a test bug).
    """
    release = nbformat.read(REPO / "assignments" / aid / nb_name, as_version=4)
    if untouched:
        return release
    source = {grade_id(c): c for c in nbformat.read(REPO / "solutions" / aid / nb_name, as_version=4).cells}
    mutations = dict(mutations or {})
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            text = strip_markers(source[meta["grade_id"]].source)
            for old, new in mutations.pop(meta["grade_id"], []):
                assert old in text, f"mutation target {old!r} not in cell {meta['grade_id']}"
                text = text.replace(old, new)
            cell.source = text
    assert not mutations, f"mutations name cells that are not answer cells: {sorted(mutations)}"
    return release


def lines_outside_blocks(source):
    """Stripped lines of a cell that stand outside every solution and hidden-test block."""
    out, inside = set(), False
    for line in source.split("\n"):
        s = line.strip()
        if s in (SOLUTION_MARKERS[0], HIDDEN_MARKERS[0]):
            inside = True
        elif s in (SOLUTION_MARKERS[1], HIDDEN_MARKERS[1]):
            inside = False
        elif not inside:
            out.add(s)
    return out


def submit(course, aid, student, notebooks):
    """Place {nb_name: notebook} as a student's submission."""
    folder = Path(course) / "submitted" / student / aid
    folder.mkdir(parents=True, exist_ok=True)
    for name, nb in notebooks.items():
        nbformat.write(nb, folder / name)


def autograde(course, aid, *extra):
    return nbgrader(course, "autograde", aid, "--force", *extra)


def scores(course, aid, student):
    """{grade_id: (score, max_score)} for the autograded test cells of a student."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gb:
        sub = gb.find_submission(aid, student)
        for nb in sub.notebooks:
            for grade in nb.grades:
                if grade.cell_type == "code":
                    out[grade.name] = (grade.score, grade.max_score)
    return out


def visible_lines(text):
    """The stripped lines of a text, each also without a traceback's line number or arrow
    (`----> 4 code` and `      3 code` show the line `code`)."""
    out = set()
    for line in text.split("\n"):
        line = line.strip()
        out.add(line)
        out.add(re.sub(r"^(?:-*>\s*)?\d+\s+", "", line))
    return out


def leaked_lines(secret, text):
    """The secret lines that a page shows, whole, as code or in a traceback."""
    shown = visible_lines(text)
    return [line for line in secret if line in shown]


def text_of_html(path):
    """Visible text of an HTML page: tags removed, entities decoded."""
    raw = Path(path).read_text(encoding="utf-8")
    raw = re.sub(r"<(script|style)\b.*?</\1>", "", raw, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", raw))
