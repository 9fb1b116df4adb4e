"""Small server-rendered SVG charts: no script, no library, nothing fetched.

Each function returns one ``<svg>`` element as text, safe to place in an HTML page: every
label is escaped (and characters XML cannot hold are dropped), the chart is ``role="img"``
with a ``<title>`` and ``<desc>`` it is labelled by, and each mark carries its own
``<title>`` with the exact figure, so a screen reader (or a hover) gets the numbers the
picture shows. Colours meet WCAG AA contrast on white, and pass/fail differ in position
(stacked order) as well as colour.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence

INK = "#1f2328"
MUTED = "#57606a"
GRID = "#d0d7de"
PASS = "#1a7f37"
FAIL = "#cf222e"
SERIES = ("#0550ae", "#953800", "#1a7f37", "#8250df", "#cf222e", "#57606a")
FONT = 'font-family="system-ui, sans-serif" font-size="12"'
MAX_LABEL = 60  # characters of a label drawn (the <title> keeps it whole, up to 500)
# A wide character's advance at font-size 12 in a system sans-serif, an upper bound for
# sizing a label column (most glyphs are narrower), so a drawn label never runs off the left.
CHAR_W = 7.5
_ONE_LINE = str.maketrans("\t\n\r", "   ")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def text(value: object, limit: int = 500) -> str:
    """``value`` as XML text or attribute content, on one line: escaped, only characters XML
    allows (an attribute would fold a line break into a space, its text would not)."""
    cleaned = _NOT_XML.sub("", str(value)).translate(_ONE_LINE)
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "…"
    return html.escape(cleaned, quote=True)


def _frame(title: str, desc: str, width: int, height: int, body: list[str]) -> str:
    key = hashlib.sha256(f"{title}\n{desc}".encode()).hexdigest()[:10]
    if not text(title).strip():
        title = "chart"
    return "".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{text(title)}" '
            f'aria-describedby="c{key}-d" {FONT}>',
            f'<title id="c{key}-t">{text(title)}</title>',
            f'<desc id="c{key}-d">{text(desc, 2000)}</desc>',
            *body,
            "</svg>",
        ]
    )


def _number(value: float) -> str:
    return f"{value:.4g}"


def bar_chart(
    title: str,
    items: Sequence[tuple[str, float]],
    *,
    unit: str = "",
    width: int = 560,
    bar: int = 18,
) -> str:
    """Horizontal bars, one per (label, value), in the order given (e.g. most failures
    first): what answers "which one is largest" at a glance."""
    label_w, fits = label_column(items, width)
    gap = 6
    height = max(1, len(items)) * (bar + gap) + gap
    top = max((v for _, v in items), default=0.0) or 1.0
    span = width - label_w - 70
    body = []
    for i, (label, value) in enumerate(items):
        y = gap + i * (bar + gap)
        w = max(0.0, value) / top * span
        body.append(
            f"<g><title>{text(label)}: {_number(value)}{text(unit)}</title>"
            f'<text x="{label_w - 6}" y="{y + bar - 5}" text-anchor="end" fill="{INK}">'
            f"{text(label, fits)}</text>"
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar}" fill="{SERIES[0]}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar - 5}" fill="{INK}">'
            f"{_number(value)}{text(unit)}</text></g>"
        )
    desc = "; ".join(f"{label}: {_number(v)}{unit}" for label, v in items) or "no data"
    return _frame(title, desc, width, height, body)


def label_column(items: Sequence[tuple[str, float]], width: int) -> tuple[int, int]:
    """The label column's width for the longest label (at most 45% of the chart, at least
    60 px) and how many characters fit in it; a longer label is cut with an ellipsis."""
    longest = max((len(label) for label, _ in items), default=0)
    column = max(60, min(int(width * 0.45), int(min(longest, MAX_LABEL) * CHAR_W) + 12))
    return column, max(4, int((column - 12) / CHAR_W))


def stacked_bars(
    title: str,
    labels: Sequence[str],
    passed: Sequence[int],
    failed: Sequence[int],
    *,
    width: int = 560,
    height: int = 160,
) -> str:
    """Per bucket, passes (bottom, green) and failures (on top, red) stacked: the volume and
    the share that failed, over time."""
    if not (len(labels) == len(passed) == len(failed)):
        raise ValueError("stacked_bars: labels, passed and failed differ in length")
    plot_h, left = height - 30, 40
    top = max((p + f for p, f in zip(passed, failed, strict=True)), default=0) or 1
    step = (width - left - 10) / max(1, len(labels))
    body = [_axis(left, plot_h, width, top)]
    for i, (label, p, f) in enumerate(zip(labels, passed, failed, strict=True)):
        x = left + i * step + step * 0.15
        w = step * 0.7
        hp, hf = p / top * plot_h, f / top * plot_h
        body.append(
            f"<g><title>{text(label)}: {p} passed, {f} failed</title>"
            f'<rect x="{x:.1f}" y="{plot_h - hp:.1f}" width="{w:.1f}" height="{hp:.1f}" '
            f'fill="{PASS}"/>'
            f'<rect x="{x:.1f}" y="{plot_h - hp - hf:.1f}" width="{w:.1f}" height="{hf:.1f}" '
            f'fill="{FAIL}"/></g>'
        )
    body.append(_x_labels(labels, left, step, plot_h))
    desc = "; ".join(
        f"{label}: {p} passed, {f} failed"
        for label, p, f in zip(labels, passed, failed, strict=True)
    )
    return _frame(title, desc or "no data", width, height, body)


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    y_max: float | None = None,
    percent: bool = False,
    width: int = 560,
    height: int = 180,
) -> str:
    """One line per named series over the buckets; a None breaks the line (no data there,
    which is not zero). ``percent``: values are rates in [0, 1], shown as percentages."""
    for name, values in series:
        if len(values) != len(labels):
            raise ValueError(f"line_chart: series {name!r} has {len(values)} values, not "
                             f"{len(labels)}")  # fmt: skip
    plot_h, left = height - 30 - 16 * len(series), 40
    top = y_max or max((v for _, vs in series for v in vs if v is not None), default=0) or 1
    step = (width - left - 10) / max(1, len(labels))
    body = [_axis(left, plot_h, width, top, percent=percent)]
    for n, (name, values) in enumerate(series):
        colour = SERIES[n % len(SERIES)]
        body.append(_polyline(values, left, step, plot_h, top, colour))
        for i, v in enumerate(values):
            if v is not None:
                x, y = left + (i + 0.5) * step, plot_h - v / top * plot_h
                shown = f"{v:.1%}" if percent else _number(v)
                body.append(
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                    f"<title>{text(name)}, {text(labels[i])}: {shown}</title></circle>"
                )
        legend_y = plot_h + 30 + 16 * n
        body.append(
            f'<rect x="{left}" y="{legend_y - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{left + 14}" y="{legend_y}" fill="{INK}">{text(name, MAX_LABEL)}</text>'
        )
    body.append(_x_labels(labels, left, step, plot_h))
    desc = "; ".join(
        f"{name}: "
        + ", ".join(
            f"{label} {'no data' if v is None else (f'{v:.1%}' if percent else _number(v))}"
            for label, v in zip(labels, values, strict=True)
        )
        for name, values in series
    )
    return _frame(title, desc or "no data", width, height, body)


def sparkline(
    title: str, values: Sequence[float | None], *, width: int = 120, height: int = 24
) -> str:
    """A word-sized line (a trend beside a figure in a table); gaps where a value is None."""
    top = max((v for v in values if v is not None), default=0) or 1
    step = width / max(1, len(values))
    body = [_polyline(values, 0, step, height - 2, top, SERIES[0])]
    desc = ", ".join("no data" if v is None else _number(v) for v in values) or "no data"
    return _frame(title, desc, width, height, body)


def _polyline(
    values: Sequence[float | None], left: float, step: float, plot_h: float, top: float, colour: str
) -> str:
    runs: list[list[str]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            runs.append([])
            continue
        runs[-1].append(f"{left + (i + 0.5) * step:.1f},{plot_h - v / top * plot_h + 1:.1f}")
    return "".join(
        f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" stroke-width="2"/>'
        for run in runs
        if run
    )


def _axis(left: int, plot_h: int, width: int, top: float, *, percent: bool = False) -> str:
    label = f"{top:.0%}" if percent else _number(top)
    return (
        f'<g aria-hidden="true"><line x1="{left}" y1="{plot_h}" x2="{width - 10}" '
        f'y2="{plot_h}" stroke="{GRID}"/><line x1="{left}" y1="0" x2="{width - 10}" y2="0" '
        f'stroke="{GRID}" stroke-dasharray="3 3"/>'
        f'<text x="{left - 4}" y="10" text-anchor="end" fill="{MUTED}">{label}</text>'
        f'<text x="{left - 4}" y="{plot_h}" text-anchor="end" fill="{MUTED}">0</text></g>'
    )


def _x_labels(labels: Sequence[str], left: int, step: float, plot_h: int) -> str:
    """At most ~8 labels under the axis (every k-th), so they never overlap."""
    every = max(1, -(-len(labels) // 8))
    marks = [
        f'<text x="{left + (i + 0.5) * step:.1f}" y="{plot_h + 14}" text-anchor="middle" '
        f'fill="{MUTED}">{text(label, 12)}</text>'
        for i, label in enumerate(labels)
        if i % every == 0
    ]
    return f'<g aria-hidden="true">{"".join(marks)}</g>'
