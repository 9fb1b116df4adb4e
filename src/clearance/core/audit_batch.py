"""The audit chain checked a batch of stored rows at a time, as columns.

``verify_stored`` hands over rows in batches; ``batch_check`` vouches for a whole batch at
once: its seqs continue the chain, each row's prev_hash is the hash before it, and each row
hashes right. Per row that is a C call or two (``zip``, ``map``, tuple comparison), not a
Python loop, which makes it the cost of reading the rows plus sha256. It vouches only for
rows whose bytes it can lay out exactly as ``hashed_bytes`` does without its per-string
JSON escaping: times stored in the rendered UTC form (or a whole second as ``isoformat()``
gives it) and actor, action and subject that need no escape. Anything else (and any
mismatch) returns None, and the caller checks that batch row by row, which also names the
fault; a test holds the two to the same answers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from clearance.core.audit import StoredEvent


class _Columns(NamedTuple):
    """A batch of stored rows transposed: one tuple per column, in ``StoredEvent`` order."""

    seq: tuple[int, ...]
    time: tuple[str, ...]
    actor: tuple[str, ...]
    action: tuple[str, ...]
    subject: tuple[str, ...]
    payload: tuple[str, ...]
    prev_hash: tuple[str, ...]
    hash: tuple[str, ...]


# ``hashed_bytes`` for a row whose strings need no JSON escape, filled in hashed order
# (action, actor, payload, prev_hash, seq, subject, time); ``%d`` is ``int(seq)``
_LAYOUT = (
    '{"action":"%s","actor":"%s","payload":%s,"prev_hash":"%s","seq":%d,"subject":"%s","time":"%s"}'
)
_TIME_SHAPE = "0000-00-00T00:00:00.000000+00:00"  # ``_render_time``'s, digits as 0
_ZERO_DIGITS = str.maketrans("123456789", "000000000")
_sha256 = hashlib.sha256
_hexdigest = type(_sha256()).hexdigest


def _bare(column: tuple[str, ...]) -> bool:
    """Every string is JSON-quoted by quotes alone (printable, no ``"`` nor ``\\``)."""
    text = "".join(column)
    return text.isprintable() and '"' not in text and "\\" not in text


def _batch_times(stored_times: tuple[str, ...]) -> tuple[str, ...] | None:
    """``hashed_time`` of each, when every one is stored as ``_render_time`` renders it
    (or as ``isoformat()`` gave a whole second); None sends the batch row by row."""
    times, n = stored_times, len(stored_times)
    joined = "".join(times)
    if len(joined) != 32 * n:
        times = tuple(
            t[:19] + ".000000+00:00" if len(t) == 25 and t.endswith("+00:00") else t for t in times
        )
        joined = "".join(times)
    # each text has the shape (so one "+", at 26) and its "+" starts "+00:00"
    if joined.translate(_ZERO_DIGITS) != _TIME_SHAPE * n or joined.count("+00:00") != n:
        return None
    return times


def _intact(cols: _Columns, seq: int, prev_hash: str) -> tuple[str, ...] | None:
    """The hashed times of a batch that continues the chain after (``seq``, ``prev_hash``)
    and whose every row hashes right; None when anything is off (then each row is judged
    alone). The same bytes as ``hashed_bytes``: the time is in its hashed form, the strings
    need no escape, and every prev_hash is a hash checked here (or ``prev_hash``)."""
    times = _batch_times(cols.time)
    if (
        times is None
        or cols.seq != tuple(range(seq + 1, seq + 1 + len(cols.seq)))
        or cols.prev_hash != (prev_hash, *cols.hash[:-1])
        or not (_bare(cols.actor) and _bare(cols.action) and _bare(cols.subject))
    ):
        return None
    ordered = zip(
        cols.action,
        cols.actor,
        cols.payload,
        cols.prev_hash,
        cols.seq,
        cols.subject,
        times,
        strict=True,
    )
    laid = map(_LAYOUT.__mod__, ordered)
    digests = map(_hexdigest, map(_sha256, map(str.encode, laid)))
    return times if list(digests) == list(cols.hash) else None


def batch_check(batch: Sequence[StoredEvent], seq: int, prev_hash: str) -> tuple[str, ...] | None:
    """``_intact`` on the batch's columns; a value of an unexpected type (a database that
    returns bytes, or NULL) sends the batch row by row too."""
    try:
        return _intact(_Columns(*zip(*batch, strict=True)), seq, prev_hash)
    except (TypeError, ValueError):
        return None
