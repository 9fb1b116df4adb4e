"""How big an expression's input is, measured before it is handed to the evaluator.

A walk over plain data (maps, lists, strings) that stops as soon as a limit is passed, so
measuring a huge input costs no more than the limit. Pure: the expression gate turns a
:class:`TooLarge` into an ``error`` result naming the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TooLarge:
    """The first limit the input passed: which one, where, and by how much."""

    limit: str  # the gate parameter: max_elements or max_string_length
    allowed: int
    path: str
    found: int


def oversize(data: Any, *, max_elements: int, max_string_length: int) -> TooLarge | None:
    """The first limit ``data`` exceeds, or None: elements are list items and map entries,
    counted over the whole input; strings (values and keys) are measured one by one."""
    stack: list[tuple[str, Any]] = [("", data)]
    elements = 0
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if len(value) > max_string_length:
                return TooLarge("max_string_length", max_string_length, path, len(value))
            continue
        if isinstance(value, dict):
            head = _head(value, max_elements)
            items = [(f"{path}.{k}" if path else str(k), v) for k, v in head]
            items += [(f"a key of {path or 'the input'}", k) for k, _ in head]
        elif isinstance(value, list | tuple):
            items = [(f"{path}[{i}]", v) for i, v in enumerate(value[: max_elements + 1])]
        else:
            continue
        elements += len(value)
        if elements > max_elements:
            return TooLarge("max_elements", max_elements, path or "the input", len(value))
        stack.extend(items)
    return None


def _head(mapping: dict[Any, Any], n: int) -> list[tuple[Any, Any]]:
    """At most ``n + 1`` entries: enough to know the limit is passed, never more."""
    out: list[tuple[Any, Any]] = []
    for item in mapping.items():
        if len(out) > n:
            break
        out.append(item)
    return out
