"""``documentation``: required documents are attached, non-empty, and have their sections.

Sections are Markdown headings (``# Title`` or a line underlined with ``===``/``---``),
matched without regard to case, surrounding spaces or trailing ``#`` s.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from clearance.core.gates.base import GateContext, GateParams, Measurement
from clearance.core.hashing import sha256_bytes
from clearance.core.results import GateStatus

_ATX = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)[ \t#]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")


class RequiredDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    sections: list[str] = Field(default_factory=list)


class DocumentationParams(GateParams):
    documents: list[RequiredDocument | str] = Field(
        min_length=1, description="Document names, or {name, sections} for required headings."
    )


def headings(text: str) -> set[str]:
    """The normalized headings of a Markdown document."""
    found: set[str] = set()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = _ATX.match(line)
        if match:
            found.add(_normal(match.group(1)))
        elif i > 0 and _SETEXT.match(line) and lines[i - 1].strip():
            found.add(_normal(lines[i - 1]))
    return found


_outlines: dict[str, tuple[bool, frozenset[str]]] = {}


def _outline(sha: str, data: bytes) -> tuple[bool, frozenset[str]]:
    """Whether the document is blank, and its headings: parsed once per content digest
    (a policy backtest reads the same documents for every decision)."""
    found = _outlines.get(sha)
    if found is None:
        text = data.decode("utf-8", errors="replace")
        found = (not text.strip(), frozenset(headings(text)))
        if len(_outlines) >= 1024:
            _outlines.clear()
        _outlines[sha] = found
    return found


def _normal(title: str) -> str:
    return " ".join(title.split()).casefold()


class Documentation:
    name: ClassVar[str] = "documentation"
    summary: ClassVar[str] = "Required documents are attached, non-empty, with required sections."
    Params: ClassVar[type[GateParams]] = DocumentationParams

    def evaluate(self, params: DocumentationParams, ctx: GateContext) -> Measurement:
        problems: list[str] = []
        missing: list[str] = []
        digests: dict[str, str] = {}
        for doc in params.documents:  # not ``required``: a model per name, per decision
            name, sections = (doc, ()) if isinstance(doc, str) else (doc.name, doc.sections)
            issue = self._check(name, sections, ctx, digests)
            if issue is not None:
                (missing if issue.startswith("missing") else problems).append(f"{name}: {issue}")
        required = len(params.documents)
        complete = required - len(problems) - len(missing)
        details = {"missing": missing, "incomplete": problems}
        if missing:
            return Measurement.error(
                "needs evidence " + "; ".join(missing),
                observed=complete,
                threshold=required,
                operator=">=",
                details=details,
                evidence=digests,
            )
        ok = not problems
        message = f"{complete}/{required} documents complete" if ok else "; ".join(problems)
        return Measurement(
            GateStatus.PASS if ok else GateStatus.FAIL,
            message,
            observed=complete,
            threshold=required,
            operator=">=",
            details=details,
            evidence=digests,
        )

    def _check(
        self, name: str, sections: Sequence[str], ctx: GateContext, digests: dict[str, str]
    ) -> str | None:
        if name not in ctx.version.evidence:
            return "missing (attach it as evidence named " + repr(name) + ")"
        try:
            data = ctx.evidence.read_bytes(name)
        except KeyError:
            return f"missing (evidence '{name}' has no readable content)"
        except OSError as exc:
            return f"missing (cannot read: {exc.strerror or exc})"
        sha = digests[name] = sha256_bytes(data)
        empty, have = _outline(sha, data)
        if empty:
            return "is empty"
        if sections:
            absent = [s for s in sections if _normal(s) not in have]
            if absent:
                return "lacks section(s) " + ", ".join(repr(s) for s in absent)
        return None
