"""Sphinx configuration: the user guide (Markdown, through MyST) and the API reference
(autodoc of the docstrings).

Build it with::

    .venv/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html

tests/test_docs_site.py builds it the same way (warnings are errors) on every test run.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sphinx.application import Sphinx

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

# Long unions are shown by the name the code gives them, so that a signature reads
# ``message: DIMSEMessage`` rather than its 23 members. This works because every module
# of dicomnet has ``from __future__ import annotations``: annotations stay strings, and
# autodoc resolves these names to the alias instead of evaluating them.
_ALIASES = {
    "dicomnet.dimse.messages": ["DIMSEMessage"],
    "dicomnet.events": ["Event", "EventCallback"],
    "dicomnet.connection_events": ["ConnectionEvent"],
    "dicomnet.services.storage": ["Storable", "StoreHandler"],
    "dicomnet.services.verification": ["EchoHandler"],
    "dicomnet.services.query_retrieve": ["FindHandler", "RetrieveHandler",
                                         "DestinationLookup"],
    "dicomnet.services.normalized": ["NHandler", "NOperation", "NRequestMessage"],
    "dicomnet.services.commitment": ["Check"],
    "dicomnet.pdu.pdus": ["PDU"],
    "dicomnet.client": ["ContextSpec"],
    "dicomnet.association": ["AcceptHook", "RequestHook"],
    "dicomnet.connection": ["SinkFor", "Interpret"],
    "dicomnet.dataset_io": ["SinkFactory"],
    "dicomnet.user_identity": ["Authenticator"],
    "dicomnet.access_rules": ["IPAddress", "IPNetwork"],
}
autodoc_type_aliases = {name: f"{module}.{name}"
                        for module, names in _ALIASES.items() for name in names}
# Show ``dicomnet.dimse.messages.DIMSEMessage`` as ``DIMSEMessage`` (still a link).
python_use_unqualified_type_names = True

_FORWARD_REF = re.compile(r"TypeAliasForwardRef\('([\w.]+)'\)")


def _alias_names(app: Sphinx, what: str, name: str, obj: object, options: object,  # noqa: PLR0917 - the event passes its arguments by position
                 signature: str | None, return_annotation: str | None,
                 ) -> tuple[str | None, str | None]:
    """Sphinx shows an alias nested in ``Alias | None`` or ``Callable[[Alias], ...]``
    by the repr of its placeholder; show its name there too."""
    def named(text: str | None) -> str | None:
        return None if text is None else _FORWARD_REF.sub(r"\1", text)
    return named(signature), named(return_annotation)


def setup(app: Sphinx) -> None:
    app.connect("autodoc-process-signature", _alias_names)

# alabaster, widened, with code blocks that scroll sideways on screen and wrap on paper
# rather than being cut at the page edge (docs/_static/dicomnet.css says how).
html_theme = "alabaster"
html_theme_options = {
    "page_width": "min(1200px, 100%)",
    "body_max_width": "none",
    "sidebar_width": "220px",
}
html_title = f"dicomnet {release}"
html_static_path = ["_static"]
html_css_files = ["dicomnet.css"]
