"""A submission rebuilt around the student's answers, as the assignment released it.

Every locked and test cell comes from the assignment itself (edited, deleted, moved or
re-labelled test cells do not count), copy-pasted cells lose their duplicate nbgrader identity,
the demonstration marker of a "Try it" cell is put back, and the student's own extra cells stay
where they were.
"""

import copy
import re
from pathlib import Path

import nbformat

from course_lib.grading.demo_cells import DEMO_MARKER, is_demo


def nbgrader_meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def grade_id(cell):
    return nbgrader_meta(cell).get("grade_id")


def is_answer(cell):
    meta = nbgrader_meta(cell)
    return bool(meta.get("solution")) and not meta.get("locked")


def cell_key(cell):
    """How a cell is recognised: its grade_id for nbgrader cells, else its cell id."""
    gid = grade_id(cell)
    return ("grade", gid) if gid else ("id", cell.get("id"))


def canonicalize(submission, release):
    """Rebuild a submission around the student's answers.

    Every cell of the release (the student version) appears once, in release order. An
    answer cell takes the student's source (from the first cell carrying its grade_id), and
    so does an ordinary release cell (matched by cell id; nothing is graded there); every
    locked or test cell is taken from the release as it is. Cells the student added stay
    after the release cell they followed, as ordinary cells without nbgrader metadata.

    A demonstration cell of the release (course_lib.grading.demo_cells) keeps its marker line, so it
    is skipped when graded even if the student deleted that line.

    Returns:
        (notebook, repairs): the rebuilt notebook and a list of what was repaired.
    """
    repairs = []
    release_keys = [cell_key(c) for c in release.cells]
    by_key = dict(zip(release_keys, release.cells))
    sources, extras, anchor, seen = {}, {None: []}, None, set()
    for cell in submission.cells:
        key = cell_key(cell)
        if key in by_key and key not in seen:
            seen.add(key)
            rel = by_key[key]
            if is_answer(rel) or key[0] == "id":
                if cell.get("cell_type") != rel.cell_type:
                    repairs.append(f"cell {key[1]} had its type changed; its type was restored")
                sources[key] = cell.get("source", "")
                if key[0] == "grade" and (nbgrader_meta(cell).get("points") != nbgrader_meta(rel).get("points")
                                          or bool(nbgrader_meta(cell).get("grade")) != bool(nbgrader_meta(rel).get("grade"))):
                    repairs.append(f"answer cell {key[1]} had its nbgrader metadata changed; it was restored")
            elif cell.get("source", "") != rel.source or nbgrader_meta(cell) != nbgrader_meta(rel):
                repairs.append(f"cell {key[1]} was edited; the original was restored")
            anchor = key
            continue
        if key in seen:
            repairs.append(f"a copy of cell {key[1]} was found; it runs as an ordinary cell")
        elif key[0] == "grade":
            repairs.append(f"cell {key[1]!r} is not part of the assignment; it runs as an ordinary cell")
        maker = nbformat.v4.new_code_cell if cell.get("cell_type") == "code" else nbformat.v4.new_markdown_cell
        extras.setdefault(anchor, []).append(maker(cell.get("source", "")))
    for key in release_keys:
        if key not in seen and key[0] == "grade":
            repairs.append(f"cell {key[1]} was missing; it was restored")

    numbered = iter(f"student-{i}" for i in range(10**6))
    for extra in (c for group in extras.values() for c in group):
        extra.id = next(numbered)                         # unique, and never a release id
    cells = list(extras.get(None, []))
    for key, rel in zip(release_keys, release.cells):
        cell = copy.deepcopy(rel)
        if key in sources:
            cell.source = sources[key]
            if is_demo(rel.source) and not is_demo(cell.source):
                cell.source = f"{DEMO_MARKER}\n{cell.source}"
        cells.append(cell)
        cells.extend(extras.get(key, []))
    for cell in cells:
        if cell.get("cell_type") == "code":
            cell.outputs, cell.execution_count = [], None
    nb = copy.deepcopy(release)
    nb.cells = cells
    return nb, repairs


def expand(paths, aid):
    """The submissions that `paths` name, in order: an nbgrader `submitted/` folder (one that
    holds `<student>/<aid>/` folders, as `nbgrader collect` and the exchange leave it) stands
    for each of those folders, in the order of the student ids; any other path for itself."""
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir() and p.name != aid and (p / aid).is_dir():
            p = p / aid                                   # submitted/alice: her folder of the assignment
        inner = sorted(d for d in p.glob(f"*/{aid}") if d.is_dir()) if p.is_dir() and p.name != aid else []
        out += inner or [p]
    return out


def student_ids(paths, notebook_names=(), aid=None):
    """A unique student id per submission. A folder `<student>/<aid>/` (nbgrader's layout)
    keeps its student's name as it is, so that the grades and files land where nbgrader and
    Formgrader look for them; otherwise the id is readable: the file's name, or its folder's
    name when the file is named like the assignment's notebook (alice/a1_markov_hmm.ipynb)."""
    stems = {Path(n).stem for n in notebook_names}
    ids, used = [], set()
    for p in paths:
        p = Path(p).resolve()
        if p.is_dir() and aid and p.name == aid:
            base = p.parent.name
        else:
            if p.is_dir():
                base = p.name
            elif p.stem in stems:
                base = p.parent.name
            else:
                base = p.stem
            base = re.sub(r"[^A-Za-z0-9_-]+", "-", base).strip("-") or "student"
        sid, k = base, 2
        while sid in used:
            sid, k = f"{base}-{k}", k + 1
        used.add(sid)
        ids.append(sid)
    return ids


def submission_files(path, ctx):
    """{notebook name: the file that holds it} for a submission given as one .ipynb or a folder
    (a file that a folder lacks is listed all the same; it does not exist)."""
    path = Path(path)
    if path.is_file():
        return {ctx.notebooks[0] if len(ctx.notebooks) == 1 else path.name: path}
    return {n: path / n for n in ctx.notebooks}


def read_submission(path, ctx):
    """{notebook name: notebook} for a submission given as one .ipynb or a folder."""
    out = {}
    for name, f in submission_files(path, ctx).items():
        if name not in ctx.notebooks:
            raise ValueError(f"{f} is not a notebook of {ctx.aid} (expected {ctx.notebooks})")
        out[name] = nbformat.read(f, as_version=4) if f.exists() else None
    return out
