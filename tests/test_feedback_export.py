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
