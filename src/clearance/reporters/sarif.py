"""SARIF 2.1.0, for code-scanning annotations: a gate that did not pass is a finding on the
line of the policy that defines it.

One rule per gate of the decision (``ruleId`` = gate id, help = its remediation), so the rules
are the same from run to run; one result per gate that failed, errored, warned, was waived or
passed by a near miss. A blocking gate's result is an ``error``, a warning or a near miss a
``warning``, a waived gate a ``note`` with a suppression naming the waiver. Each result is
located at the gate's definition in the policy when :class:`SarifSources` knows it, with the
manifest as a related location; without a known file a result has no location (valid SARIF,
but GitHub code scanning wants one).

A report is built from the decision alone plus where its inputs are written: pure, like the
other reporters. Texts go through :func:`printable`: an annotation shows them, never obeys them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from clearance import __version__
from clearance.core.hashing import digest
from clearance.core.results import Decision, GateResult, GateStatus
from clearance.errors import Location
from clearance.reporters.format import margin, threshold, value
from clearance.terminal import printable as _t

SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SRCROOT = "%SRCROOT%"  # paths are relative to the checkout; GitHub resolves this base itself
FINGERPRINT = "clearanceGate/v1"
MAX_TEXT = 1000  # GitHub truncates a rule's short description at 1024 characters


@dataclass(frozen=True)
class SarifSources:
    """Where the decision's inputs are written, as paths relative to the repository root.

    ``gates`` maps a gate id to its definition (file, line, column); ``policy`` is the file
    named for a gate whose definition is unknown; ``manifest`` is the related location.
    """

    gates: Mapping[str, Location] = field(default_factory=dict)
    policy: str | None = None
    manifest: str | None = None


def render_sarif(decision: Decision, sources: SarifSources | None = None) -> str:
    sources = sources or SarifSources()
    rules = [_rule(g) for g in decision.gates]
    index = {g.gate_id: i for i, g in enumerate(decision.gates)}
    results = [
        _result(decision, g, index[g.gate_id], sources)
        for g in decision.gates
        if _level(g) is not None
    ]
    d = decision
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "clearance",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": _t(f"clearance/{d.model}/{d.to_stage}/")},
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "exitCode": d.exit_code,
                        "properties": {"outcome": d.outcome.value, "summary": _t(d.summary)},
                    }
                ],
                "results": results,
                "properties": {
                    key: _t(getattr(d, key))
                    for key in (
                        "decision_id",
                        "policy",
                        "policy_version",
                        "policy_hash",
                        "model",
                        "version",
                        "from_stage",
                        "to_stage",
                        "change_type",
                    )
                },
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def _level(g: GateResult) -> str | None:
    """The result's level, or None when the gate is no finding (a clear pass, a skip)."""
    if g.status in (GateStatus.FAIL, GateStatus.ERROR):
        return "error" if g.severity == "block" else "warning"
    if g.status is GateStatus.WARN:
        return "warning"
    if g.status is GateStatus.WAIVED:
        return "note"
    if g.status is GateStatus.PASS and g.near_miss:
        return "warning"
    return None


def _rule(g: GateResult) -> dict[str, Any]:
    gate, kind = _t(g.gate_id), _t(g.type)
    about = _t(g.rationale) or f"{kind} gate {gate}"
    rule: dict[str, Any] = {
        "id": gate,
        "shortDescription": {"text": _clip(about)},
        "fullDescription": {"text": _clip(_description(g, kind))},
        "defaultConfiguration": {"level": "error" if g.severity == "block" else "warning"},
        "properties": {"tags": _unique(["clearance", kind, *(_t(c) for c in g.controls)])},
    }
    if g.remediation:
        rule["help"] = {"text": _t(g.remediation)}
    if g.owner:
        rule["properties"]["owner"] = _t(g.owner)
    return rule


def _description(g: GateResult, kind: str) -> str:
    parts = [f"{kind} gate, severity {g.severity}."]
    if g.rationale:
        text = _t(g.rationale)
        parts.append(text if text.endswith((".", "!", "?")) else f"{text}.")
    if g.owner:
        parts.append(f"Owner: {_t(g.owner)}.")
    if g.controls:
        parts.append(f"Controls: {', '.join(_t(c) for c in g.controls)}.")
    return " ".join(parts)


def _result(d: Decision, g: GateResult, index: int, sources: SarifSources) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": _t(g.gate_id),
        "ruleIndex": index,
        "kind": "fail",  # SARIF: any level but "none" goes with kind "fail"
        "level": _level(g),
        "message": {"text": _message(g)},
        # the same finding across versions and edits of the policy file is one alert
        "partialFingerprints": {
            FINGERPRINT: digest([d.policy, d.model, d.from_stage, d.to_stage, g.gate_id])
        },
        "properties": {
            "status": g.status.value,
            "severity": g.severity,
            "nearMiss": g.near_miss,
        },
    }
    where = sources.gates.get(g.gate_id) or (Location(sources.policy) if sources.policy else None)
    if where is not None:
        result["locations"] = [_location(where)]
    if sources.manifest:
        result["relatedLocations"] = [
            {**_location(Location(sources.manifest)), "id": 1, "message": {"text": "manifest"}}
        ]
    if g.status is GateStatus.WAIVED:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": _t(f"waiver {g.waiver}" if g.waiver else "waived"),
            }
        ]
    return result


def _message(g: GateResult) -> str:
    status = g.status.value
    if g.status is GateStatus.WAIVED and g.waived_status is not None:
        status = f"waived ({g.waived_status.value})"
    elif g.status is GateStatus.PASS and g.near_miss:
        status = "near miss"
    lines = [f"{_t(g.gate_id)} {status}: {_t(g.message)}"]
    facts = [
        f"observed {_t(value(g.observed))}" if g.observed is not None else "",
        f"threshold {_t(threshold(g))}" if g.threshold is not None else "",
        f"margin {margin(g)}" if g.margin is not None else "",
    ]
    if facts := [f for f in facts if f]:
        lines.append("; ".join(facts) + ".")
    if g.remediation and g.status is not GateStatus.PASS:
        lines.append(f"Remediation: {_t(g.remediation)}")
    return "\n".join(lines)


def _location(where: Location) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": _artifact(where.file)}
    if where.line is not None:
        region: dict[str, int] = {"startLine": where.line}
        if where.column is not None:
            region["startColumn"] = where.column
        physical["region"] = region
    return {"physicalLocation": physical}


def _artifact(path: str) -> dict[str, str]:
    """A relative path under the checkout root, or a ``file:`` URI for an absolute one."""
    windows = PureWindowsPath(path)
    if windows.drive:  # C:\\... : a Windows runner's absolute path
        return {"uri": windows.as_uri()}
    posix = PurePosixPath(path.replace("\\", "/"))
    if posix.is_absolute():
        return {"uri": posix.as_uri()}
    parts = [p for p in posix.parts if p != "."]
    return {"uri": quote("/".join(parts), safe="/"), "uriBaseId": SRCROOT}


def _unique(tags: list[str]) -> list[str]:
    """SARIF tags are a set: each once, none empty, in the order written."""
    return [tag for tag in dict.fromkeys(tags) if tag]


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
