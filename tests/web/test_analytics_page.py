"""The analytics page's view over computed figures (``core.analytics.compute``): the gate
that blocks most comes first, near misses are listed closest first, and every label from
the store is escaped in the HTML and in the SVG charts."""

from __future__ import annotations

import datetime as dt
import re

from clearance.core.analytics import DecisionFact, Facts, GateFact, Window, compute
from clearance.web.routes import _env, analytics_view

T0 = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
HOSTILE = '<script>alert("x")</script>'


def _figures() -> object:
    decisions = []
    for i in range(30):
        gates = (
            GateFact("auc_floor", "fail" if i % 3 == 0 else "pass", 0.01, i % 3 == 1),
            GateFact(HOSTILE, "fail" if i % 10 == 0 else "pass", 0.5, False),
        )
        outcome = "deny" if any(g.status == "fail" for g in gates) else "allow"
        at = T0 + dt.timedelta(days=i % 14)
        decisions.append(
            DecisionFact(
                i + 1, at, "credit", "risk", "staging", "production", "standard", outcome, gates
            )
        )
    window = Window(since=T0, until=T0 + dt.timedelta(days=14), now=T0 + dt.timedelta(days=14))
    return compute(Facts(decisions, [], [], []), window)


def rendered() -> str:
    """The analytics page over ``_figures()``, as the server would send it."""
    view = analytics_view(_figures())
    return _env.get_template("analytics.html").render(
        user=None, csrf="", request_path="/analytics", model="", policy="", bucket="week", **view
    )


def test_the_page_answers_which_gate_blocks_most_and_escapes_labels() -> None:
    view = analytics_view(_figures())
    html = rendered()
    rows = re.findall(r'<tr><th scope="row">([^<]*)</th><td>risk</td>', html)
    assert rows[0] == "auc_floor"  # 10 blocks, before the other gate's 3
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.count("<svg") == 3  # blocking bars, pass-rate lines, outcomes of one policy
    assert 'role="img"' in view["blocking_chart"]
    assert "No near misses." not in html  # auc_floor passed 10 times within its near-miss band
