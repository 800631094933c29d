"""Sphinx configuration of trioftp's documentation (``sphinx-build docs <out>``)."""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))

from trioftp import __version__  # noqa: E402

project = "trioftp"
author = "trioftp contributors"
copyright = "trioftp contributors"
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "myst_parser",
    "trioftp_cli",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "requirements.txt", "**/code/README.md"]
myst_enable_extensions = ["colon_fence", "deflist"]
# Headings become link targets, so pages can link to each other's sections.
myst_heading_anchors = 3

autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_class_signature = "separated"

# Option names such as --tls stay as typed (no en dashes, no curly quotes).
smartquotes = False

html_theme = "furo"
html_title = f"trioftp {release}"
