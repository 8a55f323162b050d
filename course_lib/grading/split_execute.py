"""Autograding in two processes: the tests never share a process with the student's code.

nbgrader's Execute runs every cell of a submission in one kernel, so the tests, the course's
reference implementations and the student's code share a process, and the student's code
can reach whatever the tests use. `SplitExecute` (configured as the first autograde
preprocessor in nbgrader_config.py, so `nbgrader autograde` and `course-grade` both use it)
runs the same notebook with the cells split by who wrote them:

- test cells run in the grading kernel only;
- the course's given (locked) cells run in the grading kernel and in the answer process;
- every other code cell (answers, cells the student added) runs in the answer process only
  (course_lib.grading.answer_process); in the grading kernel it is replaced by a call that forwards
  it and binds the names the tests use to stand-ins (course_lib.grading.answer_proxy).

The answer process imports `course_lib` from an *edition* built here: the infrastructure it
runs on, and from each reference module only the functions the assignment's given cells
import by name (`from course_lib.hmm import sample`) with what they need, never a function
that a test cell uses as a reference. A given cell that imports a whole module whose
functions the tests use is refused: the edition is derived from the notebook, with no list
to keep. As root, the answer process runs as `nobody`, and the course's folders (and the
installed course_lib's) are closed to other users, so no reference, solution or hidden test
can be read from disk either.

The autograded notebook keeps the student's cells as written, with the output they gave in
the answer process.
"""

import ast
import base64
import builtins
import functools
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

from nbgrader.preprocessors import Execute
from traitlets import Bool, Unicode

from course_lib.grading import kernel_server
from course_lib.grading.environment import temporarily, without_secrets
from course_lib.grading.kernel_manager import GradingKernelManager
from course_lib.grading.sandbox import homes_folder, isolation_available

COURSE_LIB = Path(__file__).resolve().parents[1]
INFRASTRUCTURE = ("answer_process", "wire", "demo_cells")      # of course_lib.grading


class EditionError(ValueError):
    """The assignment's given cells import a reference in a way the edition cannot honour."""


# ----------------------------------------------------------------------------- which cell is whose

def _meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def cell_kind(cell):
    """"test" (graded, not an answer), "given" (locked, the course's), "student" (any other
    code cell) or "text"."""
    if cell.get("cell_type") != "code":
        return "text"
    meta = _meta(cell)
    if meta.get("grade") and not meta.get("solution"):
        return "test"
    if meta.get("locked") and not meta.get("solution"):
        return "given"
    return "student"


@functools.lru_cache(maxsize=1024)
def _parse(source):
    """The syntax tree of a cell, or None. Remembered: the given cells and tests are the same in
    every submission of an assignment. The callers below only read the tree."""
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


@functools.lru_cache(maxsize=1024)
def _bound(source):
    """Every name a piece of code binds anywhere (definitions, assignments, imports, loops)."""
    tree, out = _parse(source), set()
    if tree is None:
        return frozenset()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
    return frozenset(out)


@functools.lru_cache(maxsize=1024)
def _loaded(source):
    tree = _parse(source)
    if tree is None:
        return frozenset()
    return frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load))


def answer_names(cells):
    """The names the tests take from the student: used by a test cell, and bound neither by
    a test or given cell nor by Python itself. Only these are bound to stand-ins."""
    tests = [c.source for c in cells if cell_kind(c) == "test"]
    trusted = [c.source for c in cells if cell_kind(c) in ("test", "given")]
    used = set().union(*map(_loaded, tests)) if tests else set()
    bound = set().union(*map(_bound, trusted)) if trusted else set()
    return sorted(used - bound - set(dir(builtins)))


# ----------------------------------------------------------------------------- the edition

def _course_imports(source):
    """(module, names) imported from course_lib by a piece of code; names None for a whole module."""
    tree, out = _parse(source), []
    if tree is None:
        return out
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "course_lib" and len(parts) > 1:
                    out.append((parts[1], None))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "course_lib":
                continue
            if len(parts) > 1:
                out.append((parts[1], [a.name for a in node.names]))
            else:
                out += [(a.name, None) for a in node.names]
    return out


def reference_functions(test_sources):
    """{module: names} of course_lib functions the test cells use (the references)."""
    refs = {}
    for source in test_sources:
        for module, name in _references_in(source):
            refs.setdefault(module, set()).add(name)
    return refs


