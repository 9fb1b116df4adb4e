"""Durations as policies write them: ``90m``, ``72h``, ``5d``, ``2w``."""

from __future__ import annotations

import datetime as dt
import re

PATTERN = r"^\d+[mhdw]$"
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> dt.timedelta:
    """``72h`` -> 3 days; a malformed text is a ValueError naming the accepted form."""
    match = re.fullmatch(r"(\d+)([mhdw])", text.strip())
    if match is None:
        raise ValueError(f"'{text}' is not a duration like 90m, 72h, 5d or 2w")
    return dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
