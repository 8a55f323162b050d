"""The feedback pages are rendered by nbconvert's HTMLExporter less its last step (parsing the whole
page with BeautifulSoup to add alt texts and tab stops), which course_lib.grading.nbgrader_ext
does on the text instead. Oracle: nbconvert's own HTMLExporter, page for page."""

import base64

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbconvert.exporters import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_lib.grading.nbgrader_ext import render_html

PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2214bc20000000049454e44ae426082")).decode()


def notebook():
    nb = new_notebook(cells=[
        new_markdown_cell('# A page\n\n<img src="a.png">, <img src="b.png" alt="b">, $x_t$ and `code`', id="md"),
        new_code_cell("print('hi')\n1 + 1", id="code", execution_count=1, outputs=[
            new_output("stream", name="stdout", text="hi\n"),
            new_output("execute_result", data={"text/plain": "2"}, execution_count=1)]),
        new_code_cell("plot()", id="plot", execution_count=2, outputs=[
            new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]),
    ])
    nb.metadata["language_info"] = {"name": "python"}
    return nbformat.from_dict(nb)


@pytest.mark.parametrize("template", ["lab", "classic"])
def test_the_page_equals_nbconverts_own(template):
    nb = notebook()
    want, _ = HTMLExporter(template_name=template).from_notebook_node(nb)
    got, _ = render_html(HTMLExporter(template_name=template), nb)
    want_tree, got_tree = BeautifulSoup(want, "html.parser"), BeautifulSoup(got, "html.parser")
    assert got_tree == want_tree
    assert len(want_tree.select("img")) == 3 and all(img.get("alt") for img in want_tree.select("img"))
    if template == "lab":                                    # the premise: the lab page has tab stops
        assert len(want_tree.select('[tabindex="0"]')) == 6


def test_a_cell_is_highlighted_once_whatever_its_execution_times(monkeypatch):
    """nbgrader records each cell's execution times in its metadata, so no two students' pages
    have the same metadata; the highlighting of a source is still computed once. The metadata
    key the highlighter does read (magics_language, set for a %%bash cell) still changes the result.
    Oracle: nbconvert's own exporter, page for page, and a count of pygments calls."""
    import nbconvert.filters.highlight as nbhighlight

    from course_lib.grading import nbgrader_ext

    calls = []
    real = nbhighlight._pygments_highlight

    def counted(source, *args, **kwargs):
        calls.append(source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(nbhighlight, "_pygments_highlight", counted)
    monkeypatch.setattr(nbgrader_ext, "_HIGHLIGHTED", {})
    pages = []
    for day in (1, 2):
        nb = notebook()
        nb.metadata["language_info"]["pygments_lexer"] = "ipython3"      # as a kernel reports it
        nb.cells.append(new_code_cell("echo $HOME | cat", id="bash", metadata={"magics_language": "bash"}))
        nb.cells.append(new_code_cell("echo $HOME | cat", id="as-python"))
        for cell in nb.cells:
            cell.metadata["execution"] = {"iopub.status.busy": f"2026-12-0{day}T10:00:00.000000Z"}
        want, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
        calls.clear()
        got, _ = render_html(HTMLExporter(template_name="lab"), nb)
        assert BeautifulSoup(got, "html.parser") == BeautifulSoup(want, "html.parser")
        pages.append(len(calls))
    assert pages == [4, 0], "the first page highlights its four code cells, the second none"
    shell = {key[-1]: html for key, html in nbgrader_ext._HIGHLIGHTED.items() if key[2] == "echo $HOME | cat"}
    assert set(shell) == {"bash", None} and shell["bash"] != shell[None], "magics_language must still choose the lexer"
