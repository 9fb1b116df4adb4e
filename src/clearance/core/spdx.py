"""SPDX license expressions: a small bounded parser, and their evaluation against a policy.

Grammar (SPDX specification, Annex D "License expressions"), loosest binding first::

    expression := and-expr ("OR" and-expr)*
    and-expr   := with-expr ("AND" with-expr)*
    with-expr  := license ["WITH" exception] | "(" expression ")"
    license    := an SPDX id, LicenseRef-..., DocumentRef-...:LicenseRef-..., optionally "+"

Operators are accepted in any case (``mit or apache-2.0`` is seen in the wild); ids compare
case-insensitively, as SPDX says they must. The parser is bounded: at most
:data:`MAX_LENGTH` characters, :data:`MAX_DEPTH` nested parentheses and :data:`MAX_TERMS`
licenses, each a :class:`SpdxError` naming the position, never a recursion error.

Evaluation: ``OR`` lets the licensee choose (acceptable if any side is), ``AND`` binds them
to all (acceptable if every side is). A license is acceptable when it is not denied and, if
an allow list is given, allowed. ``X WITH E`` is judged as written when the policy names it,
else as ``X`` (an exception only adds permissions). ``X+`` (this version or later) is allowed
by allowing ``X`` and denied by denying ``X``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_LENGTH = 4096
MAX_DEPTH = 32
MAX_TERMS = 256

_TOKEN = re.compile(r"\s*(?:(\()|(\))|([A-Za-z0-9.+:-]+))")
_ID = re.compile(
    r"^(?:DocumentRef-[A-Za-z0-9.-]+:)?(?:LicenseRef-[A-Za-z0-9.-]+|[A-Za-z0-9][A-Za-z0-9.-]*)\+?$"
)
_EXCEPTION = re.compile(r"^(?:DocumentRef-[A-Za-z0-9.-]+:)?[A-Za-z0-9][A-Za-z0-9.-]*$")
_OPERATORS = {"AND", "OR", "WITH"}


class SpdxError(ValueError):
    """Not a valid (or too large) SPDX license expression."""


@dataclass(frozen=True)
class License:
    id: str
    exception: str | None = None

    def __str__(self) -> str:
        return self.id if self.exception is None else f"{self.id} WITH {self.exception}"


@dataclass(frozen=True)
class AllOf:
    terms: tuple[Expression, ...]

    def __str__(self) -> str:
        return " AND ".join(_wrap(t, AnyOf) for t in self.terms)


@dataclass(frozen=True)
class AnyOf:
    terms: tuple[Expression, ...]

    def __str__(self) -> str:
        return " OR ".join(str(t) for t in self.terms)


Expression = License | AllOf | AnyOf


def _wrap(term: Expression, loose: type) -> str:
    return f"({term})" if isinstance(term, loose) else str(term)


def all_of(terms: Iterable[Expression]) -> Expression:
    """``AND`` of the terms, nested ANDs flattened (one term is itself)."""
    flat: list[Expression] = []
    for t in terms:
        flat.extend(t.terms if isinstance(t, AllOf) else (t,))
    return flat[0] if len(flat) == 1 else AllOf(tuple(flat))


def any_of(terms: Iterable[Expression]) -> Expression:
    flat: list[Expression] = []
    for t in terms:
        flat.extend(t.terms if isinstance(t, AnyOf) else (t,))
    return flat[0] if len(flat) == 1 else AnyOf(tuple(flat))


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0
        self.licenses = 0

    def peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def take(self) -> tuple[int, str]:
        if self.at >= len(self.tokens):
            raise SpdxError("expression ends early")
        token = self.tokens[self.at]
        self.at += 1
        return token

    def operator(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token.upper() == word

    def expression(self, depth: int) -> Expression:
        terms = [self.conjunction(depth)]
        while self.operator("OR"):
            self.take()
            terms.append(self.conjunction(depth))
        return any_of(terms)

    def conjunction(self, depth: int) -> Expression:
        terms = [self.term(depth)]
        while self.operator("AND"):
            self.take()
            terms.append(self.term(depth))
        return all_of(terms)

    def term(self, depth: int) -> Expression:
        pos, token = self.take()
        if token == "(":
            if depth >= MAX_DEPTH:
                raise SpdxError(f"more than {MAX_DEPTH} nested parentheses (at {pos})")
            inner = self.expression(depth + 1)
            pos, close = self.take()
            if close != ")":
                raise SpdxError(f"expected ')' at {pos}, found '{close}'")
            return inner
        if token == ")" or token.upper() in _OPERATORS or not _ID.match(token):
            raise SpdxError(f"expected a license id at {pos}, found '{token}'")
        self.licenses += 1
        if self.licenses > MAX_TERMS:
            raise SpdxError(f"more than {MAX_TERMS} licenses")
        if not self.operator("WITH"):
            return License(token)
        self.take()
        pos, exception = self.take()
        if not _EXCEPTION.match(exception) or exception.upper() in _OPERATORS:
            raise SpdxError(f"expected a license exception id at {pos}, found '{exception}'")
        return License(token, exception)


def _tokens(text: str) -> list[tuple[int, str]]:
    if len(text) > MAX_LENGTH:
        raise SpdxError(f"longer than {MAX_LENGTH} characters")
    tokens: list[tuple[int, str]] = []
    pos, end = 0, len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise SpdxError(f"unexpected character {text[pos:].lstrip()[:1]!r} at {pos}")
        tokens.append((m.start(m.lastindex or 0), m.group(m.lastindex or 0)))
        pos = m.end()
    return tokens


def parse(text: str) -> Expression:
    """The expression ``text``; ``SpdxError`` (with the position) if it is not one."""
    parser = _Parser(text)
    if not parser.tokens:
        raise SpdxError("empty license expression")
    expression = parser.expression(0)
    if parser.at != len(parser.tokens):
        pos, token = parser.tokens[parser.at]
        raise SpdxError(f"unexpected '{token}' at {pos}")
    return expression


def licenses(expression: Expression) -> list[License]:
    """The licenses an expression names, left to right."""
    if isinstance(expression, License):
        return [expression]
    return [lic for t in expression.terms for lic in licenses(t)]


@dataclass(frozen=True)
class LicenseRules:
    """Allow and deny lists of ids (or ``X WITH E``), compared case-insensitively."""

    allow: frozenset[str]
    deny: frozenset[str]

    @classmethod
    def of(cls, allow: Iterable[str], deny: Iterable[str]) -> LicenseRules:
        return cls(frozenset(_norm(a) for a in allow), frozenset(_norm(d) for d in deny))

    def accepts_license(self, lic: License) -> bool:
        written = _norm(str(lic))
        if written in self.deny:
            return False
        if lic.exception is not None and written in self.allow:
            return True
        base = lic.id.upper()
        bases = {base, base[:-1]} if base.endswith("+") else {base}
        if bases & self.deny:
            return False
        return not self.allow or bool(bases & self.allow)

    def choice(self, expression: Expression) -> list[License] | None:
        """The licenses a licensee can take to comply (None when no choice is acceptable)."""
        if isinstance(expression, License):
            return [expression] if self.accepts_license(expression) else None
        if isinstance(expression, AnyOf):
            for term in expression.terms:
                taken = self.choice(term)
                if taken is not None:
                    return taken
            return None
        out: list[License] = []
        for term in expression.terms:
            taken = self.choice(term)
            if taken is None:
                return None
            out += taken
        return out


def _norm(text: str) -> str:
    return " ".join(text.split()).upper()


def check_license_entry(text: str) -> str:
    """A policy's allow/deny entry: an id, or ``id WITH exception``; ``ValueError`` if not."""
    expression = parse(text)
    if not isinstance(expression, License):
        raise SpdxError(f"'{text}' is an expression; list single licenses (or 'X WITH E')")
    return text
