"""Grading in two processes (course_lib.grading.split_execute, answer_process, answer_proxy, wire).

The parts are checked here on their own; tests/test_grader.py grades attacks through the whole
pipeline. Oracles: the assignments' own cells (which names the solution cells define), the
reference modules' sources (what the edition must leave out), round trips of the data format,
and a real answer process started without a grader.
"""

import ast
import subprocess
import sys
import textwrap

import nbformat
import numpy as np
import pytest
from grading_support import REPO

from course_lib.grading import split_execute as se
from course_lib.grading import wire
from course_lib.grading.originality import defined_names

AIDS = sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())


def cells_of(aid):
    [path] = sorted((REPO / "solutions" / aid).glob("*.ipynb"))
    return nbformat.read(path, as_version=4).cells


def code_cell(source, **nbgrader):
    cell = nbformat.v4.new_code_cell(source)
    if nbgrader:
        cell.metadata["nbgrader"] = nbgrader
    return cell


@pytest.mark.parametrize("aid", AIDS)
def test_the_names_bound_to_stand_ins_are_the_ones_the_answers_define(aid):
    """Oracle: every function a solution cell defines that a test cell uses."""
    cells = cells_of(aid)
    answers = set().union(*(defined_names(c.source) for c in cells if se.cell_kind(c) == "student"
                            and c.metadata.get("nbgrader", {}).get("solution")))
    used = set().union(*({n.id for n in ast.walk(ast.parse(c.source)) if isinstance(n, ast.Name)}
                         for c in cells if se.cell_kind(c) == "test"))
    assert set(se.answer_names(cells)) == answers & used
    assert se.answer_names(cells), "the tests use the answers"


@pytest.mark.parametrize("aid", AIDS)
def test_the_remembered_syntax_trees_are_read_not_changed(aid, tmp_path):
    """A cell's syntax tree, and what is read from it, is worked out once per process and shared:
    the answers' names and the references come out the same remembered or not, a caller that
    changes what it got changes nothing for the next, and after the names, the references and
    the edition of a whole assignment are worked out, each tree still equals a fresh parse."""
    cells = cells_of(aid)
    tests = [c.source for c in cells if se.cell_kind(c) == "test"]
    for remembered in (se._parse, se._bound, se._loaded, se._references_in):
        remembered.cache_clear()
    names, refs = se.answer_names(cells), se.reference_functions(tests)
    refs.setdefault("hmm", set()).add("changed by the caller")
    assert se.answer_names(cells) == names and se.reference_functions(tests) == se.reference_functions(tests)
    assert "changed by the caller" not in se.reference_functions(tests).get("hmm", set())
    se.build_edition(tmp_path, [c.source for c in cells if se.cell_kind(c) == "given"], tests)
    parsed = [c.source for c in cells if c.cell_type == "code"]
    assert se._parse.cache_info().currsize > 0
    for source in parsed:
        tree = se._parse(source)
        assert tree is se._parse(source), "the same tree for the same source"
        assert tree is None or ast.dump(tree) == ast.dump(ast.parse(source))


def test_a_student_cannot_have_a_test_helper_or_a_builtin_bound():
    cells = [code_cell("import numpy as np", locked=True),
             code_cell("def f(x):\n    return len(x)", solution=True, grade_id="f"),
             code_cell("def _helper(y):\n    return y\nassert len(f([1])) == _helper(1)\nassert np.all(True)",
                       grade=True, grade_id="t", points=1, locked=True)]
    assert se.answer_names(cells) == ["f"]