@functools.lru_cache(maxsize=1024)
def _references_in(source):
    """(module, name) of every course_lib function one test cell uses, remembered per cell."""
    tree, found = _parse(source), []
    if tree is None:
        return ()
    alias = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] == "course_lib" and len(parts) == 1:
                alias.update({a.asname or a.name: a.name for a in node.names})
            elif parts[0] == "course_lib":
                found += [(parts[1], a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "course_lib" and len(parts) > 1 and a.asname:
                    alias[a.asname] = parts[1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in alias:
            found.append((alias[node.value.id], node.attr))
    return tuple(found)


def _module_source(module):
    path = COURSE_LIB / f"{module}.py"
    if not path.is_file():
        raise EditionError(f"course_lib.{module} is not a module of the course")
    return path.read_text(encoding="utf-8")


def _extract(module, roots, refs, lent=()):
    """The part of course_lib.<module> that defines `roots` and what they need, as source.
    Nothing in it may be a function the tests use as a reference, unless the given cells lend
    it by name (`lent`)."""
    source = _module_source(module)
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    defs = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        defs[n.id] = node
    missing = [r for r in roots if r not in defs]
    if missing:
        raise EditionError(f"course_lib.{module} defines no {', '.join(missing)}")
    keep, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep.add(name)
        node = defs[name]
        todo += [n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in defs and n.id not in keep]
    leaked = sorted((keep - set(lent)) & refs.get(module, set()))    # lent by name: the course's choice
    if leaked:
        raise EditionError(f"the given cells import from course_lib.{module} what needs {', '.join(leaked)}, "
                           "which the tests use as a reference")
    kept_nodes = {id(defs[n]) for n in keep}
    out = [ast.get_source_segment(source, tree.body[0]) + "\n\n"] if (
        tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(getattr(tree.body[0], "value", None), ast.Constant)) else []
    used = {n.id for name in keep for n in ast.walk(defs[name]) if isinstance(n, ast.Name)}

    def needed(node):                   # an import the kept code uses (what it does not use stays out)
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            return True
        return any((a.asname or a.name).split(".")[0] in used for a in node.names)

    for node in tree.body:
        if (isinstance(node, (ast.Import, ast.ImportFrom)) and needed(node)) or id(node) in kept_nodes:
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            out.append("".join(lines[start - 1:node.end_lineno]) + "\n")
    return "".join(out)


def build_edition(dest, given_sources, test_sources):
    """Write course_lib's edition for an assignment into folder `dest` (see the module
    docstring) and return `dest`."""
    refs = reference_functions(test_sources)
    package = Path(dest) / "course_lib"
    if package.exists():
        shutil.rmtree(package)
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""The part of course_lib a submission runs with while it is graded."""\n')
    wanted, lent = {}, {}                       # module -> None (whole) or names; names the given cells lend
    todo = [(m, names, True) for src in given_sources for m, names in _course_imports(src)]
    texts = {}
    while todo:
        while todo:
            module, names, by_course = todo.pop()
            if module == "grading":
                continue                        # test-cell helpers: never needed by answers
            if names is None:
                if refs.get(module):
                    raise EditionError(
                        f"a given cell imports all of course_lib.{module}, whose {', '.join(sorted(refs[module]))} "
                        f"the tests use as references; import the functions students may use by name "
                        f"(from course_lib.{module} import ...)")
                if wanted.get(module, 0) is not None:
                    wanted[module] = None
            elif wanted.get(module, 0) is not None:
                wanted.setdefault(module, set()).update(names)
                if by_course:
                    lent.setdefault(module, set()).update(names)
        for module, names in sorted(wanted.items()):  # what the modules kept import comes too
            text = _module_source(module) if names is None else _extract(module, sorted(names), refs,
                                                                          lent.get(module, set()))
            if texts.get(module) != text:
                texts[module] = text
                todo += [(m, n, False) for m, n in _course_imports(text)]
    for module, text in texts.items():
        (package / f"{module}.py").write_text(text, encoding="utf-8")
    infrastructure = package / "grading"
    infrastructure.mkdir()
    (infrastructure / "__init__.py").write_text('"""What the answer process runs on."""\n')
    for module in INFRASTRUCTURE:
        shutil.copy(COURSE_LIB / "grading" / f"{module}.py", infrastructure / f"{module}.py")
    for path in [Path(dest), package, *package.iterdir(), *infrastructure.iterdir()]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return str(dest)


# ----------------------------------------------------------------------------- closing the course

def close_private(root):
    """Close everything in folder `root` to other users, except the entry that holds this
    Python environment (`nobody` still runs it). The folder itself stays traversable."""
    root = Path(root).resolve()
    keep = {Path(sys.prefix).resolve(), Path(tempfile.gettempdir()).resolve()}
    for entry in root.iterdir():
        full = entry.resolve() if entry.is_symlink() else entry
        if any(k == full or k.is_relative_to(full) for k in keep):
            continue
        try:
            mode = entry.lstat().st_mode
            if not stat.S_ISLNK(mode):
                os.chmod(entry, stat.S_IMODE(mode) & ~0o007)
        except OSError:
            pass
    try:
        os.chmod(root, (stat.S_IMODE(root.stat().st_mode) & ~0o006) | 0o001)
    except OSError:
        pass


def course_roots(cwd):
    """The folders to close: the course being graded (found above `cwd`, and any listed in
    COURSE_PRIVATE_ROOTS) and the project course_lib comes from."""
    roots = {COURSE_LIB.parent}
    roots |= {Path(p) for p in os.environ.get("COURSE_PRIVATE_ROOTS", "").split(os.pathsep) if p}
    here = Path(cwd).resolve()
    for folder in [here, *here.parents]:
        if (folder / "nbgrader_config.py").is_file() and (folder / "solutions").exists():
            roots.add(folder)
            break
    return roots


# ----------------------------------------------------------------------------- warm kernels

SERVED_KERNEL = "course-served-grading"
_SERVED = {}


def served_kernels(nb):
    """Warm kernels for plain `nbgrader autograde`: (JUPYTER_PATH entry holding the kernelspec
    SERVED_KERNEL, server socket), or (None, None) when the server does not come up.

    The server (course_lib.grading.kernel_server, grading mode, kernel_server.process_server) is
    started by the first notebook this process autogrades, with torch loaded if that notebook uses
    it, and ends with the process. Every grading kernel and answer process after it is a fork: one
    interpreter with its libraries loaded per command, where each notebook started two. Its
    kernels are course-grade's: sandboxed as course_lib.grading.sandbox says, as the grader's
    user. A process that outlives its server (Formgrader autogrades inside the Jupyter server)
    starts another on its next notebook."""
    return kernel_server.process_server(_SERVED, SERVED_KERNEL, lambda: without_secrets(os.environ),
                                        lambda: kernel_server.preload_for([nb]))


# ----------------------------------------------------------------------------- the preprocessor

class SplitExecute(Execute):
    """nbgrader's Execute, with the cells split between the grading kernel and the answer
    process (see the module docstring)."""

    edition_dir = Unicode("", help="where to build course_lib's edition (a temporary folder if empty)").tag(config=True)
    warm_kernels = Bool(True, help="plain `nbgrader autograde`: fork the grading kernels and answer processes "
                                   "from one server per command (served_kernels); course-grade brings its own").tag(config=True)

    def __init__(self, *args, **kwargs):
        # nbgrader's Execute passes jupyter_client's AsyncKernelManager unless told otherwise
        kwargs.setdefault("kernel_manager_class", GradingKernelManager)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        cells = nb.cells
        self._kinds = [cell_kind(c) for c in cells]
        self._names = answer_names(cells)
        given = [c.source for c, k in zip(cells, self._kinds) if k == "given"]
        tests = [c.source for c, k in zip(cells, self._kinds) if k == "test"]
        folder = self.edition_dir or tempfile.mkdtemp(prefix="course-edition-")
        os.chmod(folder, 0o755)
        build_edition(folder, given, tests)
        isolate = os.environ.get("COURSE_ANSWERS_ISOLATE")
        if isolate is None:
            isolate = "1" if isolation_available() else "0"
        if isolate == "1":
            for root in course_roots(os.getcwd()):
                close_private(root)
        timeout = self.timeout if self.timeout and self.timeout > 0 else 300
        # The private homes of this notebook's sandboxed processes, in one folder removed below:
        # what they wrote does not outlive the grading.
        homes = homes_folder()
        served = {}
        if self.warm_kernels and not self.kernel_name and not os.environ.get("COURSE_KERNEL_SERVER"):
            path, sock = served_kernels(nb)          # plain nbgrader: course-grade names its kernel
            if sock:
                served = {"JUPYTER_PATH": os.pathsep.join(filter(None, [path, os.environ.get("JUPYTER_PATH")])),
                          "COURSE_KERNEL_SERVER": sock}
                self.kernel_name = SERVED_KERNEL
        try:
            with temporarily(COURSE_ANSWER_LIB=folder, COURSE_ANSWERS_ISOLATE=isolate,
                        COURSE_ANSWER_TIMEOUT=str(max(1.0, 0.8 * timeout)), COURSE_SANDBOX_HOMES=homes, **served):
                return super().preprocess(nb, resources, km)
        finally:
            if served:
                self.kernel_name = ""
            shutil.rmtree(homes, ignore_errors=True)
            if not self.edition_dir:
                shutil.rmtree(folder, ignore_errors=True)

    def preprocess_cell(self, cell, resources, index):
        kind = self._kinds[index] if index < len(self._kinds) else "student"
        if kind in ("text", "test"):
            return super().preprocess_cell(cell, resources, index)
        original = cell.source
        encoded = base64.b64encode(original.encode("utf-8")).decode()
        if kind == "student":
            cell.source = f"__import__('importlib').import_module('course_lib.grading.answer_proxy').forward(globals(), {encoded!r}, {self._names!r})"
        else:                                   # the course's cell: here, and there for the answers
            cell.source = (original + f"\n__import__('importlib').import_module('course_lib.grading.answer_proxy').forward("
                           f"globals(), {encoded!r}, [], given=True)")
        try:
            return super().preprocess_cell(cell, resources, index)
        finally:
            cell.source = original
