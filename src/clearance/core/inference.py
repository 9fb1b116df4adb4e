"""The ``inference`` section of a policy: what a request to a served model may contain.

Pure: the section's model (validated with the rest of the policy) and ``compile_rules``,
which turns it once into an ``InferenceRules`` that checks parsed JSON bodies fast (plain
Python over dicts: no per-request model building). The ASGI middleware
(``clearance.serving.middleware``) reads the body, asks ``check_body`` and answers 422 for
invalid rows, 403 for forbidden fields (e.g. PII), 413 for a body that is too large.

A body is one row (a JSON object), a list of rows, or an object holding the list under
``batch_key`` (``{"instances": [...]}``, the envelope). A row is a JSON object of field →
value. Forbidden names are looked for at every depth, in the rows and in the envelope's
other keys (a problem names the path, ``user.contacts[0].email``, never the value); nesting
deeper than ``MAX_DEPTH`` is refused. The envelope's other keys are checked too: a declared
field there is checked like in a row, and with ``allow_unknown: false`` only declared
fields and the ``envelope`` keys may stand beside ``batch_key``.

    inference:
      max_rows: 1000
      max_body_bytes: 1048576
      forbidden: [ssn, email, phone]
      fields:
        age: {type: integer, min: 18, max: 120}
        income: {type: number, min: 0}
        country: {type: string, allowed: [DE, FR, NL]}
        segment: {type: string, required: false, max_length: 32}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from operator import methodcaller
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FieldType = Literal["integer", "number", "string", "boolean"]
Outcome = Literal["ok", "invalid", "forbidden"]
MAX_FIELDS = 1000  # fields one section may declare
MAX_ALLOWED = 10_000  # values one allowed set may list
MAX_PROBLEMS = 20  # problems one answer reports (the rest are counted)
COLUMNS_FROM = 8  # rows from which a column at a time beats a row at a time
MAX_DEPTH = 64  # nesting (objects and lists) below a row or an envelope key
MAX_LABEL = 200  # characters of a request's key shown in a field path
NAME = r"^[^\x00-\x1f]{1,200}$"
FieldName = Annotated[str, Field(pattern=NAME)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class FieldRule(_Strict):
    """One input field: its JSON type, whether it must be present, its range or its set."""

    type: FieldType
    required: bool = True
    nullable: bool = Field(default=False, description="null is accepted (and not checked).")
    min: float | None = Field(default=None, description="Inclusive lower bound (numbers).")
    max: float | None = Field(default=None, description="Inclusive upper bound (numbers).")
    allowed: list[str | int | float | bool] | None = Field(
        default=None, max_length=MAX_ALLOWED, description="The only values accepted."
    )
    max_length: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="Longest string accepted, in characters."
    )

    @model_validator(mode="after")
    def _coherent(self) -> FieldRule:
        numeric = self.type in ("integer", "number")
        if (self.min is not None or self.max is not None) and not numeric:
            raise ValueError(f"min/max apply to integer or number fields, not {self.type}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        if self.max_length is not None and self.type != "string":
            raise ValueError(f"max_length applies to string fields, not {self.type}")
        for value in self.allowed or ():
            if not _is_type(value, self.type):
                raise ValueError(f"allowed value {value!r} is not of type {self.type}")
        return self


class InferenceSpec(_Strict):
    """What a request to a model this policy governs may contain."""

    fields: dict[FieldName, FieldRule] = Field(default_factory=dict, max_length=MAX_FIELDS)
    forbidden: list[FieldName] = Field(
        default_factory=list,
        max_length=MAX_FIELDS,
        description="Fields no request may carry (e.g. PII): 403.",
    )
    allow_unknown: bool = Field(default=True, description="Fields not declared are accepted.")
    max_rows: Annotated[int, Field(ge=1, le=10_000_000)] = 1000
    max_body_bytes: Annotated[int, Field(ge=1, le=1 << 30)] = 1 << 20
    batch_key: FieldName = Field(
        default="instances", description="A batch body holds its rows under this key."
    )
    envelope: list[FieldName] = Field(
        default_factory=list,
        max_length=MAX_FIELDS,
        description="Keys a batch body may carry beside batch_key when allow_unknown is false.",
    )

    @model_validator(mode="after")
    def _disjoint(self) -> InferenceSpec:
        both = sorted(set(self.fields) & set(self.forbidden))
        if both:
            raise ValueError(f"{', '.join(both)} both declared and forbidden")
        both = sorted(set(self.envelope) & set(self.forbidden))
        if both:
            raise ValueError(f"{', '.join(both)} both an envelope key and forbidden")
        return self


def _is_type(value: Any, kind: FieldType) -> bool:
    t = type(value)
    if kind == "integer":
        return t is int or (t is float and value.is_integer())
    if kind == "number":
        try:
            return (t is int or t is float) and math.isfinite(value)
        except OverflowError:  # an integer too large for a float is no finite number here
            return False
    if kind == "string":
        return t is str
    return t is bool


@dataclass(frozen=True, slots=True)
class FieldProblem:
    row: int | None  # None: the body itself
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


@dataclass(frozen=True, slots=True)
class BodyVerdict:
    outcome: Outcome
    rows: int
    problems: tuple[FieldProblem, ...]
    more: int = 0  # problems beyond those listed

    @property
    def fields(self) -> list[str]:
        """The field names the problems name, each once, in order."""
        return list(dict.fromkeys(p.field for p in self.problems if p.field))


# A compiled field: (name, kind, required, nullable, lo, hi, allowed, max_length)
_Compiled = tuple[
    str, FieldType, bool, bool, float | None, float | None, frozenset[Any] | None, int | None
]


@dataclass(frozen=True)
class InferenceRules:
    """An ``InferenceSpec`` compiled for fast checks (``compile_rules``)."""

    spec: InferenceSpec
    compiled: tuple[_Compiled, ...]
    by_name: Mapping[str, _Compiled]
    required: frozenset[str]
    forbidden: frozenset[str]
    declared: frozenset[str]

    def check_row(self, row: Any, index: int | None, out: list[FieldProblem]) -> bool:
        """Append the row's problems to ``out``; False when it carries a forbidden field."""
        if type(row) is not dict:
            found: list[FieldProblem] = []
            self._walk(row, (), index, found)
            if _any_forbidden(found):
                out.extend(p for p in found if p.message == FORBIDDEN)
                return False
            out.append(FieldProblem(index, "", "a row must be a JSON object"))
            return True
        if not self.forbidden.isdisjoint(row):
            for name in sorted(self.forbidden.intersection(row)):
                out.append(FieldProblem(index, _label(name), FORBIDDEN))
            return False
        if not _FLAT.issuperset(map(type, row.values())):
            found = []
            for name, value in row.items():
                if type(value) is dict or type(value) is list:
                    self._walk(value, (name,), index, found)
            if _any_forbidden(found):
                out.extend(p for p in found if p.message == FORBIDDEN)
                return False
            out.extend(found)  # nesting too deep
        if not self.required.issubset(row):
            for name in sorted(self.required.difference(row)):
                out.append(FieldProblem(index, name, "required field missing"))
        if not self.spec.allow_unknown and not self.declared.issuperset(row):
            for name in sorted(set(row) - self.declared):
                out.append(FieldProblem(index, _label(name), "unknown field"))
        by_name = self.by_name
        for name, value in row.items():
            rule = by_name.get(name)
            if rule is not None:
                message = _value_problem(rule, value)
                if message is not None:
                    out.append(FieldProblem(index, name, message))
        return True

    def _walk(
        self, value: Any, path: tuple[Any, ...], index: int | None, out: list[FieldProblem]
    ) -> None:
        """Append a problem for each forbidden key at any depth below ``value`` (found at
        ``path``), and one for nesting deeper than ``MAX_DEPTH``. Iterative: a deep body
        cannot exhaust the stack; a scalar list (a tensor) is passed over in C."""
        forbidden = self.forbidden
        stack: list[tuple[Any, tuple[Any, ...]]] = [(value, path)]
        base = len(path)
        while stack:
            node, at = stack.pop()
            if len(at) - base >= MAX_DEPTH:
                out.append(FieldProblem(index, _path(at), f"nested deeper than {MAX_DEPTH} levels"))
                continue
            if type(node) is dict:
                if not forbidden.isdisjoint(node):
                    for name in sorted(forbidden.intersection(node)):
                        out.append(FieldProblem(index, _path((*at, name)), FORBIDDEN))
                if not _FLAT.issuperset(map(type, node.values())):
                    for key, item in reversed(node.items()):  # popped in document order
                        if type(item) is dict or type(item) is list:
                            stack.append((item, (*at, key)))
            elif type(node) is list and not _FLAT.issuperset(map(type, node)):
                for i in range(len(node) - 1, -1, -1):
                    item = node[i]
                    if type(item) is dict or type(item) is list:
                        stack.append((item, (*at, i)))

    def _envelope(self, body: dict[str, Any], out: list[FieldProblem]) -> None:
        """The batch body's keys beside ``batch_key``: forbidden at any depth, a declared
        field checked like in a row, and (``allow_unknown: false``) nothing else."""
        batch_key = self.spec.batch_key
        strict = not self.spec.allow_unknown
        envelope = frozenset(self.spec.envelope)
        for name, value in body.items():
            if name == batch_key:
                continue
            if name in self.forbidden:
                out.append(FieldProblem(None, _label(name), FORBIDDEN))
                continue
            if type(value) is dict or type(value) is list:
                self._walk(value, (name,), None, out)
            rule = self.by_name.get(name)
            if rule is not None:
                message = _value_problem(rule, value)
                if message is not None:
                    out.append(FieldProblem(None, name, message))
            elif strict and name not in envelope:
                out.append(FieldProblem(None, _label(name), "unknown field"))

    def _columns_pass(self, rows: list[Any]) -> bool:
        """The fast path: True only when every row passes, judged a column at a time with
        loops that run inside the interpreter's C code (``map``, ``set``, ``min``/``max``).
        False means "look row by row" (``check_row`` then says exactly what is wrong)."""
        if set(map(type, rows)) != {dict}:
            return False
        keys: set[str] = set().union(*rows)
        if not self.forbidden.isdisjoint(keys):
            return False
        if not self.declared.issuperset(keys):
            if not self.spec.allow_unknown:
                return False
            # an undeclared field holding an object or a list: row by row, which walks it
            # (a declared field holding one fails its column's type check below)
            for name in keys - self.declared:
                if not _FLAT.issuperset(map(type, map(methodcaller("get", name), rows))):
                    return False
        for rule in self.compiled:
            name, kind, required, nullable, lo, hi, allowed, max_length = rule
            column = list(map(methodcaller("get", name, _ABSENT), rows))
            kinds = set(map(type, column))
            if _AbsentType in kinds or type(None) in kinds:
                if (_AbsentType in kinds and required) or (type(None) in kinds and not nullable):
                    return False
                column = [v for v in column if v is not None and v is not _ABSENT]
                kinds.discard(_AbsentType)
                kinds.discard(type(None))
                if not column:
                    continue
            if not kinds <= _FAST_KINDS[kind]:
                return False
            if kind == "number":
                try:
                    if not all(map(math.isfinite, column)):
                        return False
                except OverflowError:  # an integer too large for a float
                    return False
            if (lo is not None and min(column) < lo) or (hi is not None and max(column) > hi):
                return False
            if allowed is not None and not allowed.issuperset(column):
                return False
            if max_length is not None and max(map(len, column)) > max_length:
                return False
        return True

    def check_body(self, body: Any) -> BodyVerdict:
        """Check a parsed JSON body (one row, a list, or ``{batch_key: [...]}``)."""
        rows: Any
        single = False
        out: list[FieldProblem] = []
        if type(body) is list:
            rows = body
        elif type(body) is dict and type(body.get(self.spec.batch_key)) is list:
            rows = body[self.spec.batch_key]
            if len(body) > 1:
                self._envelope(body, out)
        elif type(body) is dict:
            rows, single = [body], True
        else:
            problem = FieldProblem(None, "", "the body must be a JSON object or a list of them")
            return BodyVerdict("invalid", 0, (problem,))
        if len(rows) > self.spec.max_rows:
            problem = FieldProblem(
                None, "", f"{len(rows)} rows; at most {self.spec.max_rows} per request"
            )
            return BodyVerdict("invalid", len(rows), (problem,))
        if not rows:
            return BodyVerdict("invalid", 0, (FieldProblem(None, "", "no rows"),))
        if not out and len(rows) >= COLUMNS_FROM and self._columns_pass(rows):
            return BodyVerdict("ok", len(rows), ())
        forbidden = _any_forbidden(out)
        for i, row in enumerate(rows):
            if not self.check_row(row, None if single else i, out):
                forbidden = True
        if forbidden:
            out = [p for p in out if p.message == FORBIDDEN]
            outcome: Outcome = "forbidden"
        else:
            outcome = "invalid" if out else "ok"
        listed = tuple(out[:MAX_PROBLEMS])
        return BodyVerdict(outcome, len(rows), listed, len(out) - len(listed))


