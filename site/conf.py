"""Sphinx configuration of the course website; `python -m course_lib.site` stages the sources
(executed lectures, student versions of the assignments, the README as index.md) and runs
Sphinx with this folder as its configuration directory. Nothing is fetched from the network:
notebooks are not executed here, widgets are static HTML, MathJax is served from the site."""

import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent

project = "Sequence Models"
author = "the course authors"
copyright = "the course authors"

extensions = ["myst_nb", "sphinx.ext.mathjax"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
myst_update_mathjax = False          # MathJax is configured below (the classes it typesets)

# Lectures arrive executed (course_lib.site caches the executions); assignments are shown as
# students get them, unexecuted.
nb_execution_mode = "off"
nb_merge_streams = True
nb_output_stderr = "warn"            # a lecture that writes to stderr is reported
nb_ipywidgets_js = {}                 # widget outputs were turned into static HTML

html_theme = "sphinx_book_theme"
html_title = "Sequence Models"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_js_files = ["fit-formulas.js"]        # runs before MathJax: see the file
html_last_updated_fmt = None
# The figures have white backgrounds: light by default (a reader can switch).
html_context = {"default_mode": "light"}
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "navbar_persistent": [],          # the search field is in the sidebar; not a second one above it
}


def _mathjax_folder():
    """MathJax 3 (its es5 build, as packaged in django-static-mathjax, a dev dependency): served
    with the site from _static/mathjax/, so that the formulas render offline."""
    import importlib.util

    spec = importlib.util.find_spec("mathjax")          # found, not imported (it is a Django app)
    folder = Path(spec.submodule_search_locations[0]) / "static" / "mathjax" / "es5" if spec else None
    if folder is None or not (folder / "tex-chtml.js").is_file():
        raise ImportError("the website serves MathJax itself: install django-static-mathjax "
                          "(it is in the dev extra: make install)")
    return folder


MATHJAX = _mathjax_folder()
# What a page loads: the TeX-to-CommonHTML component, and what it may load later (TeX extensions
# on first use, the fonts, the menu's accessibility parts); the other combined builds are left out.
MATHJAX_PARTS = {"tex-chtml.js", "input", "output", "ui", "a11y", "sre"}
mathjax_path = "mathjax/tex-chtml.js"
mathjax3_config = {
    # Sphinx and MyST-Parser wrap every formula in \( \) or \[ \] inside an element of class
    # "math"; MyST marks the rest of the page "tex2jax_ignore", so only those are typeset.
    "tex": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]], "processEscapes": True,
            "packages": {"[+]": ["textmacros"]}},      # \_ and friends inside \texttt{...}
    "loader": {"load": ["[tex]/textmacros"]},
    "options": {"processHtmlClass": "math|output_area|tex2jax_process|mathjax_process",
                "ignoreHtmlClass": "tex2jax_ignore|mathjax_ignore|document"},
}


def _copy_mathjax(app, exception):
    target = Path(app.outdir) / "_static" / "mathjax"
    if exception is None and app.builder.format == "html" and not (target / "tex-chtml.js").is_file():
        shutil.copytree(MATHJAX, target, dirs_exist_ok=True,
                        ignore=lambda folder, names: [n for n in names if folder == str(MATHJAX)
                                                      and n not in MATHJAX_PARTS])


def setup(app):
    app.connect("build-finished", _copy_mathjax)
