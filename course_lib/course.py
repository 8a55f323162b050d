"""Course maintenance from the command line.

    python -m course_lib.course assignments [AID ...]   regenerate assignments/ from solutions/

`make assignments` runs the first. The student versions are written by nbgrader's
generate_assignment; with fixed cell ids the output is byte-for-byte reproducible, and the
notebook and cell metadata are put in the house form (HOUSE_METADATA), so that saving a source
in JupyterLab changes nothing in the student version that the edit itself does not.
"""

import argparse
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
