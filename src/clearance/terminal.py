"""Text for a person's terminal: what users and data wrote is shown, never obeyed.

Model names, reasons, justifications, gate messages and evidence names come from people and
files. Printed raw, an ESC sequence recolours or clears the screen (OSC 8 hides a link behind
any text), a newline forges a whole line of ``clearance request list``, a bidi override
reorders what the operator reads, and Rich markup (``[bold green]ALLOW[/]``) restyles it.

One rule, one place: :func:`printable` shows every such character as an escape (``\\x1b``,
``\\n``, ``\\u202e``). :class:`SafeConsole`, the only console the CLI and the demo use,
applies it to every string it renders, interprets no markup or emoji codes in them, and
prints styled lines only through :meth:`SafeConsole.say`, whose values are escaped. Its last
line of defence replaces any control character still left in a rendered segment (from a
``Text`` built by hand) before it reaches the terminal.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleDimensions, ConsoleOptions, RenderableType
from rich.markup import escape as escape_markup
from rich.segment import Segment
from rich.text import Text

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(code: int) -> str:
    char = chr(code)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_UNSAFE = [
    *range(0x00, 0x20),  # C0 controls: ESC, newline, carriage return, backspace, bell...
    *range(0x7F, 0xA0),  # DEL and the C1 controls (0x9b is a one-byte CSI)
    *map(ord, BIDI),  # bidi embeddings, overrides and isolates
    0x2028,  # line separator
    0x2029,  # paragraph separator
    *range(0xD800, 0xE000),  # lone surrogates: not encodable, they crash the writer
    0xFFFE,
    0xFFFF,
]
_ESCAPES = {code: _visible(code) for code in _UNSAFE if code != 0x09}  # a tab only indents
_ESCAPES_KEEP_LINES = {code: text for code, text in _ESCAPES.items() if code != 0x0A}
PIPED_WIDTH = 400  # columns when the output is not a terminal and COLUMNS is not set


def printable(text: object) -> str:
    """``text`` on one line with every control, bidi or separator character made visible."""
    return str(text).translate(_ESCAPES)


def escape(text: object) -> str:
    """``text`` made :func:`printable` and safe to place inside Rich markup."""
    return escape_markup(printable(text))


def json_for_terminal(text: str) -> str:
    """JSON text (``ensure_ascii=False``) with the characters JSON leaves raw (DEL, C1, bidi,
    separators) written as ``\\uXXXX`` escapes: the same data, nothing a terminal obeys."""
    return text.translate(_JSON_ESCAPES)


_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in _UNSAFE if code >= 0x20}


class _Escaping(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        return escape(format(value, format_spec))


class SafeConsole(Console):
    """A Rich console whose strings are shown exactly as written, on one line each.

    Markup, emoji codes and highlighting are off by default; every string rendered (printed,
    a table cell or title, a rule) goes through :func:`printable`.
    """

    def __init__(self, **options: Any) -> None:
        for name in ("markup", "emoji", "highlight"):
            options.setdefault(name, False)
        sized = "width" in options or "height" in options
        super().__init__(**options)
        if not sized:
            # Rich fixes COLUMNS/LINES at construction; these consoles are made at import and
            # live as long as the process, so they read the size when they print instead.
            self._width = self._height = None

    @property
    def size(self) -> ConsoleDimensions:
        """Rich's size, except that output to a pipe or a file is not cut to 80 columns:
        `clearance user list | grep` must see whole names, as `kubectl get` output does."""
        size = super().size
        if self._width is None and "COLUMNS" not in self._environ and not self.is_terminal:
            return ConsoleDimensions(PIPED_WIDTH, size.height)
        return size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size

    def render_str(self, text: str, **options: Any) -> Text:
        return super().render_str(printable(text), **options)

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control is None and not segment.text.isprintable():
                segment = segment._replace(text=segment.text.translate(_ESCAPES_KEEP_LINES))
            yield segment

    def say(self, template: str, /, **values: object) -> None:
        """Print ``template`` (trusted Rich markup, e.g. ``"[bold red]refused[/]: {why}"``)
        with each ``{field}`` formatted, made printable and markup-escaped."""
        self.print(Text.from_markup(_Escaping().vformat(template, (), values), emoji=False))
