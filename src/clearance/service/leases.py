"""When an idempotency key's claim may be taken over: one rule for every store."""

from __future__ import annotations

import datetime as dt


def claim_lapsed(
    *,
    status: int | None,
    stored_fingerprint: str,
    fingerprint: str,
    claimed_at: dt.datetime,
    at: dt.datetime,
    lease: dt.timedelta,
) -> bool:
    """A claim with no response yet, for the same request, older than its lease: the call
    that made it cannot still be running (a crash or a kill), so a retry may run it again."""
    return status is None and stored_fingerprint == fingerprint and claimed_at + lease <= at
