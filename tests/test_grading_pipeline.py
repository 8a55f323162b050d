"""The whole nbgrader pipeline, in a temporary copy of the course:

generate_assignment reproduces assignments/ byte for byte; no solution or hidden-test line
reaches a student notebook or the feedback; a correct submission gets full marks and an
untouched one 0 on every autograded test without aborting (plain `nbgrader autograde` and
`generate_feedback`, as an instructor runs them); each typical mistake loses exactly the parts
it breaks (all of them graded in one run of course-grade, two workers, feedback included).
"""

import filecmp
import re
from pathlib import Path

import grading_support as gs
import nbformat
import pytest
from grading_cases import MUTANTS

from course_lib.course import assignment_ids, nbgrader
from course_lib.grading.grader import grade

pytestmark = pytest.mark.grading
AIDS = assignment_ids(gs.REPO)


# A cell a student may add: where the answer process that runs it came from. Plain nbgrader forks
# the grading kernels and answer processes of one command from one server (split_execute.served_kernels).
PROBE = ("import os\n"
         "with open(f'/proc/{os.getppid()}/cmdline', 'rb') as f:\n"
         "    parent = f.read().replace(bytes(1), b' ').decode().strip()\n"
         "print(f'answer process {os.getpid()}, started by {os.getppid()}: {parent}')\n")


def probing(nbs):
    """The notebooks with PROBE as an extra cell at the end of the first."""
    first = sorted(nbs)[0]
    nbs[first].cells.append(nbformat.v4.new_code_cell(PROBE))
    return nbs


def probe_output(course, aid, student, name):
    """(pid, cmdline) of the process that started the answer process of student's probe cell, from the
    autograded notebook."""
    nb = nbformat.read(Path(course) / "autograded" / student / aid / name, as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.source == PROBE for o in c.get("outputs", []))
    m = re.search(r"answer process \d+, started by (\d+): (.*)", text)
    assert m, f"the probe cell of {student} printed {text!r}"
    return int(m.group(1)), m.group(2)


def test_every_assignment_has_grading_cases():
    assert AIDS, "solutions/ holds no assignment"
    for aid in AIDS:
        assert MUTANTS.get(aid), f"{aid} has no typical-mistake submissions in tests/grading_cases.py"


@pytest.fixture(scope="module", params=[
    pytest.param(aid, marks=pytest.mark.xdist_group(f"grading-{aid}")) for aid in AIDS])
def graded(request, tmp_path_factory):
    """Regenerate; grade the correct and the untouched submission (each with PROBE added) with plain
    nbgrader, and every typical mistake with course-grade; make the feedback of all of them."""
    aid = request.param
    course = gs.copy_course(tmp_path_factory.mktemp(aid))
    committed = course / "assignments_committed"
    (course / "assignments").rename(committed)
    nbgrader(course, "generate_assignment", aid, "--force")
    names = gs.notebook_names(aid)
    students = {"correct": probing({n: gs.filled_submission(aid, n) for n in names}),
                "untouched": probing({n: gs.filled_submission(aid, n, untouched=True) for n in names})}
    for student, nbs in students.items():
        gs.submit(course, aid, student, nbs)
    proc = gs.autograde(course, aid)
    feedback = nbgrader(course, "generate_feedback", aid, "--force")
    folders = []
    for name, (mutations, _) in MUTANTS[aid].items():
        student = f"mistake-{name}"
        students[student] = {n: gs.filled_submission(aid, n, mutations.get(n, {})) for n in names}
        folder = course / "mistakes" / student
        folder.mkdir(parents=True)
        for n, nb in students[student].items():
            nbformat.write(nb, folder / n)
        folders.append(str(folder))
    results = grade(aid, folders, jobs=2, course=course, work=course / "course-grade",
                    feedback_dir=course / "feedback-mistakes", progress=False)
    return {"aid": aid, "course": course, "committed": committed, "names": names,
            "students": students, "autograde": proc, "feedback": feedback,
            "mistakes": {r["student"]: r for r in results}}


