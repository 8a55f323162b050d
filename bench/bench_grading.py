"""Throughput of `course-grade` on a1: the same submissions graded with -j 1 and -j 2.

N submissions of a1_markov_hmm (correct, untouched and typical mistakes from
tests/mutants_a1_markov_hmm.py) are graded by the installed `course-grade` command, on a
new SQLite gradebook each time (the scores are checked against the ones the answers
deserve, so a fast but wrong run shows). One row per -j: the command's wall time, submissions
graded per minute, the fixed cost of the run (everything but the submissions themselves:
start-up, generating the assignment into the gradebook, reports; measured at -j 1), and
the median time of one submission as the grader saw it (its own `nbgrader autograde`
process, kernel included). An untouched submission fails every test at once, so its time
is close to the start-up overhead every submission pays.
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
AID, NB = "a1_markov_hmm", "a1_markov_hmm.ipynb"
N = 8
JOBS = (1, 2)
KINDS = ["correct", "untouched", "forward-transposed-A", "markov-not-normalised",
         "posteriors-not-normalised", "viterbi-backtrack-off-by-one", "baum-welch-transposed-A",
         "forward-calls-reference"]


def _submissions(folder):
    """N submission files, and the autograded score each one deserves."""
    sys.path.insert(0, str(REPO / "tests"))
    try:
        import grading_support as gs
        import nbformat
        from mutants_a1_markov_hmm import MUTANTS
    finally:
        sys.path.remove(str(REPO / "tests"))
    points = {}
    for cell in nbformat.read(REPO / "solutions" / AID / NB, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            points[meta["grade_id"]] = meta["points"]
    full = sum(points.values())
    paths, expected = [], {}
    for i in range(N):
        kind = KINDS[i % len(KINDS)]
        if kind == "correct":
            nb, score = gs.filled_submission(AID, NB), full
        elif kind == "untouched":
            nb, score = gs.filled_submission(AID, NB, untouched=True), 0
        else:
            mutations, failing = MUTANTS[kind]
            nb, score = gs.filled_submission(AID, NB, mutations[NB]), full - sum(points[t] for t in failing)
        path = Path(folder) / f"s{i:02d}-{kind}.ipynb"
        path.write_text(json.dumps(nb))
        paths.append(str(path))
        expected[path.stem] = score
    return paths, expected


def _grade(paths, jobs, base, env):
    work, out = base / f"work-j{jobs}", base / f"results-j{jobs}.json"
    cmd = [os.path.join(os.path.dirname(sys.executable), "course-grade"), AID, *paths, "-j", str(jobs),
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
        subs = base / "submissions"
        subs.mkdir()
        paths, expected = _submissions(subs)
        fixed = None
        for jobs in JOBS:
            wall, results = _grade(paths, jobs, base, env)
            bad = [r["student"] for r in results if r["status"] != "graded"]
            off = [r["student"] for r in results if r["score"] != expected[r["student"]]]
            seconds = [r["seconds"] for r in results]
            untouched = [r["seconds"] for r in results if r["student"].endswith("-untouched")]
            if jobs == 1:
                fixed = wall - sum(seconds)
            rows.append({
                "jobs": jobs, "submissions": len(paths), "wall_s": round(wall, 1),
                "per_minute": round(60 * len(paths) / wall, 1),
                "fixed_cost_s": round(fixed, 1),
                "median_submission_s": round(statistics.median(seconds), 1),
                "untouched_submission_s": round(statistics.median(untouched), 1) if untouched else "",
                "cpus": os.cpu_count(),
                "status": "ok" if not bad else f"failed: {bad}",
                "scores": "as expected" if not off else f"unexpected: {off}",
            })
            print(f"  -j {jobs}: {wall:.1f} s for {len(paths)} submissions", flush=True)
    for row in rows:
        row["speedup_vs_j1"] = round(rows[0]["wall_s"] / row["wall_s"], 2)
    return rows
