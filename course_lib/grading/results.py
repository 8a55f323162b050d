"""Scores and verdicts in the gradebook, and the reports of a run.

nbgrader's autograde writes each test cell's score; on top of it the grader zeroes the parts
whose answers use or copy the reference (course_lib.grading.originality), forgetting its own
earlier verdicts on a regrade, and collects the scores and messages of a submission. The
reports are the console table and the Markdown summary; they, the JSON and the feedback page
(course_lib.grading.nbgrader_ext) put a submission's scores in the same words (score_words).
"""

from pathlib import Path

import nbformat

from course_lib.grading.submission import grade_id, is_answer, nbgrader_meta


def clear_grader_verdicts(ctx, student):
    """Forget the verdicts an earlier run of this grader left on the student's test cells
    (a regrade in a lasting gradebook starts from nbgrader's own scores)."""
    from nbgrader.api import Gradebook

    with Gradebook(ctx.db_url) as gb:
        for nb in gb.find_submission(ctx.aid, student).notebooks:
            for grade in nb.grades:
                if grade.cell_type == "code" and grade.manual_score is not None:
                    grade.manual_score = None
        gb.db.commit()


def zero_copied_parts(ctx, student, canon):
    """A part whose answer uses or copies the reference earns nothing: its autograded test
    cells get a manual score of 0 in the gradebook, with the reason as the comment."""
    from nbgrader.api import Gradebook

    from course_lib.grading.originality import reference_use

    notes, by_test = [], {}
    for name, nb in canon.items():
        given = {grade_id(c): c.source for c in ctx.release[name].cells if grade_id(c)}
        for cell in nb.cells:
            if not (is_answer(cell) and cell.cell_type == "code"):
                continue
            reasons = reference_use(cell.source, given.get(grade_id(cell), ""))
            if not reasons:
                continue
            part = ctx.parts.get(grade_id(cell))
            tests = [g for g, p in ctx.parts.items() if p == part and g != grade_id(cell)
                     and nbgrader_meta(next(c for c in ctx.source[name].cells if grade_id(c) == g)).get("grade")]
            with Gradebook(ctx.db_url) as gb:
                for gid in tests:
                    grade = gb.find_grade(gid, Path(name).stem, ctx.aid, student)
                    grade.manual_score = 0.0
                    grade.needs_manual_grade = False
                    by_test[gid] = "not the student's own work: " + "; ".join(reasons)
                comment = gb.find_comment(grade_id(cell), Path(name).stem, ctx.aid, student)
                comment.manual_comment = "; ".join(reasons)
                gb.db.commit()
            notes.append(f"{grade_id(cell)} is not the student's own work ({'; '.join(reasons)}): "
                         f"{part or 'its part'} earns nothing")
    return notes, by_test


def tally(grades):
    """A submission's scores from its nbgrader grades: the autograded score and maximum (test
    cells), and the written answers' points (cells graded by hand), those still to be graded
    apart from those graded (by hand, or as 0 when left untouched)."""
    t = {"score": 0.0, "max_score": 0.0, "manual_points": 0.0, "manual_to_grade": 0.0, "manual_score": 0.0}
    for grade in grades:
        if grade.cell_type == "code":
            t["score"] += grade.score
            t["max_score"] += grade.max_score
        else:
            t["manual_points"] += grade.max_score
            if grade.needs_manual_grade:
                t["manual_to_grade"] += grade.max_score
            else:
                t["manual_score"] += grade.score
    return t


def _points(n):
    return f"{n:g} point{'' if n == 1 else 's'} to be graded by hand"


def score_words(t):
    """The words every report uses for a submission's scores, the same in the console table,
    the Markdown summary, the JSON (`scores`) and the feedback page:

        autograded: 12 / 15
        written answers: 3 points to be graded by hand     (before they are graded)
        written answers: 2 / 3                              (after; none to grade)

    `t` is a tally (or a result dict holding its keys)."""
    words = [f"autograded: {t['score']:g} / {t['max_score']:g}"]
    to_grade = t.get("manual_to_grade", t.get("manual_points", 0.0))
    graded = t.get("manual_points", 0.0) - to_grade
    if to_grade and graded:
        words.append(f"written answers: {t.get('manual_score', 0.0):g} / {graded:g} so far, {_points(to_grade)}")
    elif to_grade:
        words.append(f"written answers: {_points(to_grade)}")
    elif graded:
        words.append(f"written answers: {t.get('manual_score', 0.0):g} / {graded:g}")
    return words


