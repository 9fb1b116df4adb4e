"""An evidence pack as one self-contained HTML page: readable on screen, printable on paper.

Everything comes from the pack's files (``core.evidence_pack``), so the page shows exactly
what an auditor can verify. Every value is escaped (``html.escape``, quotes included) and the
page loads nothing: inline CSS with a print stylesheet, inline SVG charts, no scripts, no
links to other hosts. The model card is Markdown written by whoever registered the version:
only headings, paragraphs, lists and fenced code are rendered, every character of their text
escaped; nothing in it can become a tag, an attribute or a link.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from clearance.core.evidence_pack import (
    EVENTS,
    MODEL_CARD,
    VERSION,
    WAIVERS,
    Pack,
    PackReport,
    PackUnreadable,
    decision_member,
)

MAX_CARD_CHARS = 200_000
MAX_EVENTS_SHOWN = 200
MAX_CELL = 300

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1b1b1b;margin:2rem auto;
max-width:60rem;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{border-bottom:1px solid #ccc;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #ccc;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}.num{text-align:right;font-variant-numeric:tabular-nums}
.pass,.allow,.ok{color:#116611;font-weight:600}.fail,.deny,.error,.bad{color:#aa1111;font-weight:600}
.warn,.needs_approval,.skip,.waived{color:#8a5a00;font-weight:600}
.meta{color:#555}.card{border:1px solid #ddd;padding:.5rem 1rem;background:#fafafa}
pre,code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f6f6;padding:.5rem}
svg{max-width:100%}.chart text{font-size:11px}
@media print{body{margin:0;max-width:none;font-size:11px}h2{break-after:avoid}
table,svg,.card{break-inside:avoid}a{color:inherit;text-decoration:none}}
"""


def esc(value: Any) -> str:
    """Any value as HTML text: escaped, quotes too, and cut to a bounded length."""
    text = value if isinstance(value, str) else _plain(value)
    if len(text) > MAX_CELL:
        text = text[: MAX_CELL - 1] + "…"
    return html.escape(text, quote=True)


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _cls(status: Any) -> str:
    """A CSS class from a status word: only known words, so no value reaches the attribute."""
    known = {"pass", "fail", "error", "warn", "skip", "waived", "allow", "deny", "needs_approval"}
    return str(status) if str(status) in known else ""


# --- the model card: a safe subset of Markdown -------------------------------------------


def markdown(text: str) -> str:
    """Headings, paragraphs, bullet and numbered lists, fenced code; everything else is
    shown as the text it is, escaped. No inline markup: no links, images or raw HTML."""
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []
    kind = ""
    fence: list[str] | None = None

    def flush() -> None:
        nonlocal kind
        if para:
            out.append("<p>" + esc_long(" ".join(para)) + "</p>")
            para.clear()
        if items:
            out.append(
                f"<{kind}>" + "".join(f"<li>{esc_long(i)}</li>" for i in items) + f"</{kind}>"
            )
            items.clear()
            kind = ""

    for line in text[:MAX_CARD_CHARS].splitlines():
        stripped = line.strip()
        if fence is not None:
            if stripped.startswith("```"):
                out.append("<pre><code>" + esc_long("\n".join(fence)) + "</code></pre>")
                fence = None
            else:
                fence.append(line)
            continue
        if stripped.startswith("```"):
            flush()
            fence = []
        elif stripped.startswith("#"):
            flush()
            level = min(len(stripped) - len(stripped.lstrip("#")), 4)
            out.append(f"<h{level + 2}>{esc_long(stripped.lstrip('#').strip())}</h{level + 2}>")
        elif stripped[:2] in ("- ", "* ", "+ "):
            if kind != "ul":
                flush()
            kind = "ul"
            items.append(stripped[2:])
        elif _numbered(stripped):
            if kind != "ol":
                flush()
            kind = "ol"
            items.append(stripped.split(" ", 1)[1] if " " in stripped else "")
        elif not stripped:
            flush()
        else:
            if items:
                flush()
            para.append(stripped)
    if fence is not None:
        out.append("<pre><code>" + esc_long("\n".join(fence)) + "</code></pre>")
    flush()
    return "\n".join(out)


