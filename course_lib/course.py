"""Course maintenance from the command line.

    python -m course_lib.course assignments [AID ...]   regenerate assignments/ from solutions/

`make assignments` runs the first. The student versions are written by nbgrader's
generate_assignment; with fixed cell ids the output is byte-for-byte reproducible, and the
notebook and cell metadata are put in the house form (HOUSE_METADATA), so that saving a source
in JupyterLab changes nothing in the student version that the edit itself does not.
"""

import argparse
import atexit
import json
import os
import subprocess
import sys
from pathlib import Path

# The metadata of every notebook of the course, as committed: saving in JupyterLab adds the
# kernel's display name and the language's version and mimetypes, which generate_assignment
# (course_lib.grading.nbgrader_ext.HouseMetadata) puts back to this.
HOUSE_METADATA = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                  "language_info": {"name": "python"}}
# What a cell of a student version keeps in its metadata: nbgrader's own, and the locks nbgrader
# sets; JupyterLab's view state (collapsed, scrolled, jupyter.source_hidden, execution times) goes.
CELL_METADATA = ("nbgrader", "editable", "deletable", "tags")


def course_root(start=None):
    """The folder holding nbgrader_config.py: the current folder or one above it."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "nbgrader_config.py").is_file() and (folder / "solutions").is_dir():
            return folder
    raise FileNotFoundError(f"no course found at or above {here}: expected nbgrader_config.py and solutions/")


def assignment_ids(root):
    """Every assignment with a source folder in solutions/, in order."""
    return sorted(p.name for p in (Path(root) / "solutions").iterdir() if p.is_dir() and not p.name.startswith("."))


def tool_env():
    """The environment for nbgrader: this interpreter's bin/ first on PATH (nbgrader runs alembic)."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def nbgrader(root, *args, check=True):
    """Run one nbgrader command in the course folder; returns the CompletedProcess."""
    cmd = [os.path.join(os.path.dirname(sys.executable), "nbgrader"), *args]
    proc = subprocess.run(cmd, cwd=root, env=tool_env(), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"`nbgrader {' '.join(args)}` failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def generate_assignments(root=None, ids=None):
    """Regenerate assignments/<aid>/ from solutions/<aid>/ for each assignment."""
    root = course_root(root)
    known = assignment_ids(root)
    for aid in ids or known:
        if aid not in known:
            raise ValueError(f"unknown assignment {aid!r}; solutions/ holds {known}")
        nbgrader(root, "generate_assignment", aid, "--force")
        print(f"generated assignments/{aid}")
    return ids or known


# What a warm notebook kernel has loaded before it starts (course_lib.grading.kernel_server
# --plain): the libraries the course's notebooks import, and torch._dynamo, which torch's
# optimizers load on their first step (0.7 s). Nothing that looks at its kernel when imported
# is among them: matplotlib picks the inline backend and tqdm.auto the widget bar then.
WARM_MODULES = ("numpy", "scipy.special", "torch", "torch._dynamo")
WARM_KERNEL = "course-warm-python3"
_WARM = {}


def _warm_kernel_manager():
    """A kernel manager whose kernels are forked from this process's plain kernel server,
    started on first use and ending with this process; None (cold kernels) if it does not
    come up."""
    import shutil
    import tempfile

    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    from course_lib.grading import kernel_server

    if _WARM.get("pid") != os.getpid():                  # none yet, or a forked copy of another's
        folder = Path(tempfile.mkdtemp(prefix="course-kernels-"))
        proc = kernel_server.start(folder / "server.sock", dict(os.environ), WARM_MODULES, plain=True)
        _WARM.update(pid=os.getpid(), specs=None)
        if kernel_server.ready(proc):
            spec = folder / "kernels" / WARM_KERNEL
            spec.mkdir(parents=True)
            spec.joinpath("kernel.json").write_text(json.dumps({
                "argv": kernel_server.kernel_argv(folder / "server.sock"), "display_name": "Python 3",
                "language": "python", "metadata": {"debugger": True}}))
            _WARM["specs"] = str(folder / "kernels")
            atexit.register(kernel_server.stop, proc)
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    if not _WARM["specs"]:
        return None
    return AsyncKernelManager(kernel_name=WARM_KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[_WARM["specs"]]))


def execute_notebook(path, timeout=900, warm=True):
    """Run a notebook top to bottom in its own folder, headless.

    Args:
        warm: run it in a kernel forked from a loaded one (WARM_MODULES imported; otherwise an
            ordinary IPython kernel), about 2 s less per notebook than a kernel started cold,
            which `warm=False` asks for (what a student's JupyterLab starts).

    Returns:
        (the executed notebook, seconds it took). Errors inside cells do not raise; they
        are left in the outputs for the caller to inspect.
    """
    import time

    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(path.parent)}})
    if warm:
        client.km = _warm_kernel_manager()
    t0 = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - t0


_PROGRESS_MODELS = ("FloatProgressModel", "IntProgressModel")


def notebook_problems(nb):
    """Error outputs, stderr writes and red progress bars of an executed notebook, one line each.

    A progress bar left short of its total (a loop that stopped early, e.g. because training
    converged) is drawn red, as a failure would be; a loop that stops on purpose sets the bar's
    total to where it stopped."""
    problems = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"cell {cell.get('id')}: {out.get('ename')}: {out.get('evalue')}")
            elif out.get("output_type") == "stream" and out.get("name") == "stderr":
                problems.append(f"cell {cell.get('id')} wrote to stderr: {out.get('text', '')[:300]}")
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for model in state.values():
        if model.get("model_name") in _PROGRESS_MODELS and model.get("state", {}).get("bar_style") == "danger":
            s = model["state"]
            problems.append(f"a progress bar ended red at {s.get('value'):g} of {s.get('max'):g}: "
                            "set its total to where the loop stopped when it stops on purpose")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_lib.course", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("assignments", help="regenerate assignments/ from solutions/")
    gen.add_argument("ids", nargs="*", help="assignment ids (default: all)")
    args = parser.parse_args(argv)
    if args.command == "assignments":
        generate_assignments(ids=args.ids)


if __name__ == "__main__":
    main()
