"""Durations as policies write them: ``90m``, ``72h``, ``5d``, ``2w``."""

from __future__ import annotations

import datetime as dt
import re

PATTERN = r"^\d+[mhdw]$"
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
LONGEST = dt.timedelta(days=100 * 366)  # beyond any governance deadline; keeps dates in range


def parse_duration(text: str) -> dt.timedelta:
    """``72h`` -> 3 days; a malformed text is a ValueError naming the accepted form."""
    match = re.fullmatch(r"(\d+)([mhdw])", text.strip())
    if match is None:
        raise ValueError(f"'{text}' is not a duration like 90m, 72h, 5d or 2w")
    amount, unit = int(match.group(1)), _UNITS[match.group(2)]
    if amount > LONGEST / dt.timedelta(**{unit: 1}):
        raise ValueError(f"'{text}' is longer than 100 years")
    return dt.timedelta(**{unit: amount})