def scores_of(graded, student):
    """{grade_id: (score, max_score)} of a student's autograded test cells, from the gradebook of
    plain nbgrader or from course-grade's results."""
    if student in graded["mistakes"]:
        return {p["cell"]: (p["score"], p["max_score"]) for p in graded["mistakes"][student]["parts"]
                if p["kind"] == "autograded"}
    return gs.scores(graded["course"], graded["aid"], student)


def feedback_page(graded, student, name):
    if student in graded["mistakes"]:
        return graded["course"] / "feedback-mistakes" / student / (Path(name).stem + ".html")
    return graded["course"] / "feedback" / student / graded["aid"] / (Path(name).stem + ".html")


def test_regeneration_changes_nothing(graded):
    aid = graded["aid"]
    fresh, committed = graded["course"] / "assignments" / aid, graded["committed"] / aid
    cmp = filecmp.dircmp(fresh, committed)
    assert not (cmp.left_only or cmp.right_only), f"files differ: {cmp.left_only} / {cmp.right_only}"
    for name in cmp.common_files:
        assert (fresh / name).read_bytes() == (committed / name).read_bytes(), (
            f"assignments/{aid}/{name} is stale: run `make assignments` and commit the result"
        )


def secret_lines(aid, names):
    """Lines a student must never see: solution code and hidden tests, less any line that
    also stands, legitimately, outside those blocks (a helper call shared with a visible test)."""
    solution, hidden, public = [], [], set()
    for name in names:
        for cell in nbformat.read(gs.REPO / "solutions" / aid / name, as_version=4).cells:
            solution += gs.block_lines(cell.source, gs.SOLUTION_MARKERS)
            hidden += gs.block_lines(cell.source, gs.HIDDEN_MARKERS)
            public |= gs.lines_outside_blocks(cell.source)
    return [s for s in solution if s not in public], [h for h in hidden if h not in public]


def test_student_version_holds_no_solution_or_hidden_test(graded):
    aid, names = graded["aid"], graded["names"]
    solution, hidden = secret_lines(aid, names)
    assert solution and hidden, "the source has solutions and hidden tests to hide"
    for name in names:
        text = (gs.REPO / "assignments" / aid / name).read_text(encoding="utf-8")
        text = nbformat.reads(text, as_version=4)
        body = {line.strip() for c in text.cells for line in c.source.split("\n")}
        leaked = [line for line in solution + hidden if line in body]
        assert not leaked, f"{name} shows: {leaked[:3]}"


def test_correct_submission_gets_full_marks(graded):
    got = gs.scores(graded["course"], graded["aid"], "correct")
    assert got, "no grades recorded"
    wrong = {k: v for k, v in got.items() if v[0] != v[1]}
    assert not wrong, f"a correct submission lost points: {wrong}"


def test_plain_autograde_forks_its_kernels_from_one_server(graded):
    """The answer processes of both students were forked by the same process: a grading kernel
    server that this nbgrader command started (course-grade's runs in its work folder)."""
    aid, first = graded["aid"], sorted(graded["names"])[0]
    (pid1, parent1), (pid2, parent2) = (probe_output(graded["course"], aid, s, first) for s in ("correct", "untouched"))
    assert pid1 == pid2, (parent1, parent2)
    assert "course_lib.grading.kernel_server" in parent1 and "course-grade" not in parent1, parent1


@pytest.mark.xdist_group("grading-cold")
def test_plain_autograde_without_warm_kernels_starts_them_cold(tmp_path):
    """With SplitExecute.warm_kernels off (and so whenever the server does not come up), plain
    nbgrader grades as before: the notebook's own kernel, which starts the answer process itself."""
    aid = AIDS[0]
    course = gs.copy_course(tmp_path)
    nbgrader(course, "generate_assignment", aid, "--force")
    names = gs.notebook_names(aid)
    gs.submit(course, aid, "probe-cold", probing({n: gs.filled_submission(aid, n) for n in names}))
    gs.autograde(course, aid, "--SplitExecute.warm_kernels=False")
    _, parent = probe_output(course, aid, "probe-cold", sorted(names)[0])
    assert "ipykernel_launcher" in parent and "kernel_server" not in parent, parent
    got = gs.scores(course, aid, "probe-cold")
    assert got and all(score == most for score, most in got.values()), got


