"""The pages' one rule for times and digests: UTC to the minute, exact instant kept, digests
short with the whole value on demand, and nothing a value holds ever becomes markup."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

from hypothesis import given
from hypothesis import strategies as st

from clearance.web.display import digest, when


def test_times_in_utc_to_the_minute_with_the_exact_instant_kept() -> None:
    at = dt.datetime(2026, 12, 4, 21, 7, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert str(when(at)) == (
        '<time datetime="2026-12-04T19:07:05.123456Z">2026-12-04 19:07 UTC</time>'
    )
    assert str(when("2026-12-04T19:07:05+00:00")) == (
        '<time datetime="2026-12-04T19:07:05Z">2026-12-04 19:07 UTC</time>'
    )
    assert str(when(None)) == "—"
    assert str(when("<b>soon</b>")) == "&lt;b&gt;soon&lt;/b&gt;"  # not a time: as it is


def test_digests_short_and_whole_on_demand() -> None:
    full = "sha256:" + "ab" * 32
    shown = str(digest(full))
    assert "<summary><code>sha256:abababababab…</code></summary>" in shown
    assert f"<code>{full}</code>" in shown
    assert str(digest("sha256:9a4c")) == "<code>sha256:9a4c</code>"
    assert str(digest(None)) == "—"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)


@given(st.text(max_size=200))
def test_no_value_becomes_markup(value: str) -> None:
    for rendered, allowed in (
        (when(value), {"time"}),
        (digest(value), {"details", "summary", "code"}),
    ):
        parser = _Tags()
        parser.feed(str(rendered))
        assert parser.tags <= allowed, rendered
