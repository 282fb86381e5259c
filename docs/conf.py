"""Sphinx configuration: the user guide (Markdown, through MyST) and the API reference
(autodoc of the docstrings).

Build it with::

    .venv/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html

tests/test_docs_site.py builds it the same way (warnings are errors) on every test run.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document this checkout, installed or not

import dicomnet  # noqa: E402

project = "dicomnet"
author = "the dicomnet authors"
release = dicomnet.__version__
version = release

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

myst_heading_anchors = 3  # link to sections as page.md#section-title
myst_enable_extensions = ["colon_fence", "deflist"]

autodoc_member_order = "bysource"
# Names imported only for type checking stay strings in the signatures shown.
autodoc_typehints = "signature"
# Each automodule in api.md says which members it documents.
autodoc_default_options = {"show-inheritance": True}

html_theme = "alabaster"
html_title = f"dicomnet {release}"
html_static_path: list[str] = []