def test_untouched_submission_gets_zero_everywhere(graded):
    got = gs.scores(graded["course"], graded["aid"], "untouched")
    assert got and len(got) == len(gs.scores(graded["course"], graded["aid"], "correct"))
    nonzero = {k: v for k, v in got.items() if v[0] != 0}
    assert not nonzero, f"an untouched notebook earned points: {nonzero}"


def test_each_typical_mistake_loses_exactly_its_parts(graded):
    aid = graded["aid"]
    full = gs.scores(graded["course"], aid, "correct")
    failed = {s: r["errors"] for s, r in graded["mistakes"].items() if r["status"] != "graded"}
    assert not failed, failed
    # an honest mistake needs no repair; only a use of the reference is noted
    repaired = {s: [rep for rep in r["repairs"] if "is not the student's own work" not in rep]
                for s, r in graded["mistakes"].items()}
    assert not any(repaired.values()), {s: reps for s, reps in repaired.items() if reps}
    problems = []
    for name, (_, lost) in MUTANTS[aid].items():
        got = scores_of(graded, f"mistake-{name}")
        for gid, (score, max_score) in got.items():
            want = 0 if gid in lost else full[gid][1]
            if score != want:
                problems.append(f"{name}: {gid} scored {score}/{max_score}, expected {want}")
        unknown = set(lost) - set(got)
        if unknown:
            problems.append(f"{name}: no such test cells {sorted(unknown)}")
    assert not problems, "\n".join(problems)


def test_feedback_leaks_no_hidden_test_or_solution(graded):
    aid, names = graded["aid"], graded["names"]
    solution, hidden = secret_lines(aid, names)
    checked = 0
    for student in graded["students"]:
        for name in names:
            page = feedback_page(graded, student, name)
            assert page.exists(), f"no feedback for {student}: {graded['feedback'].stderr[-2000:]}"
            text = gs.text_of_html(page)
            leaked = gs.leaked_lines(hidden, text)
            assert not leaked, f"feedback of {student} shows hidden tests: {leaked[:3]}"
            if student == "untouched":
                leaked = gs.leaked_lines(solution, text)
                assert not leaked, f"feedback of an untouched notebook shows solutions: {leaked[:3]}"
            checked += 1
    assert checked == len(graded["students"]) * len(names)


def test_leak_detection_sees_code_and_tracebacks():
    secret = ["_rng = np.random.default_rng(1101)", "return N + alpha"]
    traceback = "Cell In[4], line 4\n      3 _rng = np.random.default_rng(1101)\n----> 4 _check([\n"
    assert gs.leaked_lines(secret, traceback) == secret[:1]
    assert gs.leaked_lines(secret, "x = 1\n    return N + alpha\n") == secret[1:]
    assert gs.leaked_lines(secret, "`return N + alpha`, as the text says.") == []


def test_feedback_explains_failures(graded):
    """A mistake's feedback carries the message written for the student, not a bare traceback."""
    aid, names = graded["aid"], graded["names"]
    for name in MUTANTS[aid]:
        text = "".join(gs.text_of_html(feedback_page(graded, f"mistake-{name}", n)) for n in names)
        assert "GradingError" in text, f"the feedback of mistake {name} has no explained failure"


