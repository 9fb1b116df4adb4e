"""Reports of the tools users already run, parsed into normalized evidence that gates read.

``parse(data, format=None)`` takes a report's bytes and returns a :class:`Report`: its
``format``, ``metrics`` (numbers a gate can bound, e.g. JUnit's ``failures`` or Great
Expectations' ``success_percent``) and ``data`` (the normalized content, JSON-ready, for a
result's details). Without ``format`` the format is recognised from the content; an unknown
or malformed report raises :class:`ReportError` saying what is wrong. One parser per format,
each pure (bytes in, data out) and bounded; gates that need a format's full structure
(``vulnerabilities``, ``licenses``) call its module's ``read`` directly.

======================  ==========================================================
format                  tool and output
======================  ==========================================================
``junit``               JUnit XML: pytest ``--junitxml``, Surefire, Gradle, jest-junit
``great_expectations``  GX validation result or checkpoint result (JSON)
``evidently``           Evidently report / test suite snapshot (JSON)
``pip-audit``           ``pip-audit -f json``
``cyclonedx``           CycloneDX JSON SBOM / ML-BOM (components, licenses, model card)
======================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

from clearance.core.reports import cyclonedx, evidently, great_expectations, junit, pip_audit
from clearance.core.reports._common import MAX_BYTES, ReportError, load_json

Format = Literal["junit", "great_expectations", "evidently", "pip-audit", "cyclonedx"]
FORMATS: tuple[Format, ...] = get_args(Format)
NAMES = {
    "junit": "JUnit XML",
    "great_expectations": "a Great Expectations validation result",
    "evidently": "an Evidently report or test suite",
    "pip-audit": "pip-audit JSON",
    "cyclonedx": "a CycloneDX JSON SBOM",
}

__all__ = ["FORMATS", "MAX_BYTES", "NAMES", "Format", "Report", "ReportError", "detect", "parse"]


@dataclass(frozen=True)
class Report:
    """A parsed report: what gates compare (``metrics``) and what results show (``data``)."""

    format: Format
    metrics: dict[str, float]
    data: dict[str, Any]
    notes: tuple[str, ...] = ()  # what did not pass, one short line each (bounded)


class Parsed(Protocol):
    """What each format's parser returns, besides its own structure."""

    def metrics(self) -> dict[str, float]: ...
    def data(self) -> dict[str, Any]: ...
    def notes(self) -> tuple[str, ...]: ...


# JSON formats, in the order they are recognised (a CycloneDX SBOM also has "dependencies").
_JSON: dict[Format, tuple[Callable[[Any], bool], Callable[[Any], Parsed]]] = {
    "cyclonedx": (cyclonedx.looks_like, cyclonedx.read),
    "great_expectations": (great_expectations.looks_like, great_expectations.read),
    "evidently": (evidently.looks_like, evidently.read),
    "pip-audit": (pip_audit.looks_like, pip_audit.read),
}


def _is_xml(data: bytes) -> bool:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<")


def detect(data: bytes) -> Format:
    """The format of a report, from its content; ``ReportError`` when it is none of them."""
    if _is_xml(data):
        return "junit"
    return _detect_json(load_json(data, "a report"))


def _detect_json(doc: Any) -> Format:
    for fmt, (looks_like, _) in _JSON.items():
        if looks_like(doc):
            return fmt
    raise ReportError(
        "not a report format clearance reads: expected " + ", ".join(NAMES[f] for f in FORMATS)
    )


def parse(data: bytes, format: Format | None = None) -> Report:
    """The report in ``data``, of ``format`` or of the format its content shows."""
    if format is not None and format not in FORMATS:
        raise ReportError(f"unknown report format {format!r}; known: {', '.join(FORMATS)}")
    if format == "junit" or (format is None and _is_xml(data)):
        parsed: Parsed = junit.parse(data)
        fmt: Format = "junit"
    else:
        doc = load_json(data, NAMES[format] if format else "a report")
        fmt = format or _detect_json(doc)
        parsed = _JSON[fmt][1](doc)
    return Report(fmt, parsed.metrics(), parsed.data(), parsed.notes())
