"""Does an answer use or copy the course's reference implementation?

Checked by the grader on the submitted source, outside the student's kernel, so nothing a
submission does at run time can hide it:

- **use**: the answer names a reference module of course_lib (`course_lib.hmm`, ...), by
  import, attribute or string;
- **copy**: the answer reproduces what the mathematics does not dictate. Code that follows
  the same equations with the same names looks alike whoever writes it (an honest LSTM
  step matches the reference's tokens at 0.93-0.96), so likeness of short code proves
  nothing. A copy is flagged when the answer contains
  - two or more lines of a reference function's docstring or comments, verbatim; or
  - two or more of a reference module's private helper names (`_check_params`, ...); or
  - for a long reference function (>= 150 tokens), 0.97 or more of its tokens in order.

    reference_use(source, given) -> list of reasons (empty when the answer is its own work)
"""

import ast
import difflib
import importlib.util
import io
import re
import textwrap
import tokenize
from functools import lru_cache
from pathlib import Path

# The reference modules are derived: every module of course_lib itself (teaching code), so a
# new module is covered without editing a list; the tooling below is not a reference.
NOT_REFERENCES = ("data", "course", "site")
REFERENCE_MODULES = tuple(sorted(
    p.stem for p in Path(__file__).resolve().parents[1].glob("*.py")
    if not p.stem.startswith("_") and p.stem not in NOT_REFERENCES))
ALLOWED = ("grading", "data", "exercises")   # helpers a student may use
LONG_TOKENS = 150
THRESHOLD = 0.97
MIN_PROSE = 20
DOCSTRING_QUOTES = ('"' * 3, "'" * 3)


def _tokens(source):
    """Code tokens in order: names, operators and numbers; every string is "STR"; comments dropped."""
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type in (tokenize.NAME, tokenize.OP, tokenize.NUMBER):
                out.append(tok.string)
            elif tok.type == tokenize.STRING:
                out.append("STR")
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return out


def _prose_lines(source):
    """Docstring and comment lines, stripped, long enough to be distinctive."""
    lines = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                lines.append(tok.string.lstrip("#").strip())
            elif tok.type == tokenize.STRING and tok.string.lstrip("rRbBuU").startswith(DOCSTRING_QUOTES):
                lines += [ln.strip() for ln in tok.string.split("\n")]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return [ln for ln in lines if len(ln) >= MIN_PROSE]


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")     # as the parser splits lines


def source_lines(source):
    """The lines of a piece of code with their line endings, split as Python's parser does."""
    return _LINE.findall(source)


def segment(lines, node):
    """ast.get_source_segment(source, node, padded=True) from the source's lines (source_lines):
    the same text, without splitting the whole source again for every node."""
    first, last = node.lineno - 1, node.end_lineno - 1
    if first == last:
        return lines[first].encode()[node.col_offset:node.end_col_offset].decode()
    lead = lines[first].encode()
    padding = "".join(c if c in "\f\t" else " " for c in lead[:node.col_offset].decode())
    return "".join([padding + lead[node.col_offset:].decode(), *lines[first + 1:last],
                    lines[last].encode()[:node.end_col_offset].decode()])


def _functions(source):
    """(name, source) of every function defined in a piece of code, nested ones included."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    out, lines = [], source_lines(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.append((node.name, textwrap.dedent(segment(lines, node))))
    return out


def defined_names(source, imports=False):
    """Top-level names a piece of code defines: functions, classes, assigned names, and with
    imports=True the names it imports. Code that does not parse defines nothing."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif imports and isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


@lru_cache(maxsize=1)
def _references():
    """[(qualified name, tokens, prose lines)] and {module: private names} of the references,
    read from their source files (nothing is imported: torch stays out of the grader)."""
    refs, private = [], {}
    for name in REFERENCE_MODULES:
        spec = importlib.util.find_spec(f"course_lib.{name}")
        with open(spec.origin, encoding="utf-8") as f:
            source = f.read()
        lines = source_lines(source)
        for node in ast.parse(source).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                src = textwrap.dedent(segment(lines, node))
                refs.append((f"course_lib.{name}.{node.name}", _tokens(src), frozenset(_prose_lines(src))))
        private[f"course_lib.{name}"] = {n for n in defined_names(source, imports=True)
                                         if n.startswith("_") and not n.startswith("__") and len(n) > 4}
    return refs, private


def _names_reference(source):
    """course_lib reference modules the code names (imports, attributes, strings)."""
    found = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        tree = None
    if tree is not None:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("course_lib"):
                parts = node.module.split(".")
                if len(parts) > 1 and parts[1] not in ALLOWED:
                    found.add(node.module)
                elif len(parts) == 1:
                    found.update(f"course_lib.{a.name}" for a in node.names if a.name not in ALLOWED)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    parts = a.name.split(".")
                    if parts[0] == "course_lib" and (len(parts) == 1 or parts[1] not in ALLOWED):
                        found.add(a.name)
    for mod in REFERENCE_MODULES:                        # strings and dynamic imports
        if f"course_lib.{mod}" in source or f"course_lib/{mod}" in source:
            found.add(f"course_lib.{mod}")
    return sorted(found)


def reference_use(source, given=""):
    """Reasons why this answer is not the student's own work (empty if none).

    Args:
        source: the answer cell as submitted.
        given: what the student was given in that cell (stub, docstring), never held against them.
    """
    return list(_reference_use(source, given))


@lru_cache(maxsize=4096)
def _reference_use(source, given):
    """reference_use, remembered per process: a part left untouched, or answered alike, is the
    same text in many submissions."""
    reasons = [f"uses the course's reference {m}" for m in _names_reference(source)]
    refs, private = _references()
    prose = set(_prose_lines(source)) - set(_prose_lines(given)) - {ln.strip() for ln in given.split("\n")}
    idents = {t for t in _tokens(source) if t.isidentifier()}
    for mod, names in private.items():
        used = sorted(idents & names)
        if len(used) >= 2:
            reasons.append(f"uses private helpers of the course's reference {mod} ({', '.join(used[:4])})")
    for ref_name, _, ref_prose in refs:
        shared = prose & ref_prose
        if len(shared) >= 2:
            reasons.append(f"copies the text of the course's reference {ref_name} ({len(shared)} lines)")
    for name, body in _functions(source):
        toks = _tokens(body)
        for ref_name, ref_toks, _ in refs:
            if len(ref_toks) < LONG_TOKENS or abs(len(toks) - len(ref_toks)) > 0.1 * len(ref_toks):
                continue
            matcher = difflib.SequenceMatcher(None, toks, ref_toks, autojunk=False)
            if matcher.real_quick_ratio() < THRESHOLD or matcher.quick_ratio() < THRESHOLD:
                continue                                 # upper bounds of ratio(), far cheaper
            ratio = matcher.ratio()
            if ratio >= THRESHOLD:
                reasons.append(f"{name} is a copy of the course's reference {ref_name} (similarity {ratio:.2f})")
    return tuple(sorted(set(reasons)))