@pytest.mark.parametrize("aid", AIDS)
def test_the_edition_holds_no_function_the_tests_use(aid, tmp_path):
    """Each assignment's edition: every module it holds defines none of the functions its test
    cells take from that module, except those the given cells lend by name."""
    cells = cells_of(aid)
    given = [c.source for c in cells if se.cell_kind(c) == "given"]
    tests = [c.source for c in cells if se.cell_kind(c) == "test"]
    se.build_edition(tmp_path, given, tests)
    refs = se.reference_functions(tests)
    assert refs, "the tests use references"
    lent = {(m, n) for s in given for m, names in se._course_imports(s) for n in (names or [])}
    for path in (tmp_path / "course_lib").glob("*.py"):
        defined = defined_names(path.read_text())
        leaked = {n for n in defined & refs.get(path.stem, set()) if (path.stem, n) not in lent}
        assert not leaked, f"{aid}: the edition's {path.name} defines {leaked}"
        assert path.stat().st_mode & 0o004, "readable by the answer process"
    assert {p.stem for p in (tmp_path / "course_lib" / "grading").glob("*.py")} == {"__init__", *se.INFRASTRUCTURE}
    assert "check_array" not in (tmp_path / "course_lib" / "grading" / "__init__.py").read_text()


def test_a1s_edition_lends_sampling_and_nothing_of_the_algorithms(tmp_path):
    cells = cells_of("a1_markov_hmm")
    se.build_edition(tmp_path, [c.source for c in cells if se.cell_kind(c) == "given"],
                     [c.source for c in cells if se.cell_kind(c) == "test"])
    text = (tmp_path / "course_lib" / "hmm.py").read_text()
    names = defined_names(text)
    assert {"sample", "dishonest_casino"} <= names
    assert not names & {"forward_algorithm", "backward_algorithm", "posteriors", "viterbi", "baum_welch",
                        "_forward_log", "_backward_log", "_viterbi_log", "_scaled_chain", "_viterbi_blocked"}
    # and what is lent works, in a process that sees the edition only
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from course_lib.grading.answer_process import use_edition
        use_edition({str(tmp_path)!r})
        import numpy as np
        from course_lib.hmm import sample, dishonest_casino
        import course_lib.hmm as h
        z, x = sample(*dishonest_casino(), 50, np.random.default_rng(0))
        print(len(x), hasattr(h, "forward_algorithm"))
        try:
            import course_lib.rnn
        except ImportError:
            print("no rnn")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.split() == ["50", "False", "no", "rnn"], out.stderr


def test_what_a_lent_function_imports_from_the_course_comes_too(tmp_path):
    """Oracle: importing the lent functions in a process that sees only the edition works."""
    se.build_edition(tmp_path, ["from course_lib.data import number_tokens, Vocab"], [])
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from course_lib.grading.answer_process import use_edition
        use_edition({str(tmp_path)!r})
        from course_lib.data import number_tokens, Vocab
        print(" ".join(number_tokens(21, "de")))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip() == "ein und zwanzig", out.stderr
    assert (tmp_path / "course_lib" / "validation.py").exists()


def test_lending_a_whole_reference_module_is_refused(tmp_path):
    with pytest.raises(se.EditionError, match="import the functions students may use by name"):
        se.build_edition(tmp_path, ["from course_lib import hmm"], ["from course_lib import hmm as _h\n_h.viterbi"])
    with pytest.raises(se.EditionError, match="which the tests use as a reference"):
        # `sample` is lent, but if it needed a reference function that would leak too
        se._extract("hmm", ["sample"], {"hmm": {"_check_params"}})


@pytest.mark.parametrize("value", [
    np.arange(12.0).reshape(3, 4), np.float32(1.5), np.array(3), np.array([True, False]),
    (np.ones(2), [1, 2.5, "a", None, True], {"k": np.zeros((0, 3))}), 7, -0.0, float("inf"), "text"])
def test_plain_data_crosses_unchanged(value):
    back = wire.decode(wire.encode(value))
    assert type(back) is type(value)
    if isinstance(value, (np.ndarray, np.generic)):
        assert back.dtype == value.dtype and np.array_equal(back, value)
    elif isinstance(value, tuple):
        assert np.array_equal(back[0], value[0]) and back[1] == value[1] and back[2]["k"].shape == (0, 3)
    else:
        assert back == value or (back != back and value != value)


def test_other_objects_cross_as_handles_or_not_at_all():
    class Cache:
        pass

    obj, handles = Cache(), []
    d = wire.encode(obj, handles)
    assert handles == [obj] and d["t"] == "handle"
    assert wire.decode(d, handles) is obj, "back in the process that owns it"
    assert isinstance(wire.decode(d), wire.Handle), "elsewhere only a handle"
    with pytest.raises(wire.WireError):
        wire.encode(obj)
    for forged in ({"t": "pickle", "v": "gASV"}, {"t": "nd", "dtype": "O", "shape": [1], "b64": ""},
                   {"t": "num", "kind": "complex", "v": "1j"}, {"t": "handle", "n": 5}, []):
        with pytest.raises(wire.WireError):
            wire.decode(forged, handles)