def esc_long(text: str) -> str:
    return html.escape(text, quote=True)


def _numbered(line: str) -> bool:
    head, _, _ = line.partition(" ")
    return len(head) > 1 and head[-1] in ".)" and head[:-1].isdigit()


# --- charts ---------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def chart(gates: Sequence[Mapping[str, Any]]) -> str:
    """Observed value against threshold, one row per gate with numbers for both: a bar for
    the observed value, a tick for the threshold, on the row's own scale."""
    rows = [
        (g, o, t)
        for g in gates
        if (o := _number(g.get("observed"))) is not None
        and (t := _number(g.get("threshold"))) is not None
    ]
    if not rows:
        return (
            '<p class="meta">No gate of this decision has a numeric observed value and '
            "threshold.</p>"
        )
    width, label_w, bar_w, row_h = 720, 180, 380, 26
    height = row_h * len(rows) + 24
    parts = [
        f'<svg class="chart" role="img" aria-label="observed value against threshold per gate" '
        f'width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
    ]
    for i, (g, observed, threshold) in enumerate(rows):
        y = 12 + i * row_h
        top = max(abs(observed), abs(threshold)) * 1.1 or 1.0
        ow = max(1.0, bar_w * abs(observed) / top)
        tx = label_w + bar_w * abs(threshold) / top
        color = "#3a7d3a" if g.get("status") in ("pass", "waived") else "#b03030"
        if g.get("status") in ("warn", "skip"):
            color = "#b07a00"
        parts.append(f'<text x="0" y="{y + 14}">{esc(g.get("gate_id"))}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{ow:.1f}" height="14" fill="{color}"/>'
        )
        parts.append(
            f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{y}" y2="{y + 20}" stroke="#000" '
            'stroke-width="2"/>'
        )
        op = esc(g.get("operator") or "")
        parts.append(
            f'<text x="{label_w + bar_w + 8}" y="{y + 14}">{esc(observed)} {op} '
            f"{esc(threshold)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts) + (
        '<p class="meta">Bar: observed value; black tick: threshold (same scale per row).</p>'
    )


# --- the page -------------------------------------------------------------------------------


