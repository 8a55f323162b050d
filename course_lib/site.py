"""The course as a static website: every lecture executed, with its outputs and plots.

    python -m course_lib.site [--jobs N] [--fresh]      (or `make site`)

builds _site/html with Sphinx and MyST-NB (configuration in site/conf.py): the README is the
front page, the navigation lists the units of UNITS, each lecture in notebooks/ is shown
executed and each assignment in assignments/<aid>/ unexecuted (the student version).

Executions are cached, so that a rebuild after one edit runs one notebook:

    key   = sha256(the notebook's cell types and sources, every course_lib/**/*.py)
    entry = .artifacts/executed/<stem>-<key[:16]>.ipynb

`executed(path)` returns the entry when it exists (and was executed at or after `fresh_since`),
else runs the notebook with course_lib.execution.execute_notebook, the executor of the test suite,
and stores it. An fcntl lock per entry makes processes that ask for the same notebook at once
run it once: the first executes, the others wait and read its result.
"""

import argparse
import contextlib
import fcntl
import hashlib
import html
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from course_lib.execution import execute_notebook, notebook_problems

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "course_lib"
STORE = ROOT / ".artifacts" / "executed"
CONF_DIR = ROOT / "site"
BUILD = ROOT / "_site"            # src/ (staged sources), doctrees/, html/ (the website)

# The units, keyed by the number of their first lecture: a lecture belongs to the unit that starts
# at or before its number; a unit lists its assignments after its lectures. A unit appears once
# one of its lectures or assignments exists.
UNITS = {
    0: ("Markov chains and hidden Markov models", ["a1_markov_hmm"]),
    3: ("Recurrent networks and backpropagation through time", ["a2_rnn_bptt"]),
    6: ("Gated recurrent networks", ["a3_lstm_gru"]),
    8: ("Deep, bidirectional and language models", []),
    10: ("Sequence to sequence", ["a4_seq2seq"]),
    11: ("Image captioning and PixelRNN", ["a5_captioning_pixelrnn"]),
}

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_LECTURE = re.compile(r"^(\d+)_\w+\.ipynb$")


# --- the execution cache ------------------------------------------------------------------

def cache_key(path):
    """sha256 of the notebook's cell types and sources and of every course_lib/**/*.py file
    (but this one, which no notebook runs): a change to the library re-executes every notebook,
    an edit to one notebook only that one."""
    nb = nbformat.read(path, as_version=4)
    h = hashlib.sha256()
    for cell in nb.cells:
        h.update(f"{cell.cell_type}\0{cell.source}\0".encode())
    for f in sorted(LIB.rglob("*.py")):
        if f.resolve() == Path(__file__).resolve():
            continue
        h.update(f"{f.relative_to(LIB).as_posix()}\0".encode())
        h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


@contextlib.contextmanager
def _inline_plots():
    """Kernels started meanwhile draw with matplotlib's inline backend, as in JupyterLab, even
    where MPLBACKEND says otherwise (the test suite sets Agg): the figures are part of the output."""
    before = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = before


class Busy(Exception):
    """Another process is executing this notebook now (raised only when asked not to wait)."""