def test_an_answer_process_runs_cells_and_calls_and_lends(tmp_path):
    """A real answer process, started as a grading kernel would start it without a server."""
    from course_lib.grading.answer_proxy import AnswerSession

    se.build_edition(tmp_path / "ed", ["import numpy as np"], [])
    session = AnswerSession(edition=str(tmp_path / "ed"), isolate=False, timeout=20, cwd=str(tmp_path))
    try:
        reply = session.run_cell("import numpy as np\ndef f(x):\n    return helper(x) * 2\nprint('hi')", ["f", "g"])
        assert reply["names"] == {"f": {"kind": "function", "type": "function"}, "g": {"kind": "missing"}}
        assert reply["outputs"][0]["text"] == "hi\n"
        with session.lend({"helper": lambda x: np.asarray(x) + 1}):
            assert np.array_equal(session.call("f", (np.arange(3.0),), {}), [2.0, 4.0, 6.0])
        with pytest.raises(Exception, match="helper"):
            session.call("f", (1.0,), {})                       # lent no longer
        # what the function does to its arguments shows here as it would beside the test
        session.run_cell("def scale(a, d):\n    a *= 2\n    d['new'] = a[:1] + 1\n    d['b'] = d['b']\n    return d", [])
        a, b = np.ones(3), np.zeros(2)
        d = {"b": b}
        out = session.call("scale", (a, d), {})
        assert np.array_equal(a, [2, 2, 2]), "modified in place"
        assert out is d and d["b"] is b and np.array_equal(d["new"], [3.0]), "the same objects"
        session.run_cell("def twice(fn, x):\n    return fn(fn(x))", [])
        assert session.call("twice", (lambda v: v * 3, 2.0), {}) == 18.0, "a function argument calls back"
        session.run_cell("def hang():\n    while True: pass\ndef die():\n    import os; os._exit(1)", [])
        with pytest.raises(AssertionError, match="did not return within"):
            session.timeout = 2
            session.call("hang", (), {})
        session.timeout = 20
        with pytest.raises(AssertionError, match="stopped while die ran"):
            session.call("die", (), {})
        with session.lend({"helper": lambda x: x}):
            assert session.call("f", (2.0,), {}) == 4.0, "started again, with the cells run again"
        assert session.starts == 3
    finally:
        session.kill()


def test_plain_autograde_serves_its_kernels_from_one_server_and_another_when_it_ends(monkeypatch):
    """served_kernels (plain `nbgrader autograde`): every notebook of a process gets the same server,
    whose kernelspec starts kernel_client on its socket; once that server has ended (a Jupyter
    server that runs Formgrader's autograde lives on), the next notebook starts another that serves."""
    import json
    import socket
    from pathlib import Path

    from course_lib.grading import kernel_server

    monkeypatch.setattr(se, "_SERVED", {})
    nb = nbformat.v4.new_notebook(cells=[code_cell("x = 1")])
    path, sock = se.served_kernels(nb)
    first = se._SERVED["proc"]
    try:
        assert se.served_kernels(nb) == (path, sock) and se._SERVED["proc"] is first
        spec = json.loads((Path(path) / "kernels" / se.SERVED_KERNEL / "kernel.json").read_text())
        assert spec["argv"] == kernel_server.kernel_argv(sock)
        first.kill()
        first.wait()
        with socket.socket(socket.AF_UNIX) as conn, pytest.raises(ConnectionRefusedError):
            conn.connect(sock)                                   # nobody serves there now
        assert se.served_kernels(nb) == (path, sock)
        second = se._SERVED["proc"]
        assert second is not first and second.poll() is None
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(sock)                                   # the new server listens
    finally:
        for proc in (first, se._SERVED.get("proc")):
            if proc is not None:
                kernel_server.stop(proc)
