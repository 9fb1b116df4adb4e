"""What the engines share: column-name checks, the table-source declaration, the limits."""

from __future__ import annotations

from clearance.dataset_sources import FORMATS, TableSource, checked_table

__all__ = [
    "FORMATS",
    "MAX_COLUMN_NAME",
    "BadColumn",
    "TableSource",
    "checked_column",
    "checked_table",
]

MAX_COLUMN_NAME = 256


class BadColumn(ValueError):
    """A column name that is not one of the table's columns (or is not a plain name)."""


def checked_column(name: str, known: list[str], table: str) -> str:
    """``name`` if it is exactly one of the table's columns; never interpolated otherwise."""
    if not isinstance(name, str) or not name or len(name) > MAX_COLUMN_NAME or "\x00" in name:
        raise BadColumn(f"column name {name!r} of dataset '{table}' is not a plain name")
    if name not in known:
        raise BadColumn(
            f"dataset '{table}' has no column {name!r} (it has: {', '.join(known[:50])})"
        )
    return name
