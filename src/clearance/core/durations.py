"""Durations as policies write them: ``90m``, ``72h``, ``5d``, ``2w``.

The longest accepted duration is 10 years (``LONGEST``): past any governance deadline (a
waiver, a token, an SLA, a review window), and short enough that ``now + duration`` always
stays a valid date. A longer one is refused with a precise error wherever it is written
(policy, API body, CLI option), never a crash later when it is used.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import AfterValidator, Field

PATTERN = r"^[0-9]+[mhdw]$"
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
LONGEST = dt.timedelta(days=3653)  # 10 years, leap days included
LONGEST_TEXT = "10 years (3653d)"


def parse_duration(text: str) -> dt.timedelta:
    """``72h`` -> 3 days; a malformed or too long text is a ValueError saying what is allowed."""
    match = re.fullmatch(r"([0-9]+)([mhdw])", text.strip())
    if match is None:
        raise ValueError(f"'{text}' is not a duration like 90m, 72h, 5d or 2w")
    digits, unit = match.group(1).lstrip("0") or "0", _UNITS[match.group(2)]
    if len(digits) > 9 or int(digits) > LONGEST / dt.timedelta(**{unit: 1}):
        raise ValueError(f"'{text.strip()}' is longer than the longest allowed, {LONGEST_TEXT}")
    return dt.timedelta(**{unit: int(digits)})


def _valid(text: str) -> str:
    parse_duration(text)
    return text


Duration = Annotated[
    str,
    Field(pattern=PATTERN, description=f"e.g. 90m, 72h, 5d or 2w; at most {LONGEST_TEXT}."),
    AfterValidator(_valid),
]