class _AbsentType:
    """A field a row does not carry (``None`` is a value: JSON null)."""


_ABSENT = _AbsentType()
FORBIDDEN = "forbidden field"
# The value types of a flat row: no object or list below it to walk for forbidden names.
_FLAT = frozenset({str, int, float, bool, type(None)})


def _any_forbidden(problems: list[FieldProblem]) -> bool:
    return any(p.message == FORBIDDEN for p in problems)


def _label(key: Any) -> str:
    """A request's key as a problem shows it: at most ``MAX_LABEL`` characters."""
    text = str(key)
    return text if len(text) <= MAX_LABEL else text[:MAX_LABEL] + "…"


def _path(parts: tuple[Any, ...]) -> str:
    """``("user", "contacts", 0, "email")`` → ``user.contacts[0].email``."""
    text = ""
    for part in parts:
        if type(part) is int:
            text += f"[{part}]"
        else:
            text += f".{_label(part)}" if text else _label(part)
    return text


def _shown(value: Any) -> str:
    """A number in a message; an integer past 64 bits is not printed (nor converted)."""
    if type(value) is int and value.bit_length() > 64:
        return "the value"
    return f"{value}"


# The value types the fast path accepts per field type (anything else: row by row, where an
# integral float is an integer and a NaN or infinity is no number).
_FAST_KINDS: dict[str, frozenset[type]] = {
    "integer": frozenset({int}),
    "number": frozenset({int, float}),
    "string": frozenset({str}),
    "boolean": frozenset({bool}),
}