@contextlib.contextmanager
def _locked(path, wait=True):
    """An exclusive fcntl lock on `path` (created if missing), released on exit; with
    wait=False, Busy if another process holds it."""
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise Busy(path) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _cached(path, fresh_since=None, timeout=900, store=STORE, wait=True):
    """executed() and what happened: (notebook, "cached" or "executed", seconds it ran).
    With wait=False, Busy instead of waiting while another process executes the notebook."""
    path = Path(path)
    if path.suffix != ".ipynb" or not path.is_file():
        raise FileNotFoundError(f"expected an existing .ipynb notebook, got {path}")
    if fresh_since is not None and not isinstance(fresh_since, (int, float)):
        raise TypeError(f"fresh_since must be a timestamp (time.time()) or None, "
                        f"got {type(fresh_since).__name__}")
    store = Path(store)
    store.mkdir(parents=True, exist_ok=True)
    key = cache_key(path)
    entry = store / f"{path.stem}-{key[:16]}.ipynb"
    with _locked(entry.with_suffix(".lock"), wait=wait):
        with contextlib.suppress(FileNotFoundError):          # pruned by another process: run it
            if fresh_since is None or entry.stat().st_mtime >= fresh_since:
                nb = nbformat.read(entry, as_version=4)
                return nb, "cached", nb.metadata.get("course_execution", {}).get("seconds")
        started = time.time()
        with _inline_plots():
            nb, seconds = execute_notebook(path, timeout=timeout)
        if cache_key(path) != key:                           # edited while it ran: do not store
            return nb, "executed", seconds
        nb.metadata["course_execution"] = {"key": key, "seconds": round(seconds, 2)}
        fd, tmp = tempfile.mkstemp(dir=store, prefix=f".{entry.stem}-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            nbformat.write(nb, handle)
        os.chmod(tmp, 0o644)
        os.utime(tmp, (started, started))                  # an entry is as fresh as its start
        os.replace(tmp, entry)
    for old in store.glob(f"{path.stem}-*.ipynb"):         # earlier versions of this notebook
        if old != entry and re.fullmatch(rf"{re.escape(path.stem)}-[0-9a-f]{{16}}", old.stem):
            old.unlink(missing_ok=True)
            old.with_suffix(".lock").unlink(missing_ok=True)
    return nb, "executed", seconds


def executed(path, fresh_since=None, timeout=900, store=STORE):
    """The notebook at `path`, executed top to bottom (errors are left in its outputs).

    Args:
        path: a .ipynb file; it runs in its own folder.
        fresh_since: None, or a time.time() timestamp: an entry whose execution started before
            it is ignored (and replaced), so that a test run never passes on an earlier run.
        timeout: seconds per cell, as in execute_notebook.
        store: the folder of the entries (.artifacts/executed).
    Returns:
        the executed nbformat notebook, from the cache or from a new execution.
    """
    return _cached(path, fresh_since, timeout, store)[0]


def _execute_one(args):
    path, fresh_since, store = args
    return _cached(path, fresh_since, store=store)


def _execute_around_others(tasks):
    """_execute_one for every task, in one process that shares the cache with others (the test
    suite executes the lectures in order on another worker at the same time): last lecture
    first, skipping any that another process is executing now, then waiting for those. Each
    notebook still runs once; nobody waits while there is a notebook left to run.
    Returns the results in the order of tasks."""
    results, busy = {}, []
    for i in reversed(range(len(tasks))):
        path, fresh_since, store = tasks[i]
        try:
            results[i] = _cached(path, fresh_since, store=store, wait=False)
        except Busy:
            busy.append(i)
    for i in busy:
        results[i] = _execute_one(tasks[i])
    return [results[i] for i in range(len(tasks))]


# --- staging the sources -------------------------------------------------------------------

def lectures(root=ROOT):
    """The lecture notebooks: notebooks/NN_name.ipynb, in order."""
    return sorted(p for p in (Path(root) / "notebooks").glob("*.ipynb") if _LECTURE.match(p.name))


def assignments(root=ROOT):
    """The student versions: assignments/<aid>/<aid>.ipynb (and any other notebook there)."""
    return sorted(p for p in (Path(root) / "assignments").glob("*/*.ipynb")
                  if not p.name.startswith("."))


def units(lecture_paths, assignment_paths):
    """[(caption, [page, ...]), ...]: the units of UNITS that have a page, pages as paths
    relative to the source folder without suffix (notebooks/03_elman_rnn). Assignments that no
    unit names come last, under "More assignments"."""
    starts = sorted(UNITS)
    by_start = {s: [] for s in starts}
    for p in lecture_paths:
        number = int(_LECTURE.match(p.name).group(1))
        start = max((s for s in starts if s <= number), default=starts[0])
        by_start[start].append(f"notebooks/{p.stem}")
    named = set()
    for s in starts:
        for aid in UNITS[s][1]:
            named.add(aid)
            by_start[s] += [f"assignments/{aid}/{p.stem}" for p in assignment_paths if p.parent.name == aid]
    result, n = [], 0
    for s in starts:
        if by_start[s]:
            n += 1
            result.append((f"Unit {n} · {UNITS[s][0]}", by_start[s]))
    extra = [f"assignments/{p.parent.name}/{p.stem}" for p in assignment_paths if p.parent.name not in named]
    if extra:
        result.append(("More assignments", extra))
    return result


def _widget_html(model_id, state, depth=0):
    """Static HTML of a widget from its saved state: boxes, HTML and label text, progress bars
    (what tqdm.notebook draws); None for anything else."""
    model = state.get(model_id)
    if model is None or depth > 8:
        return None
    name, s = model.get("model_name", ""), model.get("state", {})
    if name in ("HBoxModel", "VBoxModel", "BoxModel"):
        parts = [_widget_html(str(c).removeprefix("IPY_MODEL_"), state, depth + 1)
                 for c in s.get("children", [])]
        if any(p is None for p in parts):
            return None
        tag = "course-widget-hbox" if name != "VBoxModel" else "course-widget-vbox"
        return f'<div class="{tag}">{"".join(parts)}</div>'
    if name == "HTMLModel":
        return f'<span class="course-widget-text">{s.get("value", "")}</span>'
    if name == "LabelModel":
        return f'<span class="course-widget-text">{html.escape(str(s.get("value", "")))}</span>'
    if name in ("FloatProgressModel", "IntProgressModel"):
        style = html.escape(str(s.get("bar_style") or "info"))
        return (f'<progress class="course-widget-progress course-widget-{style}" '
                f'value="{s.get("value", 0)}" max="{s.get("max", 100)}"></progress>')
    return None


def static_widgets(nb):
    """Replace each widget output by static HTML of the widget's last state (a finished tqdm bar
    shows as full), and drop the widget state, so that the page needs no widget JavaScript.
    Returns the number of outputs replaced."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    replaced = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                continue
            markup = _widget_html(view.get("model_id", ""), state)
            data = {"text/plain": out["data"].get("text/plain", "")}
            if markup is not None:
                data["text/html"] = f'<div class="course-widget">{markup}</div>'
                data["text/plain"] = html.unescape(re.sub(r"<[^>]+>", " ", markup)).strip()
            out["data"] = data
            replaced += 1
    nb.metadata.pop("widgets", None)
    return replaced


def _write_if_changed(path, text):
    """Write text unless the file already holds it (Sphinx rebuilds pages by modification time)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _front_page(readme, pages, toc):
    """index.md: the README, its mentions of a page (`notebooks/03_elman_rnn`) made links, and
    one hidden toctree per unit (the navigation)."""
    def link(m):
        name = m.group(1)
        target = next((p for p in pages if p == name or p.rsplit("/", 1)[0] == name), None)
        return f"[`{name}`]({target}.ipynb)" if target else m.group(0)

    text = re.sub(r"`((?:notebooks|assignments)/[\w/]+)`", link, readme)
    blocks = [text.rstrip() + "\n"]
    for caption, entries in toc:
        blocks.append("```{toctree}\n:hidden:\n:caption: " + caption + "\n\n" + "\n".join(entries) + "\n```\n")
    return "\n".join(blocks)


def stage(root=ROOT, src=None, fresh_since=None, jobs=1, store=STORE, log=print):
    """Execute (through the cache) and copy every page into the Sphinx source folder.

    Returns:
        dict with pages (count), figures (image outputs of the lectures), executed, cached,
        seconds (of the executions that ran) and problems (error or stderr outputs).
    """
    root = Path(root)
    src = Path(src or BUILD / "src")
    lecture_paths, assignment_paths = lectures(root), assignments(root)
    if not lecture_paths:
        raise FileNotFoundError(f"no lectures found: expected notebooks/NN_name.ipynb under {root}")

    summary = {"pages": 1, "figures": 0, "executed": 0, "cached": 0, "seconds": 0.0, "problems": []}
    expected = {src / "index.md"}
    tasks = [(p, fresh_since, store) for p in lecture_paths]
    with contextlib.ExitStack() as stack:
        if jobs > 1:
            import concurrent.futures
            import multiprocessing

            pool = stack.enter_context(concurrent.futures.ProcessPoolExecutor(
                jobs, mp_context=multiprocessing.get_context("spawn")))
            results = pool.map(_execute_one, tasks)
        else:
            results = _execute_around_others(tasks)
        for path, (nb, how, seconds) in zip(lecture_paths, results):     # in order, as they come
            log(f"  {how:8s} notebooks/{path.name}" + (f"  ({seconds:.1f} s)" if how == "executed" else ""))
            summary[how] += 1
            summary["seconds"] += seconds if how == "executed" else 0.0
            summary["problems"] += [f"notebooks/{path.name}: {p}" for p in notebook_problems(nb)]
            static_widgets(nb)
            nb.metadata.pop("course_execution", None)
            summary["figures"] += sum(1 for c in nb.cells for o in c.get("outputs", [])
                                      if any(k.startswith("image/") for k in o.get("data", {})))
            target = src / "notebooks" / path.name
            _write_if_changed(target, nbformat.writes(nb))
            expected.add(target)
    for path in assignment_paths:
        nb = nbformat.read(path, as_version=4)
        target = src / "assignments" / path.parent.name / path.name
        _write_if_changed(target, nbformat.writes(nb))
        expected.add(target)

    toc = units(lecture_paths, assignment_paths)
    pages = [p for _, entries in toc for p in entries]
    readme = (root / "README.md").read_text(encoding="utf-8")
    _write_if_changed(src / "index.md", _front_page(readme, pages, toc))
    for stale in [p for p in src.rglob("*") if p.is_file() and p.suffix in (".ipynb", ".md")]:
        if stale not in expected:                          # a page whose notebook is gone
            stale.unlink()
    summary["pages"] += len(lecture_paths) + len(assignment_paths)
    return summary


# --- the build -------------------------------------------------------------------------------

def sphinx_build(src=None, out=None, doctrees=None):
    """Sphinx (site/conf.py) on the staged sources; returns its warnings, one string each."""
    src, out = Path(src or BUILD / "src"), Path(out or BUILD / "html")
    doctrees = Path(doctrees or BUILD / "doctrees")
    warnings_file = doctrees.parent / "sphinx-warnings.txt"
    warnings_file.parent.mkdir(parents=True, exist_ok=True)
    # -a: every page is written again (only changed sources are read again), so that a page added
    # to the navigation shows in the sidebar of every page, not only of those that changed.
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-a", "-q", "-c", str(CONF_DIR), "-d", str(doctrees),
           "-w", str(warnings_file), str(src), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"sphinx-build failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return [line for line in warnings_file.read_text(encoding="utf-8").splitlines() if line.strip()]


def build(fresh_since=None, jobs=1, root=ROOT, out=None, store=STORE, log=print):
    """Stage and build the website into _site/html. Returns stage()'s summary plus warnings,
    out (the html folder) and build_seconds."""
    t0 = time.perf_counter()
    summary = stage(root, BUILD / "src", fresh_since=fresh_since, jobs=jobs, store=store, log=log)
    out = Path(out or BUILD / "html")
    summary["warnings"] = sphinx_build(BUILD / "src", out, BUILD / "doctrees")
    summary["out"] = out
    summary["build_seconds"] = time.perf_counter() - t0
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_lib.site", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-j", "--jobs", type=int, default=2, help="notebooks executed at once (default 2)")
    parser.add_argument("--fresh", action="store_true", help="execute every lecture again, cache or not")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    s = build(fresh_since=time.time() if args.fresh else None, jobs=args.jobs)
    for w in s["warnings"]:
        print(f"warning: {w}")
    for p in s["problems"]:
        print(f"problem: {p}")
    print(f"{s['pages']} pages, {s['figures']} figures; {s['executed']} notebook(s) executed "
          f"({s['seconds']:.0f} s of execution), {s['cached']} from the cache; "
          f"{len(s['warnings'])} Sphinx warning(s); built in {s['build_seconds']:.0f} s: "
          f"{s['out'].relative_to(ROOT) if s['out'].is_relative_to(ROOT) else s['out']}/index.html")
    return 1 if s["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