def _table(head: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """A table of already escaped cells."""
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _json(pack: Pack, name: str, default: Any) -> Any:
    try:
        return pack.json(name) if name in pack.files else default
    except PackUnreadable:
        return default


def _decision_section(pack: Pack, number: int) -> str:
    doc = _json(pack, decision_member(number), {})
    result = doc.get("result", {}) if isinstance(doc, dict) else {}
    if not isinstance(result, dict):
        return ""
    gates = [g for g in result.get("gates", []) if isinstance(g, dict)]
    outcome = result.get("outcome")
    head = (
        f"<h3>Decision {esc(number)}: {esc(result.get('from_stage'))} → "
        f'{esc(result.get("to_stage"))} <span class="{_cls(outcome)}">{esc(outcome)}</span></h3>'
        f'<p class="meta">Policy {esc(result.get("policy"))} {esc(result.get("policy_version"))} '
        f"(hash {esc(str(result.get('policy_hash', ''))[:16])}…), decision id "
        f"{esc(str(result.get('decision_id', ''))[:16])}…, change type "
        f"{esc(result.get('change_type'))}. {esc(result.get('summary'))}</p>"
    )
    table = _table(
        ["gate", "type", "status", "observed", "operator", "threshold", "message"],
        [
            [
                esc(g.get("gate_id")),
                esc(g.get("type")),
                f'<span class="{_cls(g.get("status"))}">{esc(g.get("status"))}</span>'
                + (f" (waiver {esc(g.get('waiver'))})" if g.get("waiver") else ""),
                f'<span class="num">{esc(g.get("observed"))}</span>',
                esc(g.get("operator")),
                esc(g.get("threshold")),
                esc(g.get("message")),
            ]
            for g in gates
        ],
    )
    approvals = [a for a in result.get("approvals", []) if isinstance(a, dict)]
    signoffs = _table(
        ["role", "required", "approved by"],
        [
            [
                esc(a.get("role")),
                esc(a.get("required")),
                esc(", ".join(map(str, a.get("approved_by", [])))),
            ]
            for a in approvals
        ],
    )
    return head + table + chart(gates) + ("<h4>Sign-offs</h4>" + signoffs if approvals else "")


def render(pack: Pack, report: PackReport | None = None) -> str:
    """The page. With ``report`` (the pack verified), its checks are shown at the top."""
    manifest, info = pack.manifest, pack.info
    model, version = info["model"], info["version"]
    record = _json(pack, VERSION, {})
    vrec = record.get("version", {}) if isinstance(record, dict) else {}
    mrec = record.get("model", {}) if isinstance(record, dict) else {}
    metrics = (vrec.get("record") or {}).get("metrics", {}) if isinstance(vrec, dict) else {}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Evidence pack: {esc(model)} {esc(version)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Evidence pack: {esc(model)} {esc(version)}</h1>",
        f'<p class="meta">Built {esc(info.get("built_at"))} · format '
        f"{esc(manifest.get('format'))} · stage {esc(vrec.get('stage'))} · risk tier "
        f"{esc(mrec.get('risk_tier'))} · owner {esc(mrec.get('owner'))} · team "
        f"{esc(mrec.get('team'))}</p>",
    ]
    if report is not None:
        verdict = "VERIFIED" if report.ok else "DOES NOT VERIFY"
        parts.append(
            f'<h2>Verification: <span class="{"ok" if report.ok else "bad"}">{verdict}</span></h2>'
        )
        parts.append(
            _table(
                ["check", "result", "detail"],
                [
                    [
                        esc(c.name),
                        '<span class="ok">ok</span>' if c.ok else '<span class="bad">FAIL</span>',
                        esc_long(c.detail),
                    ]
                    for c in report.checks
                ],
            )
        )
        parts += [f'<p class="warn">Warning: {esc_long(w)}</p>' for w in report.warnings]
    parts.append("<h2>Evaluation summary</h2>")
    if isinstance(metrics, dict) and metrics:
        parts.append(
            _table(
                ["metric", "value"],
                [
                    [esc(k), f'<span class="num">{esc(v)}</span>']
                    for k, v in sorted(metrics.items())
                ],
            )
        )
    numbers = [n for n in info.get("decisions", []) if isinstance(n, int)]
    parts.append("<h2>Gate results</h2>")
    if not numbers:
        parts.append('<p class="meta">No decision: this version was never promoted.</p>')
    parts += [_decision_section(pack, n) for n in numbers]
    parts.append("<h2>Approvals</h2>")
    parts.append(_approvals(pack))
    parts.append("<h2>Waivers</h2>")
    waivers = [w for w in _json(pack, WAIVERS, []) if isinstance(w, dict)]
    parts.append(
        _table(
            ["waiver", "gate", "version", "expires", "granted by", "justification", "revoked"],
            [
                [
                    f"W-{esc(w.get('id'))}",
                    esc(w.get("gate_id")),
                    esc(w.get("version") or "all"),
                    esc(w.get("expires_at")),
                    esc(w.get("granted_by")),
                    esc(w.get("justification")),
                    esc(w.get("revoked_at") or "no"),
                ]
                for w in waivers
            ],
        )
        if waivers
        else '<p class="meta">None.</p>'
    )
    parts.append("<h2>Model card</h2>")
    if MODEL_CARD in pack.files:
        card = pack.files[MODEL_CARD].decode("utf-8", errors="replace")
        parts.append(f'<div class="card">{markdown(card)}</div>')
    else:
        parts.append('<p class="meta">The version has no stored model card.</p>')
    parts.append("<h2>Audit trail (this version)</h2>")
    parts.append(_audit(pack))
    parts.append("<h2>Policy</h2>")
    parts.append(_policies(pack))
    parts.append("<h2>Files</h2>")
    files = manifest.get("files", {})
    parts.append(
        _table(
            ["file", "bytes", "sha256"],
            [
                [
                    esc(n),
                    f'<span class="num">{esc(e.get("size"))}</span>',
                    f"<code>{esc(e.get('sha256'))}</code>",
                ]
                for n, e in sorted(files.items())
                if isinstance(e, dict)
            ],
        )
    )
    parts.append(
        '<p class="meta">Check this pack offline with <code>clearance report verify FILE.zip '
        "--public-key KEY</code>.</p></body></html>"
    )
    return "\n".join(parts) + "\n"


def _approvals(pack: Pack) -> str:
    rows = []
    for name in sorted(n for n in pack.files if n.startswith("requests/")):
        doc = _json(pack, name, {})
        if not isinstance(doc, dict):
            continue
        request = doc.get("request", {}) if isinstance(doc.get("request"), dict) else {}
        for a in doc.get("approvals", []):
            if isinstance(a, dict):
                rows.append(
                    [
                        esc(request.get("id")),
                        esc(f"{request.get('from_stage')} → {request.get('to_stage')}"),
                        esc(a.get("approver")),
                        esc(", ".join(map(str, a.get("roles", [])))),
                        esc(a.get("verdict")),
                        esc(a.get("at")),
                        esc(a.get("reason")),
                    ]
                )
    if not rows:
        return '<p class="meta">None recorded.</p>'
    return _table(["request", "transition", "approver", "roles", "verdict", "at", "reason"], rows)


def _audit(pack: Pack) -> str:
    import json

    own = set(pack.info.get("version_events", []))
    rows = []
    try:
        lines = pack.text(EVENTS).splitlines() if EVENTS in pack.files else []
    except PackUnreadable:
        lines = []
    for line in lines:
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if isinstance(e, dict) and e.get("seq") in own:
            rows.append(
                [
                    esc(e.get("seq")),
                    esc(str(e.get("time", ""))[:19]),
                    esc(e.get("actor")),
                    esc(e.get("action")),
                    esc(e.get("subject")),
                    f"<code>{esc(str(e.get('hash', ''))[:16])}</code>",
                ]
            )
    shown = rows[:MAX_EVENTS_SHOWN]
    more = len(rows) - len(shown)
    note = f'<p class="meta">{more} more in {EVENTS}.</p>' if more > 0 else ""
    total = len(lines)
    return (
        f'<p class="meta">{len(rows)} of the {total} events in the chain proof are about this '
        "version; the others are kept because each event's hash covers the one before.</p>"
        + _table(["seq", "time (UTC)", "actor", "action", "subject", "hash"], shown)
        + note
    )


def _policies(pack: Pack) -> str:
    out = []
    for name in sorted(
        n for n in pack.files if n.startswith("policy/") and n.endswith("/policy.json")
    ):
        index = _json(pack, name, {})
        if not isinstance(index, dict):
            continue
        out.append(
            f"<h3>{esc(index.get('name'))} {esc(index.get('version'))}</h3>"
            f'<p class="meta">content hash <code>{esc(index.get("content_hash"))}</code></p>'
        )
        for entry in index.get("sources", []):
            if isinstance(entry, list) and len(entry) == 2 and entry[1] in pack.files:
                text = pack.files[entry[1]].decode("utf-8", errors="replace")
                out.append(f"<h4>{esc(entry[0])}</h4><pre>{esc_long(text)}</pre>")
    return "".join(out) or '<p class="meta">No policy: no decision was made.</p>'
