"""Keyset paging for the registry's lists: the page limits and the opaque cursor a page hands out.

A list page ends with ``next``, a cursor naming the last row it showed; the next page starts
after that row (``WHERE key > last ORDER BY key``), so page 200 costs what page 1 costs and a
row added meanwhile neither repeats nor skips one. A cursor is base64url of a small JSON
object: which list gave it out, a digest of that list's filters, and the last key. It is
opaque to clients but not trusted: one that does not decode, belongs to another list or other
filters, or holds a key of the wrong kind is bad input naming the ``cursor`` field, never a
database error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any, Generic, Literal, Protocol, TypeVar

from clearance.errors import InputError

MAX_PAGE = 500  # the most rows one page holds
MAX_EVENTS_PAGE = 1000  # the most audit events one page holds (events are small)
MAX_OFFSET = 2**63 - 1  # SQL's OFFSET is a 64-bit integer on SQLite and PostgreSQL
MAX_KEY = 2**63 - 1  # the largest id a database integer column holds
MAX_CURSOR = 1200  # characters: a name key of 200 four-byte characters, encoded, fits
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"  # base64url without padding

ListName = Literal["models", "versions", "requests"]
Key = str | int
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Paged(Protocol, Generic[T_co]):
    """What walking a list needs of its pages (``views.CursorPage``)."""

    @property
    def items(self) -> Sequence[T_co]: ...
    @property
    def next(self) -> str | None: ...


def every(fetch: Callable[[str | None], Paged[T]]) -> list[T]:
    """Every item of a keyset-paged list: ``fetch`` the page after each ``next`` until the
    last (the contract's list methods walk their pages with this, on either transport)."""
    items: list[T] = []
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        items += page.items
        if page.next is None or not page.items:
            return items
        cursor = page.next


def check_page(limit: int, offset: int) -> None:
    """The limits every transport applies (the API's query parameters say the same): a page
    past every row is empty, past a 64-bit offset is bad input (not a database error)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InputError(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InputError(f"offset must be between 0 and {MAX_OFFSET}, not {offset}")


def encode(name: ListName, filters: dict[str, Any], key: Key) -> str:
    """The cursor of the row with ``key`` in list ``name`` under ``filters``."""
    body = {"l": name, "f": _digest(filters), "k": key}
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(cursor: str | None, name: ListName, filters: dict[str, Any], kind: type[Key]) -> Any:
    """The last key ``cursor`` names (None without one), checked against the list it is used
    on: its name, its filters and the kind of key (a name, or a positive 64-bit id)."""
    if cursor is None:
        return None
    body = _body(cursor)
    if body.get("l") != name:
        raise InputError(f"cursor: it was given out by another list, not {name}")
    if body.get("f") != _digest(filters):
        raise InputError(
            "cursor: it was given out for other filters; "
            "keep the filters of the page it came from, or start without a cursor"
        )
    key = body.get("k")
    if kind is int and type(key) is int and 1 <= key <= MAX_KEY:
        return key
    if kind is str and type(key) is str and 0 < len(key) <= 200 and "\x00" not in key:
        return key
    raise InputError("cursor: its position is not one this list gives out")


def _body(cursor: str) -> dict[str, Any]:
    if len(cursor) > MAX_CURSOR or not cursor.isascii():
        raise InputError(f"cursor: not a cursor this server gave out (at most {MAX_CURSOR} chars)")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw.decode())
    except (binascii.Error, ValueError):
        body = None
    if not isinstance(body, dict) or set(body) != {"l", "f", "k"}:
        raise InputError(
            "cursor: not a cursor this server gave out; pass the `next` of a page as it came"
        )
    return body


def _digest(filters: dict[str, Any]) -> str:
    text = json.dumps(filters, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
