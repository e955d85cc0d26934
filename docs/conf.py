"""Sphinx configuration: theory, tutorial and the API reference from the docstrings."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("../examples"))

project = "tagi_lstm"
author = "tagi_lstm developers"
copyright = "tagi_lstm developers, MIT licence"  # noqa: A001 - Sphinx reads this name

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "matplotlib.sphinxext.plot_directive",
]
exclude_patterns = ["_build", "benchmarks.md"]
source_suffix = {".rst": "restructuredtext"}

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = [("Shape", "params_style")]

plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]

html_theme = "alabaster"
nitpicky = False
