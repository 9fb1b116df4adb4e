"""The SVG charts: well-formed XML whatever the labels hold, labelled for a screen reader,
and every figure drawn also said in text."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from defusedxml.ElementTree import fromstring
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.reporters.svg_charts import (
    CHAR_W,
    bar_chart,
    line_chart,
    sparkline,
    stacked_bars,
)

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & \x00\x1b[31m "quoted" \'single\' ]]>'


def parse(svg: str) -> ET.Element:
    root = fromstring(svg)
    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img"
    title = root.find(f"{NS}title")
    assert title is not None and title.text
    assert root.get("aria-label") == title.text
    desc = root.find(f"{NS}desc")
    assert desc is not None and root.get("aria-describedby") == desc.get("id")
    return root


def test_a_bar_chart_draws_one_bar_per_item_longest_for_the_largest() -> None:
    root = parse(bar_chart("Failures by gate", [("auc_floor", 12), ("card", 3)]))
    widths = [float(r.get("width", "0")) for r in root.iter(f"{NS}rect")]
    assert len(widths) == 2 and widths[0] > widths[1] > 0
    tips = [t.text for t in root.iter(f"{NS}title")][1:]
    assert tips == ["auc_floor: 12", "card: 3"]
    assert root.find(f"{NS}desc").text == "auc_floor: 12; card: 3"  # type: ignore[union-attr]


def test_labels_are_escaped_never_markup() -> None:
    svg = bar_chart(HOSTILE, [(HOSTILE, 1.0)])
    root = parse(svg)
    assert "<script>" not in svg and root.find(f"{NS}script") is None
    assert not list(root.iter("script"))
    texts = [t.text or "" for t in root.iter(f"{NS}text")]
    assert any("<script>" in t for t in texts)  # shown as text, as written
    assert "\x00" not in svg and "\x1b" not in svg


def test_stacked_bars_put_failures_on_top_of_passes() -> None:
    root = parse(stacked_bars("Pass and fail per week", ["w1", "w2"], [3, 0], [1, 2]))
    rects = list(root.iter(f"{NS}rect"))
    assert len(rects) == 4
    p1, f1 = rects[0], rects[1]
    assert float(f1.get("y", "0")) + float(f1.get("height", "0")) == pytest.approx(
        float(p1.get("y", "0"))
    )
    assert "w2: 0 passed, 2 failed" in (root.find(f"{NS}desc").text or "")  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="differ in length"):
        stacked_bars("x", ["a"], [1, 2], [1])


def test_a_line_breaks_where_there_is_no_data() -> None:
    root = parse(
        line_chart(
            "Pass rate", ["a", "b", "c", "d"], [("auc", [0.5, None, 0.75, 1.0])], percent=True
        )
    )
    lines = list(root.iter(f"{NS}polyline"))
    assert [len(p.get("points", "").split()) for p in lines] == [1, 2]
    assert "b no data" in (root.find(f"{NS}desc").text or "")  # type: ignore[union-attr]
    assert "c 75.0%" in (root.find(f"{NS}desc").text or "")  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="has 1 values, not 4"):
        line_chart("x", ["a", "b", "c", "d"], [("s", [1.0])])


def test_a_sparkline_and_empty_charts_are_still_well_formed() -> None:
    parse(sparkline("trend", [1.0, 2.0, None, 3.0]))
    parse(sparkline("trend", []))
    parse(bar_chart("nothing", []))
    parse(line_chart("nothing", [], []))
    parse(stacked_bars("nothing", [], [], []))


@settings(max_examples=200, deadline=None)
@given(
    title=st.text(max_size=80),
    labels=st.lists(st.text(max_size=40), max_size=6),
    values=st.lists(st.floats(0, 1e6, allow_nan=False), min_size=6, max_size=6),
)
def test_any_text_makes_well_formed_svg(title: str, labels: list[str], values: list[float]) -> None:
    items = list(zip(labels, values, strict=False))
    parse(bar_chart(title or "t", items))
    rates = [v / 1e6 for v in values[: len(labels)]]
    parse(line_chart(title or "t", labels, [(title, rates)], percent=True))
    ints = [int(v) for v in values[: len(labels)]]
    parse(stacked_bars(title or "t", labels, ints, ints))


@given(st.lists(st.text(min_size=1, max_size=120), min_size=1, max_size=6))
@settings(max_examples=60, deadline=None)
def test_a_bar_label_never_runs_off_the_left_edge(labels: list[str]) -> None:
    """Gate ids run long (``approval_rate_disparity_protected_groups``): each label drawn
    fits its column (at the widest glyph advance), cut with an ellipsis, whole in its title."""
    root = parse(bar_chart("Failures by gate", [(label, 1.0) for label in labels]))
    drawn = [t for t in root.iter(f"{NS}text") if t.get("text-anchor") == "end"]
    assert len(drawn) == len(labels)
    for t in drawn:
        right = float(t.get("x", "0"))
        assert len(t.text or "") * CHAR_W <= right, (t.text, right)
    ids = ["approval_rate_disparity_ratio", "approval_rate_disparity_between_protected_groups"]
    root = parse(bar_chart("Failures by gate", [(ids[0], 3.0), (ids[1], 1.0)]))
    drawn = [t.text for t in root.iter(f"{NS}text") if t.get("text-anchor") == "end"]
    assert drawn[0] == ids[0]  # the column widens for a long id ...
    assert drawn[1] is not None and drawn[1].endswith("…") and ids[1].startswith(drawn[1][:-1])
    tips = [t.text for t in root.iter(f"{NS}title")][1:]
    assert tips[1] == f"{ids[1]}: 1"  # ... and a longer one is whole in its title