def _value_problem(rule: _Compiled, value: Any) -> str | None:
    _, kind, _, nullable, lo, hi, allowed, max_length = rule
    if value is None:
        return None if nullable else "must not be null"
    if not _is_type(value, kind):
        if kind == "number" and type(value) in (int, float):
            return "must be a finite number"  # NaN, an infinity, an integer past a float
        return f"must be {'an' if kind == 'integer' else 'a'} {kind}"
    if lo is not None and value < lo:
        return f"{_shown(value)} is below the minimum {lo:g}"
    if hi is not None and value > hi:
        return f"{_shown(value)} is above the maximum {hi:g}"
    if allowed is not None and value not in allowed:
        return "not one of the allowed values"
    if max_length is not None and len(value) > max_length:
        return f"longer than {max_length} characters"
    return None


def compile_rules(spec: InferenceSpec) -> InferenceRules:
    """The section compiled once: per field a tuple, sets for the presence checks."""
    compiled = tuple(
        (
            name,
            rule.type,
            rule.required,
            rule.nullable,
            rule.min,
            rule.max,
            # True == 1 in a set: a boolean set holds only booleans, others none
            frozenset(rule.allowed) if rule.allowed is not None else None,
            rule.max_length,
        )
        for name, rule in spec.fields.items()
    )
    return InferenceRules(
        spec=spec,
        compiled=compiled,
        by_name={c[0]: c for c in compiled},
        required=frozenset(c[0] for c in compiled if c[2]),
        forbidden=frozenset(spec.forbidden),
        declared=frozenset(spec.fields),
    )
