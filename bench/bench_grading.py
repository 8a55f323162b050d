"""Throughput of `course-grade` on a1 and a3: the same submissions graded with -j 1 and -j 2.

N submissions of each assignment (correct, untouched and its typical mistakes from
tests/mutants_<aid>.py, in turn) are graded by the installed `course-grade` command with every
defense on (the student's code in its own sandboxed process, the originality check), on
a new SQLite gradebook each time. The scores are checked against the ones the answers deserve,
so a fast but wrong run shows. One row per assignment and -j: the command's wall time,
submissions graded per minute, the fixed cost of the run (start-up, generating the assignment
into the gradebook, the warm-kernel server, reports: wall time minus the submissions' own time,
measured at -j 1), the median time of one submission as its worker saw it, and the median of
each phase of it (autograde, with the student's code in its own process; originality check).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
N = 30                      # a class
AIDS = ("a1_markov_hmm", "a3_lstm_gru")
JOBS = (1, 2)
PHASES = ("autograde", "originality")


def _submissions(aid, folder):
    """N submission files of aid, and the autograded score each one deserves."""
    sys.path.insert(0, str(REPO / "tests"))
    try:
        import grading_support as gs
        import nbformat
        from grading_cases import MUTANTS
    finally:
        sys.path.remove(str(REPO / "tests"))
    nb_name = f"{aid}.ipynb"
    points = {}
    for cell in nbformat.read(REPO / "solutions" / aid / nb_name, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            points[meta["grade_id"]] = meta["points"]
    full = sum(points.values())
    kinds = ["correct", "untouched", *MUTANTS[aid]]
    paths, expected = [], {}
    for i in range(N):
        kind = kinds[i % len(kinds)]
        if kind == "correct":
            nb, score = gs.filled_submission(aid, nb_name), full
        elif kind == "untouched":
            nb, score = gs.filled_submission(aid, nb_name, untouched=True), 0
        else:
            mutations, failing = MUTANTS[aid][kind]
            nb, score = gs.filled_submission(aid, nb_name, mutations[nb_name]), full - sum(points[t] for t in failing)
        path = Path(folder) / f"s{i:02d}-{kind}.ipynb"
        path.write_text(json.dumps(nb))
        paths.append(str(path))
        expected[path.stem] = score
    return paths, expected


def _grade(aid, paths, jobs, base, env):
    work, out = base / f"work-{aid}-j{jobs}", base / f"results-{aid}-j{jobs}.json"
    cmd = [os.path.join(os.path.dirname(sys.executable), "course-grade"), aid, *paths, "-j", str(jobs),
           "--course", str(REPO), "--work", str(work), "--json", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"course-grade -j {jobs} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall, json.loads(out.read_text())["results"]


def run():
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        base = Path(tmp)
        # the sandboxed kernel (user `nobody`) must be able to reach the grading folders
        os.chmod(base, 0o755)
        env = dict(os.environ)
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        env.pop("GITHUB_STEP_SUMMARY", None)
        for var, sub in [("JUPYTER_CONFIG_DIR", "jupyter-config"), ("JUPYTER_DATA_DIR", "jupyter-data"),
                         ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"), ("IPYTHONDIR", "ipython"),
                         ("MPLCONFIGDIR", "matplotlib")]:
            env.setdefault(var, str(base / sub))      # never the home folder
        for aid in AIDS:
            subs = base / f"submissions-{aid}"
            subs.mkdir()
            paths, expected = _submissions(aid, subs)
            fixed, first = None, len(rows)
            for jobs in JOBS:
                wall, results = _grade(aid, paths, jobs, base, env)
                bad = [r["student"] for r in results if r["status"] != "graded"]
                off = [r["student"] for r in results if r["score"] != expected[r["student"]]]
                seconds = [r["seconds"] for r in results]
                if jobs == 1:
                    fixed = wall - sum(seconds)
                row = {"assignment": aid, "jobs": jobs, "submissions": len(paths), "wall_s": round(wall, 1),
                       "per_minute": round(60 * len(paths) / wall, 1), "fixed_cost_s": round(fixed, 1),
                       "median_submission_s": round(statistics.median(seconds), 2)}
                for phase in PHASES:
                    row[f"{phase}_s"] = round(statistics.median(r["phases"].get(phase, 0.0) for r in results), 2)
                row.update({"cpus": os.cpu_count(), "status": "ok" if not bad else f"failed: {bad}",
                            "scores": "as expected" if not off else f"unexpected: {off}"})
                rows.append(row)
                print(f"  {aid} -j {jobs}: {wall:.1f} s for {len(paths)} submissions", flush=True)
            for row in rows[first:]:
                row["speedup_vs_j1"] = round(rows[first]["wall_s"] / row["wall_s"], 2)
    return rows
