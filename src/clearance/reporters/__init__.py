"""One small module per output format; each is a function from a Decision to text."""

from __future__ import annotations

from collections.abc import Callable

from clearance.core.results import Decision
from clearance.reporters.json import render_json
from clearance.reporters.junit import render_junit
from clearance.reporters.markdown import render_markdown
from clearance.reporters.sarif import SarifSources, render_sarif

Reporter = Callable[[Decision], str]

REPORTERS: dict[str, Reporter] = {
    "json": render_json,
    "junit": render_junit,
    "markdown": render_markdown,
    "sarif": render_sarif,
}

__all__ = [
    "REPORTERS",
    "Reporter",
    "SarifSources",
    "render_json",
    "render_junit",
    "render_markdown",
    "render_sarif",
]
