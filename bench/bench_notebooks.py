"""Execution time of every lecture and assignment-source notebook, one at a time."""

from pathlib import Path

from course_lib.execution import execute_notebook, notebook_problems

REPO = Path(__file__).resolve().parents[1]


def run():
    rows = []
    paths = sorted(REPO.glob("notebooks/*.ipynb")) + sorted(REPO.glob("solutions/*/*.ipynb"))
    for path in paths:
        nb, seconds = execute_notebook(path, warm=False)       # the cold kernel a student starts
        problems = notebook_problems(nb)
        rows.append({"notebook": str(path.relative_to(REPO)), "seconds": round(seconds, 1),
                     "status": "ok" if not problems else f"{len(problems)} problem(s)"})
        print(f"  {rows[-1]['notebook']}: {rows[-1]['seconds']} s", flush=True)
    rows.append({"notebook": "total", "seconds": round(sum(r["seconds"] for r in rows), 1), "status": ""})
    return rows
