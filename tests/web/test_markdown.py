"""The evidence Markdown renderer: only its own tags ever come out, whatever the input."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.web.markdown import MAX_SOURCE, TAGS, render

TAG = re.compile(r"<\s*/?\s*([A-Za-z][A-Za-z0-9]*)([^>]*)>")
MARKS = ["# ", "## ", "- ", "1. ", "*", "**", "_", "`", "```\n", "\n", "\n\n", "[x](", ")"]
HOSTILE = ["<", ">", '"', "'", "&", "javascript:alert(1)", "http://e.x/?a=1&b=2", "<script>"]
PIECES = st.sampled_from([*MARKS, *HOSTILE, "onerror=", " "])
MARKDOWNISH = st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(MARKDOWNISH)
def test_only_known_tags_and_safe_links_come_out(source: str) -> None:
    html = str(render(source))
    for tag in TAG.finditer(html):
        name, attributes = tag.group(1).lower(), tag.group(2)
        assert name in TAGS, html
        if name == "a" and not tag.group(0).startswith("</"):
            href = re.fullmatch(r' href="([^"<>]*)" rel="noopener noreferrer nofollow"', attributes)
            assert href is not None, html
            assert href.group(1).lower().startswith(("http://", "https://", "mailto:")), html
        elif not tag.group(0).startswith("</"):
            assert attributes == "", html
    assert "<script" not in html.lower()


def test_the_subset() -> None:
    html = str(
        render(
            "# Card\n\nSome **bold** and *em* and `<b>code</b>`.\n\n"
            "- one\n- two [docs](https://e.x/a?b=1&c=2)\n\n1. first\n\n"
            "```\n<script>alert(1)</script>\n```\n"
            "[bad](JavaScript:void) <img src=x onerror=alert(1)>"
        )
    )
    assert "<h1>Card</h1>" in html
    assert "<strong>bold</strong>" in html and "<em>em</em>" in html
    assert "<code>&lt;b&gt;code&lt;/b&gt;</code>" in html
    assert "<ul><li>one</li><li>two " in html
    assert 'href="https://e.x/a?b=1&amp;c=2"' in html
    assert "<ol><li>first</li></ol>" in html
    assert "<pre><code>&lt;script&gt;alert(1)&lt;/script&gt;</code></pre>" in html
    assert "javascript" not in html.lower()
    assert "<p>bad &lt;img src=x onerror=alert(1)&gt;</p>" in html


def test_headings_shift_under_the_page() -> None:
    assert str(render("# a\n\n### b", shift=4)) == "<h5>a</h5>\n<h6>b</h6>"


def test_long_documents_are_cut() -> None:
    html = str(render("word " * (MAX_SOURCE // 4)))
    assert "cut at" in html
