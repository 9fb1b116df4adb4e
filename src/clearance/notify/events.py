"""The ``Notification`` record and the ways people read it: an e-mail body, a Slack message.

One record serves every channel, so an e-mail, a Slack message and a webhook about the same
event always say the same thing. Seed 003: every alert names the policy violated, the model,
the data involved and the recommended remediation; the fields below carry exactly that, and
the renderings put them first.

``details`` is open (each event has its own facts) but these keys have a meaning that the
renderings know, so producers should use them:

``gates``     list of ``{id, status, observed, threshold, message, remediation}``: the gates
              that failed (or warned), each with its own remediation
``evidence``  list of ``{name, kind, sha256, uri}``: the data and documents involved
``request``   the promotion request id
``links``     ``{label: url}``: where to look or act (dashboard, request, runbook)

Any other key is shown as ``key: value`` under "Details".
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from clearance.core.hashing import canonical_json

EventType = Literal[
    "approval_requested",
    "gate_failed",
    "request_approved",
    "request_rejected",
    "promoted",
    "rolled_back",
    "waiver_expiring",
    "review_due",
    "review_overdue",
    "non_compliant",
    "approval_escalated",
    "monitor_failed",
    "retrain_requested",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[str, ...] = get_args(Severity)

OneLine = Annotated[str, Field(min_length=1, max_length=500)]


class Notification(BaseModel):
    """One thing to tell people. Immutable; ``id`` makes sending it idempotent.

    ``id`` is chosen by the caller and must be the same every time the same fact is
    noticed (e.g. ``review-overdue:request:12:2026-11-30``), so that a scheduler running
    ``tick`` many times produces one notification, and a receiver can drop duplicates.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: OneLine
    event: EventType
    model: OneLine
    version: OneLine
    summary: OneLine
    policy: OneLine  # name@version of the policy concerned (or violated)
    details: dict[str, Any] = Field(default_factory=dict)
    remediation: str = ""
    severity: Severity = "info"
    occurred_at: AwareDatetime

    @field_validator("id", "model", "version", "summary", "policy")
    @classmethod
    def _one_line(cls, value: str) -> str:
        # These go into e-mail headers and Slack headers: a line break there would let a
        # model name inject headers, so refuse control characters outright.
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("must be one line without control characters")
        return value

    @field_validator("details")
    @classmethod
    def _json_details(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Refused here rather than at delivery time, where it would only show as a failure.
        try:
            canonical_json(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"must be JSON data (strings, numbers, lists, maps): {exc}") from None
        return value


def canonical_body(n: Notification) -> bytes:
    """The notification as canonical JSON (sorted keys, no spaces, UTF-8): what is signed."""
    return canonical_json(n.model_dump(mode="json")).encode("utf-8")


def subject(n: Notification) -> str:
    """``[clearance] <severity> <event>: <model> <version>``: the e-mail subject line."""
    return f"[clearance] {n.severity} {n.event}: {n.model} {n.version}"


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _gates(n: Notification) -> list[Mapping[str, Any]]:
    gates = n.details.get("gates")
    if not isinstance(gates, list):
        return []
    return [g for g in gates if isinstance(g, Mapping)]


def _evidence(n: Notification) -> list[Mapping[str, Any]]:
    items = n.details.get("evidence")
    if not isinstance(items, list):
        return []
    return [e for e in items if isinstance(e, Mapping)]


def _links(n: Notification) -> dict[str, str]:
    links = n.details.get("links")
    if not isinstance(links, Mapping):
        return {}
    return {str(k): _value(v) for k, v in links.items()}


def _gate_facts(gate: Mapping[str, Any]) -> str:
    """``(fail): observed 0.71, threshold 0.72`` -- what is known of one gate's result."""
    out = f"({gate['status']})" if "status" in gate else ""
    facts = [f"{key} {_value(gate[key])}" for key in ("observed", "threshold") if key in gate]
    if facts:
        out += ": " + ", ".join(facts)
    return out


def _gate_line(gate: Mapping[str, Any]) -> str:
    return f"{gate.get('id', '?')} {_gate_facts(gate)}".rstrip()


def _evidence_line(item: Mapping[str, Any]) -> str:
    line = str(item.get("name", "?"))
    if "kind" in item:
        line += f" ({item['kind']})"
    if "sha256" in item:
        line += f" sha256:{item['sha256']}"
    if "uri" in item:
        line += f" {item['uri']}"
    return line


_KNOWN_DETAILS = ("gates", "evidence", "request", "links")


def render_text(n: Notification) -> str:
    """A plain-text body for e-mail: the context seed 003 asks for, one fact per line."""
    lines = [n.summary, ""]
    lines += [
        f"Model:        {n.model} {n.version}",
        f"Policy:       {n.policy}",
        f"Event:        {n.event}",
        f"Severity:     {n.severity}",
        f"Occurred at:  {n.occurred_at.astimezone(dt.UTC).isoformat()}",
    ]
    if "request" in n.details:
        lines.append(f"Request:      {_value(n.details['request'])}")
    gates = _gates(n)
    if gates:
        lines += ["", "Gates:"]
        for gate in gates:
            lines.append(f"  - {_gate_line(gate)}")
            if gate.get("message"):
                lines.append(f"    {gate['message']}")
            if gate.get("remediation"):
                lines.append(f"    remediation: {gate['remediation']}")
    evidence = _evidence(n)
    if evidence:
        lines += ["", "Data and evidence involved:"]
        lines += [f"  - {_evidence_line(item)}" for item in evidence]
    lines += ["", "Recommended remediation:", f"  {n.remediation or 'none given'}"]
    links = _links(n)
    if links:
        lines += ["", "Links:"]
        lines += [f"  - {label}: {url}" for label, url in links.items()]
    other = {k: v for k, v in n.details.items() if k not in _KNOWN_DETAILS}
    if other:
        lines += ["", "Details:"]
        lines += [f"  {key}: {_value(value)}" for key, value in sorted(other.items())]
    lines += ["", f"Notification id: {n.id}"]
    return "\n".join(lines) + "\n"


# Slack's limits (block kit): header text 150 characters, section text 3000, field 2000.
_HEADER_MAX = 150
_SECTION_MAX = 3000
_FIELD_MAX = 2000
_SEVERITY_MARK = {
    "info": ":information_source:",
    "warning": ":warning:",
    "critical": ":rotating_light:",
}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn_escape(text: str) -> str:
    # Slack's mrkdwn treats &, < and > as control characters (links, mentions).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, _SECTION_MAX)}}


def render_slack(n: Notification) -> dict[str, Any]:
    """A Slack incoming-webhook payload: ``text`` (the fallback) plus Block Kit ``blocks``."""
    esc = _mrkdwn_escape
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _clip(f"{n.event.replace('_', ' ')}: {n.model} {n.version}", _HEADER_MAX),
            },
        },
        _section(f"{_SEVERITY_MARK[n.severity]} {esc(n.summary)}"),
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _clip(f"*{label}*\n{esc(value)}", _FIELD_MAX)}
                for label, value in (
                    ("Model", n.model),
                    ("Version", n.version),
                    ("Policy", n.policy),
                    ("Severity", n.severity),
                )
            ],
        },
    ]
    gates = _gates(n)
    if gates:
        lines = ["*Gates*"]
        for gate in gates:
            name = esc(str(gate.get("id", "?")))
            lines.append(f"• `{name}` {esc(_gate_facts(gate))}".rstrip())
            if gate.get("remediation"):
                lines.append(f"    _remediation:_ {esc(str(gate['remediation']))}")
        blocks.append(_section("\n".join(lines)))
    evidence = _evidence(n)
    if evidence:
        lines = ["*Data and evidence involved*"]
        lines += [f"• {esc(_evidence_line(item))}" for item in evidence]
        blocks.append(_section("\n".join(lines)))
    blocks.append(_section(f"*Recommended remediation*\n{esc(n.remediation or 'none given')}"))
    links = _links(n)
    if links:
        blocks.append(_section(" · ".join(f"<{url}|{esc(label)}>" for label, url in links.items())))
    context = f"{n.occurred_at.astimezone(dt.UTC).isoformat()} · id `{esc(n.id)}`"
    if "request" in n.details:
        context = f"request {esc(_value(n.details['request']))} · " + context
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    fallback = f"[{n.severity}] {n.event}: {n.model} {n.version} ({n.policy}): {n.summary}"
    return {"text": _clip(fallback, _SECTION_MAX), "blocks": blocks}
