"""The repository's own rules: clean notebooks with fixed unique ids, the torch pin, the
set-up commands and CI script, and generated files that match their sources."""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ALL_NOTEBOOKS = sorted(
    p for d in ("notebooks", "solutions", "assignments") for p in (REPO / d).glob("**/*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=[str(p.relative_to(REPO)) for p in ALL_NOTEBOOKS])
def test_notebook_is_committed_clean_with_fixed_ids(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert (nb["nbformat"], nb["nbformat_minor"]) >= (4, 5), "cell ids need nbformat 4.5"
    ids = [c.get("id") for c in nb["cells"]]
    assert all(ids), "every cell has an id"
    assert len(set(ids)) == len(ids), f"duplicate cell ids: {sorted(i for i in ids if ids.count(i) > 1)}"
    for cell in nb["cells"]:
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", cell["id"]), f"bad id {cell['id']!r}"
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, (
                f"cell {cell['id']} carries output: clear outputs before committing"
            )
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3"


def test_nbgrader_ids_are_unique_and_match_cell_ids():
    for path in ALL_NOTEBOOKS:
        if "notebooks" in path.parts:
            continue
        nb = json.loads(path.read_text(encoding="utf-8"))
        gids = [c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"] if "nbgrader" in c["metadata"]]
        assert len(set(gids)) == len(gids), f"{path.name}: duplicate grade ids"
        for c in nb["cells"]:
            if "nbgrader" in c["metadata"]:
                assert c["id"] == c["metadata"]["nbgrader"]["grade_id"], f"{path.name}: {c['id']}"


def test_torch_is_pinned_to_the_cpu_build():
    pins = (REPO / "constraints.txt").read_text()
    assert re.search(r"^torch==2\.13\.0$", pins, re.M)
    assert "torch==2.13.0" in (REPO / "pyproject.toml").read_text()
    import torch

    assert torch.__version__.startswith("2.13.0") and not torch.cuda.is_available()


def test_every_dependency_is_pinned():
    """The constraints file pins every package the course installs."""
    pinned = {re.split(r"==", line)[0].lower().replace("_", "-")
              for line in (REPO / "constraints.txt").read_text().splitlines() if "==" in line}
    freeze = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
                            capture_output=True, text=True, check=True).stdout
    installed = {line.split("==")[0].lower().replace("_", "-") for line in freeze.splitlines() if "==" in line}
    missing = installed - pinned - {"pip", "setuptools", "wheel"}
    assert not missing, f"installed but not pinned in constraints.txt: {sorted(missing)}"


def test_ci_script_runs_the_readme_command():
    ci = (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make lab" in readme
    assert "set -e" in ci


def test_makefile_puts_the_venv_first_on_path():
    mk = (REPO / "Makefile").read_text()
    assert re.search(r"^export PATH := \$\(BIN\):\$\(PATH\)", mk, re.M)
    for target in ("lab:", "test:", "assignments:", "bench:"):
        assert re.search(rf"^{target}", mk, re.M), target


def test_environment_yml_matches_pyproject():
    env = (REPO / "environment.yml").read_text()
    assert "python=3.11" in env and "-e ." in env
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = [re.match(r"[A-Za-z0-9_.-]+", d).group(0) for d in project["dependencies"]]
    for dep in deps:
        assert dep.lower() in env.lower(), f"environment.yml lacks {dep}"


def test_xdist_groups_keep_a_group_on_one_worker(tmp_path):
    """`make test` runs `pytest -n 2 --dist loadgroup`, and the suite relies on xdist_group to keep
    a module's tests (and its module-scoped fixture: one JupyterLab server, one grading run) on one
    worker. Some pytest and pytest-xdist releases together ignore the mark (pytest 9.2 with xdist
    3.8); this runs a small suite with the installed pair and checks where its tests ran."""
    (tmp_path / "test_grouped.py").write_text(
        "import os\nimport pytest\n\n"
        "pytestmark = pytest.mark.xdist_group('together')\n\n"
        "@pytest.mark.parametrize('i', range(8))\n"
        "def test_here(i):\n"
        "    with open(f'worker-{i}.txt', 'w') as f:\n"
        "        f.write(os.environ['PYTEST_XDIST_WORKER'])\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider",
         "test_grouped.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    workers = {(tmp_path / f"worker-{i}.txt").read_text() for i in range(8)}
    assert len(workers) == 1, f"the tests of one xdist_group ran on workers {sorted(workers)}"
