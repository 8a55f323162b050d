"""Scores and verdicts in the gradebook, and the reports of a run.

nbgrader's autograde writes each test cell's score; on top of it the grader zeroes the parts
whose answers use or copy the reference (course_lib.grading.originality), forgetting its own
earlier verdicts on a regrade, and collects the scores and messages of a submission. The
reports are the console table and the Markdown summary.
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
    parts, score, max_score, manual = [], 0.0, 0.0, 0.0
    with Gradebook(ctx.db_url) as gb:
        sub = gb.find_submission(ctx.aid, student)
        order = {gid: i for i, gid in enumerate(ctx.parts)}
        for nb in sub.notebooks:
            for grade in sorted(nb.grades, key=lambda g: order.get(g.name, len(order))):
                row = {"notebook": nb.name, "cell": grade.name, "part": ctx.parts.get(grade.name, ""),
                       "score": grade.score, "max_score": grade.max_score,
                       "kind": "autograded" if grade.cell_type == "code" else "manual",
                       "message": messages.get(grade.name, "")}
                if row["kind"] == "manual":
                    manual += grade.max_score
                    row["score"] = None
                else:
                    score += grade.score
                    max_score += grade.max_score
                parts.append(row)
    return {"parts": parts, "score": score, "max_score": max_score, "manual_points": manual}


def summary_table(results):
    lines = []
    for r in results:
        head = f"{r['student']}: {r['score']:g} / {r['max_score']:g} autograded"
        if r["manual_points"]:
            head += f" (+ {r['manual_points']:g} graded by hand)"
        if r["status"] != "graded":
            head += "  GRADING FAILED: " + "; ".join(r["errors"])[:500]
        lines.append(head)
        for p in r["parts"]:
            score = "manual" if p["score"] is None else f"{p['score']:g}/{p['max_score']:g}"
            lines.append(f"  {p['part'][:38]:<38}  {p['cell']:<28} {score:>8}  {p['message'][:120]}")
        for rep in r["repairs"]:
            lines.append(f"  note: {rep}")
    return "\n".join(lines)


def markdown_summary(aid, results):
    rows = [f"## {aid}: grading summary", "",
            "| student | autograded score | by hand | status |", "|---|---|---|---|"]
    for r in results:
        rows.append(f"| {r['student']} | {r['score']:g} / {r['max_score']:g} | {r['manual_points']:g} | {r['status']} |")
    for r in results:
        rows += ["", f"### {r['student']}", "", "| part | test | score | what failed |", "|---|---|---|---|"]
        for p in r["parts"]:
            score = "by hand" if p["score"] is None else f"{p['score']:g} / {p['max_score']:g}"
            msg = p["message"].replace("|", "\\|").replace("\n", " ")[:300]
            rows.append(f"| {p['part']} | `{p['cell']}` | {score} | {msg} |")
        for rep in r["repairs"]:
            rows.append(f"\n- note: {rep}")
        for err in r["errors"]:
            rows.append(f"\n- **grading failed**: {err[:500]}")
    return "\n".join(rows) + "\n"
