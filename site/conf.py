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
myst_update_mathjax = False          # MathJax 2 is configured below (tex2jax classes)

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
    """MathJax 2.7 as shipped by jupyter-server-mathjax (a dev dependency): served with the site
    from _static/mathjax/, so that the formulas render offline."""
    try:
        import jupyter_server_mathjax
    except ImportError as exc:
        raise ImportError("the website serves MathJax itself: install jupyter-server-mathjax "
                          "(it is in the dev extra: make install)") from exc
    return Path(jupyter_server_mathjax.__file__).parent / "static"


MATHJAX = _mathjax_folder()
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
mathjax2_config = {
    # Sphinx and MyST-Parser wrap every formula in \( \) or \[ \] inside an element of class
    # "math"; MyST marks the rest of the page "tex2jax_ignore", so only those are typeset.
    "tex2jax": {
        "inlineMath": [["\\(", "\\)"]],
        "displayMath": [["\\[", "\\]"]],
        "processEscapes": True,
        "processClass": "math|output_area|tex2jax_process|mathjax_process",
        "ignoreClass": "tex2jax_ignore|mathjax_ignore|document",
    },
    # jupyter-server-mathjax ships the STIX-Web fonts only (the TeX fonts are left out).
    # Formulas wider than the column break at an operator instead of being cut off.
    "HTML-CSS": {"availableFonts": [], "webFont": "STIX-Web", "imageFont": None,
                 "linebreaks": {"automatic": True}},
    "showMathMenu": False,
    "messageStyle": "none",
}


def _copy_mathjax(app, exception):
    target = Path(app.outdir) / "_static" / "mathjax"
    if exception is None and app.builder.format == "html" and not (target / "MathJax.js").is_file():
        shutil.copytree(MATHJAX, target, dirs_exist_ok=True)


def setup(app):
    app.connect("build-finished", _copy_mathjax)
