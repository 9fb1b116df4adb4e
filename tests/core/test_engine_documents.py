"""The documentation gate parses a document once per content digest (issue 12.3): a cached
outline must answer exactly what parsing the same bytes again would."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from clearance.core.gates import documentation as doc
from clearance.core.gates.base import GateContext
from clearance.core.gates.documentation import Documentation, DocumentationParams
from clearance.core.results import GateStatus
from clearance.core.version import ModelVersion

PARAMS = DocumentationParams(documents=[{"name": "card", "sections": ["Intended use"]}])


def _status(
    content: bytes, make_version: Callable[..., ModelVersion], fake: type, now: dt.datetime
) -> tuple[GateStatus, str]:
    version = make_version(documents={"card": content})
    ctx = GateContext(version, fake({"card": content}), now, "staging", "production")
    m = Documentation().evaluate(PARAMS, ctx)
    return m.status, m.message


def test_outlines_follow_the_content(
    make_version: Callable[..., ModelVersion], fake_evidence: type, now: dt.datetime
) -> None:
    doc._outlines.clear()
    cases = [
        (b"# Intended use\nscoring\n", GateStatus.PASS),
        (b"  \n\t\n", GateStatus.FAIL),  # blank
        (b"# Limitations\n", GateStatus.FAIL),  # lacks the section
        (b"Intended use\n============\n", GateStatus.PASS),
    ]
    for _ in range(2):  # parsed, then from the cache: the same answers
        for content, expected in cases:
            status, message = _status(content, make_version, fake_evidence, now)
            assert status is expected, message
    assert len(doc._outlines) == len(cases)
