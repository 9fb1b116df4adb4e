"""What every report parser shares: the error, the bounds, bounded JSON and text.

Reports come from users' CI jobs and are hostile input: each parser takes bytes and either
returns plain data or raises :class:`ReportError` with a message saying what is wrong (the
caller adds which file). Sizes are bounded before and while parsing.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_BYTES = 256 << 20  # the most any parser reads; gates set their own, smaller, max_bytes
MAX_ITEMS = 100_000  # test cases, expectations, components, findings... per report
MAX_TEXT = 1_000  # characters kept of any one name or message
MAX_LISTED = 100  # failing tests or expectations named one by one


class ReportError(ValueError):
    """The bytes are not a report of the expected format; the message says what is wrong."""


def check_size(data: bytes) -> None:
    if len(data) > MAX_BYTES:
        raise ReportError(f"{len(data):,} bytes, over the limit of {MAX_BYTES:,} for a report")


def load_json(data: bytes, what: str) -> Any:
    """``data`` parsed as JSON (UTF-8, a BOM allowed), or a ``ReportError``."""
    check_size(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReportError(
            f"not UTF-8 text ({what} expected): {exc.reason} at byte {exc.start}"
        ) from None
    try:
        return json.loads(text)
    except RecursionError:
        raise ReportError(f"JSON nested too deeply to read ({what} expected)") from None
    except ValueError as exc:
        raise ReportError(f"not JSON ({what} expected): {exc}") from None


def text(value: Any, default: str = "") -> str:
    """A name or message as text, at most ``MAX_TEXT`` characters."""
    if value is None:
        return default
    out = value if isinstance(value, str) else str(value) if _scalar(value) else default
    return out if len(out) <= MAX_TEXT else out[: MAX_TEXT - 1] + "…"


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def number(value: Any) -> float | None:
    """A finite number from a JSON number or numeric text ("0.91"); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        out = float(value)
    elif isinstance(value, str) and len(value) <= 64:
        try:
            out = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return out if math.isfinite(out) else None


def items(value: Any, what: str) -> list[Any]:
    """``value`` as a list of at most ``MAX_ITEMS`` entries ([] when absent)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ReportError(f"{what} is not a list")
    if len(value) > MAX_ITEMS:
        raise ReportError(f"{what} has {len(value):,} entries, over the limit of {MAX_ITEMS:,}")
    return value


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
