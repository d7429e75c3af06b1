"""The web UI: Jinja2 templates, static files (vendored from npm) and previews.

``dockyard.server.ui`` serves the pages; this package holds what they are made of.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