@pytest.mark.parametrize("aid", AIDS)
def test_validate_of_an_untouched_notebook_says_what_to_do_first_and_nothing_else(aid, tmp_path):
    """`nbgrader validate` (what the Validate button runs) on a student version as released:
    every failed test cell's error is the message written for the student, headed by its part,
    in a few lines and no traceback (it was 30-odd lines through course_lib's frames, 10k
    characters for a1); and nbgrader logs no warning (a hidden-test placeholder whose value was
    shown as Out[n] made it log "cannot be converted to a float", once per part)."""
    errors, warnings, stdout = [], [], ""
    for name in gs.notebook_names(aid):
        (tmp_path / name).write_bytes((gs.REPO / "assignments" / aid / name).read_bytes())
        proc = nbgrader(gs.REPO, "validate", str(tmp_path / name), check=False)
        assert proc.returncode == 0, proc.stderr[-3000:]
        stdout += proc.stdout
        warnings += [line for line in proc.stderr.splitlines() if "ValidateApp | WARNING" in line]
        for block in proc.stdout.split("The error was:")[1:]:
            errors.append([line.strip() for line in block.split("=" * 20)[0].strip().splitlines()])
    assert not warnings, warnings
    assert "Traceback" not in stdout and "course_lib/" not in stdout
    tests = [e for e in errors if e != ["You did not provide a response."]]
    assert len(tests) == len(errors) - 1 >= 4, errors            # every visible test failed, and the written answer
    for k, lines in enumerate(tests, start=1):
        assert lines[0].startswith(f"GradingError: Part {k}, visible: "), lines
        assert "not implemented yet" in "\n".join(lines) and len(lines) <= 6, lines
    if aid == "a1_markov_hmm":
        assert sum(len(line) for e in errors for line in e) < 1000, errors   # 10,072 characters before


def test_a_source_saved_in_jupyterlab_generates_the_same_student_version(tmp_path):
    """JupyterLab writes its own notebook metadata when an instructor saves a source (the kernel's
    display name, the language's version and mimetypes) and view state in cell metadata, and it
    keeps the outputs of cells that ran. Generating from such a save must give the committed
    student version byte for byte: the generator puts the metadata back to the house form."""
    from course_lib.course import generate_assignments

    aid = "a1_markov_hmm"
    course = gs.copy_course(tmp_path)
    for name in gs.notebook_names(aid):
        nb = nbformat.read(course / "solutions" / aid / name, as_version=4)
        nb.metadata = nbformat.from_dict({
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                              "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                              "pygments_lexer": "ipython3", "version": "3.11.7"}})
        for k, cell in enumerate(nb.cells):
            cell.metadata.update({"tags": [], "jupyter": {"source_hidden": False}} if k % 2 else
                                 {"collapsed": False, "scrolled": True,
                                  "execution": {"iopub.status.idle": "2024-05-06T10:11:12.000000Z"}})
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("locked"):
                cell.execution_count = k
                cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
        nbformat.write(nb, course / "solutions" / aid / name)
        assert b"ipykernel" in (course / "solutions" / aid / name).read_bytes()
    generate_assignments(course, [aid])
    for name in gs.notebook_names(aid):
        fresh = (course / "assignments" / aid / name).read_bytes()
        assert fresh == (gs.REPO / "assignments" / aid / name).read_bytes(), (
            f"a save in JupyterLab changed assignments/{aid}/{name}")


def test_the_assignments_name_the_menu_item_and_button_as_jupyterlab_shows_them():
    """Each assignment tells students to restart and run everything, then to press Validate. The
    names it gives must be the labels of the JupyterLab and nbgrader installed here (the oracle:
    the label strings in their bundled front-end code), not those of the classic Notebook."""
    from jupyter_core.paths import jupyter_path

    def bundle(*parts):
        return "".join(p.read_text(encoding="utf-8", errors="replace")
                       for d in jupyter_path(*parts) for p in Path(d).glob("*.js"))

    lab, nbgrader_ui = bundle("lab", "static"), bundle("labextensions", "@jupyter", "nbgrader", "static")
    assert 'label:"Validate"' in nbgrader_ui, "nbgrader's toolbar button is no longer labelled Validate"
    for aid in AIDS:
        for name in gs.notebook_names(aid):
            text = "\n".join(c.source for c in nbformat.read(gs.REPO / "solutions" / aid / name, as_version=4).cells
                             if c.cell_type == "markdown")
            items = re.findall(r"\*Kernel → ([^*]+)\*", text)
            assert items and "**Validate**" in text, f"{aid} does not say how to validate"
            for item in items:
                assert item in lab, f"{aid} names the menu item {item!r}, which JupyterLab does not have"
