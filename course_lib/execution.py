"""Running the course's notebooks headless, as the test suite, the website (course_lib.site)
and `make bench` do: execute_notebook, and notebook_problems, what a run must not show.

A notebook runs in its own folder, top to bottom, errors left in its outputs. By default its
kernel is forked from a plain kernel server of this process (course_lib.grading.kernel_server
--plain) that has WARM_MODULES loaded; tests/test_notebooks.py holds such a kernel to what a
kernel started cold gives.
"""

import os
from pathlib import Path

# What a warm notebook kernel has loaded before it starts (course_lib.grading.kernel_server
# --plain): the libraries the course's notebooks import, and torch._dynamo, which torch's
# optimizers load on their first step (0.7 s). Nothing that looks at its kernel when imported
# is among them: matplotlib picks the inline backend and tqdm.auto the widget bar then.
WARM_MODULES = ("numpy", "scipy.special", "torch", "torch._dynamo")
WARM_KERNEL = "course-warm-python3"
_WARM = {}


def _warm_kernel_manager():
    """A kernel manager whose kernels are forked from this process's plain kernel server
    (kernel_server.process_server), started on first use and ending with this process; None (cold
    kernels) if it does not come up."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    from course_lib.grading import kernel_server

    specs, _ = kernel_server.process_server(_WARM, WARM_KERNEL, lambda: dict(os.environ), lambda: WARM_MODULES,
                                            plain=True, display_name="Python 3", debugger=True)
    if not specs:
        return None
    return AsyncKernelManager(kernel_name=WARM_KERNEL,
                              kernel_spec_manager=KernelSpecManager(kernel_dirs=[os.path.join(specs, "kernels")]))


def execute_notebook(path, timeout=900, warm=True):
    """Run a notebook top to bottom in its own folder, headless.

    Args:
        warm: run it in a kernel forked from a loaded one (WARM_MODULES imported; otherwise an
            ordinary IPython kernel): 1 to 2 s less per notebook than a kernel started cold,
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
