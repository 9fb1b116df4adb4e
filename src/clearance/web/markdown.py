"""A small, safe Markdown subset for evidence documents (model cards) on the web pages.

Evidence is uploaded by whoever registers a version, so it is hostile text: every character
is escaped first and only a fixed set of tags is ever produced — headings, paragraphs, lists,
emphasis, inline code and fenced code blocks, and links whose target is http(s) or mailto.
Raw HTML in the source stays visible as text; any other link target is shown as plain text.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

MAX_SOURCE = 256 * 1024  # characters rendered; the rest is cut with a note
SAFE_SCHEMES = ("http://", "https://", "mailto:")
# The tags ``render`` can produce (the tests hold it to this list).
TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "p", "ul", "ol", "li", "strong", "em"})
TAGS = TAGS | {"code", "pre", "a"}

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d{1,9}[.)]\s+(.*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_STRONG = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_EM = re.compile(r"(?<![*\w])\*(?=\S)(.+?)(?<=\S)\*(?!\*)|(?<![_\w])_(?=\S)(.+?)(?<=\S)_(?!\w)")
_LINK = re.compile(r"\[([^\[\]\n]+)\]\(([^()\s]+)\)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def render(source: str, *, shift: int = 0) -> Markup:
    """``source`` as HTML built only from ``TAGS``; everything else is escaped text.
    ``shift`` lowers every heading that many levels (at most h6), so a document's headings
    nest under the page's own."""
    cut = len(source) > MAX_SOURCE
    text = _CONTROL.sub("", source[:MAX_SOURCE]).replace("\r\n", "\n").replace("\r", "\n")
    out: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    list_tag = ""
    code: list[str] | None = None

    def flush() -> None:
        nonlocal list_tag
        if paragraph:
            out.append(f"<p>{inline(' '.join(paragraph))}</p>")
            paragraph.clear()
        if items:
            body = "".join(f"<li>{inline(i)}</li>" for i in items)
            out.append(f"<{list_tag}>{body}</{list_tag}>")
            items.clear()
            list_tag = ""

    for line in text.split("\n"):
        if code is not None:
            if _FENCE.match(line):
                out.append(f"<pre><code>{escape(chr(10).join(code))}</code></pre>")
                code = None
            else:
                code.append(line)
            continue
        if _FENCE.match(line):
            flush()
            code = []
            continue
        if not line.strip():
            flush()
            continue
        if heading := _HEADING.match(line):
            flush()
            level = min(6, len(heading.group(1)) + max(0, shift))
            out.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
            continue
        bullet, numbered = _BULLET.match(line), _NUMBERED.match(line)
        if bullet or numbered:
            tag = "ul" if bullet else "ol"
            if list_tag != tag or paragraph:
                flush()
            list_tag = tag
            items.append((bullet or numbered).group(1))  # type: ignore[union-attr]
            continue
        if items:  # a continuation line of the last item
            items[-1] += " " + line.strip()
            continue
        paragraph.append(line.strip())
    if code is not None:  # an unclosed fence runs to the end
        out.append(f"<pre><code>{escape(chr(10).join(code))}</code></pre>")
    flush()
    if cut:
        out.append(f"<p><em>(cut at {MAX_SOURCE:,} characters)</em></p>")
    return Markup("\n".join(out))


def inline(text: str) -> str:
    """Code spans verbatim (escaped); emphasis and safe links in the rest."""
    parts: list[str] = []
    last = 0
    for span in _CODE_SPAN.finditer(text):
        parts.append(_emphasis(text[last : span.start()]))
        parts.append(f"<code>{escape(span.group(1))}</code>")
        last = span.end()
    parts.append(_emphasis(text[last:]))
    return "".join(parts)


def _emphasis(raw: str) -> str:
    pieces: list[str] = []
    last = 0
    for link in _LINK.finditer(raw):
        pieces.append(_marks(str(escape(raw[last : link.start()]))))
        label, target = link.group(1), link.group(2)
        if target.lower().startswith(SAFE_SCHEMES):
            pieces.append(
                f'<a href="{escape(target)}" rel="noopener noreferrer nofollow">'
                f"{_marks(str(escape(label)))}</a>"
            )
        else:  # javascript:, data:, relative paths: the text, not a link
            pieces.append(_marks(str(escape(label))))
        last = link.end()
    pieces.append(_marks(str(escape(raw[last:]))))
    return "".join(pieces)


def _marks(escaped: str) -> str:
    escaped = _STRONG.sub(lambda m: f"<strong>{m.group(1) or m.group(2)}</strong>", escaped)
    return _EM.sub(lambda m: f"<em>{m.group(1) or m.group(2)}</em>", escaped)