def part_words(score, max_score, to_grade=False):
    """The score of one graded cell in the same words: "1 / 1", or "3 points to be graded by hand"."""
    return _points(max_score) if to_grade else f"{score:g} / {max_score:g}"


def collect(ctx, student, folder, reasons=None):
    """Scores from the gradebook, and the message of each failed test from the notebook."""
    from nbgrader.api import Gradebook

    messages = {}
    for name in ctx.notebooks:
        nb = nbformat.read(folder / "autograded" / student / ctx.aid / name, as_version=4)
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error" and grade_id(cell):
                    messages[grade_id(cell)] = f"{out.get('ename')}: {out.get('evalue')}"
    messages.update(reasons or {})
    parts, grades = [], []
    with Gradebook(ctx.db_url) as gb:
        sub = gb.find_submission(ctx.aid, student)
        order = {gid: i for i, gid in enumerate(ctx.parts)}
        for nb in sub.notebooks:
            for grade in sorted(nb.grades, key=lambda g: order.get(g.name, len(order))):
                manual = grade.cell_type != "code"
                row = {"notebook": nb.name, "cell": grade.name, "part": ctx.parts.get(grade.name, ""),
                       "score": None if manual and grade.needs_manual_grade else grade.score,
                       "max_score": grade.max_score, "kind": "manual" if manual else "autograded",
                       "message": messages.get(grade.name, "")}
                row["words"] = part_words(row["score"], grade.max_score, row["score"] is None)
                parts.append(row)
                grades.append(grade)
        t = tally(grades)
    return {"parts": parts, **t, "scores": score_words(t)}


def _words(r):
    return r.get("scores") or score_words(r)


def summary_table(results):
    width = max([len(p["part"]) for r in results for p in r["parts"]] + [4])   # every part name whole
    cells = max([len(p["cell"]) for r in results for p in r["parts"]] + [4])
    lines = []
    for r in results:
        head = f"{r['student']}: {'; '.join(_words(r))}"
        if r["status"] != "graded":
            head += "  GRADING FAILED: " + "; ".join(r["errors"])[:500]
        lines.append(head)
        for p in r["parts"]:
            score = p.get("words") or part_words(p["score"], p["max_score"], p["score"] is None)
            lines.append(f"  {p['part']:<{width}}  {p['cell']:<{cells}}  {score:>8}  {p['message'][:120]}")
        for rep in r["repairs"]:
            lines.append(f"  note: {rep}")
    return "\n".join(lines)


def markdown_summary(aid, results):
    rows = [f"## {aid}: grading summary", "",
            "| student | autograded | written answers | status |", "|---|---|---|---|"]
    for r in results:
        words = _words(r)
        written = words[1].removeprefix("written answers: ") if len(words) > 1 else "none"
        rows.append(f"| {r['student']} | {words[0].removeprefix('autograded: ')} | {written} | {r['status']} |")
    for r in results:
        rows += ["", f"### {r['student']}", "", "; ".join(_words(r)), "",
                 "| part | test | score | what failed |", "|---|---|---|---|"]
        for p in r["parts"]:
            score = p.get("words") or part_words(p["score"], p["max_score"], p["score"] is None)
            msg = p["message"].replace("|", "\\|").replace("\n", " ")[:300]
            rows.append(f"| {p['part']} | `{p['cell']}` | {score} | {msg} |")
        for rep in r["repairs"]:
            rows.append(f"\n- note: {rep}")
        for err in r["errors"]:
            rows.append(f"\n- **grading failed**: {err[:500]}")
    return "\n".join(rows) + "\n"
