"""How the pages show times and digests: one rule each, used as Jinja filters.

Times are shown in UTC to the minute (what an approver compares with a ticket), inside a
``<time>`` element whose ``datetime`` keeps the exact instant for a screen reader, a copy or
a script. A digest is shown by its first 12 hex digits, with the whole value one keyboard
press away in a ``<details>`` (no script), so a long hash never widens a table.
"""

from __future__ import annotations

import datetime as dt

from markupsafe import Markup, escape

SHORT_DIGEST = 12


def when(value: object) -> Markup:
    """``2026-12-04 19:40 UTC`` in a ``<time>``; a value that is not a time, as it is."""
    if value is None or value == "":
        return Markup("—")
    at = _instant(value)
    if at is None:
        return escape(str(value))
    exact = at.isoformat().replace("+00:00", "Z")
    return Markup('<time datetime="{}">{}</time>').format(exact, f"{at:%Y-%m-%d %H:%M} UTC")


def digest(value: object) -> Markup:
    """A digest (``sha256:…`` or bare hex) shortened, whole on demand."""
    if not value:
        return Markup("—")
    full = str(value)
    algorithm, _, hex_part = full.rpartition(":")
    if len(hex_part) <= SHORT_DIGEST:
        return Markup("<code>{}</code>").format(full)
    shown = f"{algorithm + ':' if algorithm else ''}{hex_part[:SHORT_DIGEST]}…"
    return Markup(
        '<details class="digest"><summary><code>{}</code></summary><code>{}</code></details>'
    ).format(shown, full)


def _instant(value: object) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        at = value
    elif isinstance(value, str):
        try:
            at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)
