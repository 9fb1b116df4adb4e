"""The one rule for names people choose: models, versions, gates and users.

A name is stored, put in URLs, audit events, notifications and terminal lines, and typed
back on the command line. So it is one printable token: 1 to ``MAX_NAME`` characters, no
whitespace, no control or invisible characters, no ``/`` (a URL path segment), and not
``.`` or ``..``. Letters of any script, digits and punctuation such as ``. _ - : @ +``
are fine (``credit-default``, ``1.2.0+build.5``, ``alice@bank.example``).
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field

MAX_NAME = 100  # what the store's narrowest name column (a version) holds; well under the
# 400 characters of an audit subject (model and version) and the 500 of a notification line


def name_problem(text: str) -> str | None:
    """Why ``text`` is not a valid name, or None."""
    if not text:
        return "must not be empty"
    if len(text) > MAX_NAME:
        return f"is {len(text)} characters long; at most {MAX_NAME} are allowed"
    if text in (".", ".."):
        return f"may not be '{text}'"
    for i, char in enumerate(text):
        if char == "/":
            return f"must not contain '/' (at character {i + 1})"
        if unicodedata.category(char)[0] in "CZ":  # controls, format chars, separators
            return (
                f"must not contain whitespace or control characters "
                f"(U+{ord(char):04X} at character {i + 1})"
            )
    return None


def check_name(text: str, what: str = "name") -> str:
    """``text`` if it is a valid name; otherwise a ValueError naming ``what`` is wrong."""
    problem = name_problem(text)
    if problem is not None:
        raise ValueError(f"{what} {problem}")
    return text


def _valid(text: str) -> str:
    return check_name(text, "a name")


# For JSON Schema readers (editors, schemathesis): the rule above, as far as a pattern can say.
PATTERN = r"^(?!\.\.?$)[^\s/\x00-\x1f\x7f-\x9f]+$"

Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_NAME,
        json_schema_extra={"pattern": PATTERN},
        description="A name: no whitespace, control characters or '/'.",
    ),
    AfterValidator(_valid),
]
