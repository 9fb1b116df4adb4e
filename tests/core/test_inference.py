"""The policy's ``inference`` rules: the section's validation, and the compiled checker.

The checker is held to a plain oracle written here from the documented rules (Hypothesis
draws the rules and the rows, values of every JSON type included), and to constructed
cases: a row built to satisfy the rules passes, and one broken on purpose names the field.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from clearance.core.inference import (
    COLUMNS_FROM,
    MAX_DEPTH,
    MAX_PROBLEMS,
    FieldRule,
    InferenceSpec,
    compile_rules,
)
from clearance.core.loading import parse_policy

NAMES = ["age", "income", "country", "flag", "score", "note"]
EXTRA = ["extra", "other"]
PII = ["ssn", "email"]


# --- the section -------------------------------------------------------------------------


def test_a_policy_carries_the_section() -> None:
    doc = """
apiVersion: clearance/v1
kind: Policy
metadata: {name: scoring, version: 1.0.0, owner: a@b.c}
workflow: {transitions: [{from: draft, to: staging}]}
inference:
  forbidden: [ssn]
  fields:
    age: {type: integer, min: 18, max: 120}
"""
    loaded = parse_policy([("policy.yaml", doc)])
    assert loaded.policy.inference is not None
    assert loaded.policy.inference.fields["age"].max == 120


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"type": "string", "min": 1}, "min/max apply to integer or number fields"),
        ({"type": "integer", "min": 5, "max": 1}, "min 5.0 is above max 1.0"),
        ({"type": "number", "max_length": 3}, "max_length applies to string fields"),
        ({"type": "integer", "allowed": ["a"]}, "allowed value 'a' is not of type integer"),
        ({"type": "text"}, "Input should be 'integer', 'number', 'string' or 'boolean'"),
        ({"type": "number", "maximum": 3}, "Extra inputs are not permitted"),
    ],
)
def test_a_bad_rule_says_what_is_wrong(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        FieldRule.model_validate(rule)
    assert message in str(raised.value)


def test_a_field_both_declared_and_forbidden_is_refused() -> None:
    with pytest.raises(ValidationError, match="ssn both declared and forbidden"):
        InferenceSpec.model_validate({"fields": {"ssn": {"type": "string"}}, "forbidden": ["ssn"]})


# --- constructed cases -------------------------------------------------------------------

SPEC = InferenceSpec.model_validate(
    {
        "max_rows": 3,
        "forbidden": PII,
        "fields": {
            "age": {"type": "integer", "min": 18, "max": 120},
            "income": {"type": "number", "min": 0},
            "country": {"type": "string", "allowed": ["DE", "FR"]},
            "note": {"type": "string", "required": False, "nullable": True, "max_length": 4},
        },
    }
)
RULES = compile_rules(SPEC)
GOOD = {"age": 30, "income": 10.5, "country": "DE"}


@pytest.mark.parametrize(
    ("body", "outcome", "fields"),
    [
        (GOOD, "ok", []),
        ([GOOD, {**GOOD, "note": None}], "ok", []),
        ({"instances": [GOOD, {**GOOD, "age": 30.0}]}, "ok", []),
        ({**GOOD, "age": 17}, "invalid", ["age"]),
        ({**GOOD, "age": 120.5}, "invalid", ["age"]),
        ({**GOOD, "age": True}, "invalid", ["age"]),
        ({**GOOD, "income": float("nan")}, "invalid", ["income"]),
        ({**GOOD, "country": "US"}, "invalid", ["country"]),
        ({**GOOD, "note": "toolong"}, "invalid", ["note"]),
        ({"age": 30}, "invalid", ["country", "income"]),
        ({**GOOD, "ssn": "1", "age": 3}, "forbidden", ["ssn"]),
        ([GOOD, {**GOOD, "email": "x"}, {**GOOD, "age": 1}], "forbidden", ["email"]),
        ([GOOD] * 4, "invalid", []),
        ([], "invalid", []),
        ([1], "invalid", []),
        ("text", "invalid", []),
    ],
)
def test_constructed_bodies(body: Any, outcome: str, fields: list[str]) -> None:
    verdict = RULES.check_body(body)
    assert verdict.outcome == outcome, verdict
    assert sorted(verdict.fields) == fields


def test_problems_name_the_row_and_are_bounded() -> None:
    rows = [{**GOOD, "age": 5}] * 3
    verdict = RULES.check_body(rows)
    assert [(p.row, p.field) for p in verdict.problems] == [(0, "age"), (1, "age"), (2, "age")]
    assert verdict.problems[0].message == "5 is below the minimum 18"
    many = compile_rules(SPEC.model_copy(update={"max_rows": 100})).check_body([{"age": "x"}] * 50)
    assert len(many.problems) == MAX_PROBLEMS and many.more == 50 * 3 - MAX_PROBLEMS


# --- nested fields, the batch envelope, huge numbers -----------------------------------

WIDE = compile_rules(SPEC.model_copy(update={"max_rows": 100}))


@pytest.mark.parametrize(
    ("body", "row", "path"),
    [
        ({"instances": [{"income": 1}], "ssn": "123"}, None, "ssn"),
        (
            {"instances": [GOOD], "parameters": {"user": {"email": "x"}}},
            None,
            "parameters.user.email",
        ),
        ({"instances": [GOOD], "meta": [{"a": 1}, {"ssn": 2}]}, None, "meta[1].ssn"),
        ({**GOOD, "user": {"email": "a@b.c"}}, None, "user.email"),
        ([GOOD, {**GOOD, "user": {"contacts": [{}, {"email": "x"}]}}], 1, "user.contacts[1].email"),
        ([GOOD, [{"ssn": 1}]], 1, "[0].ssn"),  # a row that is no object still says where
        ({"instances": [GOOD] * 9 + [{**GOOD, "extra": {"ssn": 1}}]}, 9, "extra.ssn"),
        ({"instances": [{**GOOD, "age": {"email": 1}}] * 9}, 0, "age.email"),
    ],
)
def test_a_forbidden_name_at_any_depth_is_refused(body: Any, row: int | None, path: str) -> None:
    verdict = WIDE.check_body(body)
    assert verdict.outcome == "forbidden", verdict
    assert (verdict.problems[0].row, verdict.problems[0].field) == (row, path)
    assert all(p.message == "forbidden field" for p in verdict.problems)


def test_the_envelope_is_checked_beside_the_rows() -> None:
    assert WIDE.check_body({"instances": [GOOD], "parameters": {"k": 1}}).outcome == "ok"
    declared = WIDE.check_body({"instances": [GOOD], "age": "old"})  # checked like in a row
    assert [(p.row, p.field, p.message) for p in declared.problems] == [
        (None, "age", "must be an integer")
    ]
    strict = compile_rules(
        SPEC.model_copy(update={"allow_unknown": False, "envelope": ["parameters"]})
    )
    assert (
        strict.check_body({"instances": [GOOD], "parameters": {"k": 1}, "age": 30}).outcome == "ok"
    )
    verdict = strict.check_body({"instances": [GOOD] * 3, "model": "x", "parameters": {}})
    assert [(p.row, p.field, p.message) for p in verdict.problems] == [
        (None, "model", "unknown field")
    ]
    with pytest.raises(ValidationError, match="ssn both an envelope key and forbidden"):
        InferenceSpec.model_validate({"forbidden": ["ssn"], "envelope": ["ssn"]})


def test_nesting_deeper_than_the_bound_is_refused() -> None:
    deep: list[Any] = []
    tip = deep
    for _ in range(MAX_DEPTH + 5):
        tip.append([])
        tip = tip[0]
    verdict = WIDE.check_body({**GOOD, "tensor": deep})
    assert verdict.outcome == "invalid"
    assert verdict.problems[0].message == f"nested deeper than {MAX_DEPTH} levels"
    assert verdict.problems[0].field.startswith("tensor[0][0]")
    tip.append({"ssn": 1})  # a forbidden name past the bound is still refused (422)
    assert WIDE.check_body({"instances": [{**GOOD, "t": deep}]}).outcome == "invalid"
    shallow: list[Any] = [[[1.0, 2.0], [3.0, 4.0]]] * 3  # a tensor is fine
    assert WIDE.check_body({**GOOD, "tensor": shallow}).outcome == "ok"


@pytest.mark.parametrize("rows", [1, COLUMNS_FROM + 2])
@pytest.mark.parametrize("huge", [10**400, -(10**400), 10**4000])
def test_an_integer_too_large_for_a_float_is_422_not_an_error(rows: int, huge: int) -> None:
    body = [GOOD] * (rows - 1) + [{**GOOD, "income": huge}]
    verdict = WIDE.check_body(body)
    assert verdict.outcome == "invalid"
    assert [(p.row, p.field, p.message) for p in verdict.problems] == [
        (rows - 1, "income", "must be a finite number")
    ]
    # an integer field takes it, and a range check does not print it
    big = WIDE.check_body([{**GOOD, "age": huge}] * rows)
    assert big.problems[0].message.startswith("the value is ")


# --- properties --------------------------------------------------------------------------

JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, 1.0, 18.0, 120.0, -0.0]),
    st.text(max_size=6),
    st.sampled_from(["DE", "FR", "a", ""]),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def rules(draw: st.DrawFn) -> InferenceSpec:
    fields: dict[str, dict[str, Any]] = {}
    for name in draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=5)):
        kind = draw(st.sampled_from(["integer", "number", "string", "boolean"]))
        rule: dict[str, Any] = {
            "type": kind,
            "required": draw(st.booleans()),
            "nullable": draw(st.booleans()),
        }
        if kind in ("integer", "number"):
            lo = draw(st.none() | st.integers(-50, 50))
            hi = draw(st.none() | st.integers(-50, 150))
            if lo is not None and hi is not None and lo > hi:
                lo, hi = hi, lo
            rule |= {"min": lo, "max": hi}
            if kind == "integer" and draw(st.booleans()):
                rule["allowed"] = draw(st.lists(st.integers(-5, 20), max_size=4))
        elif kind == "string":
            if draw(st.booleans()):
                rule["allowed"] = draw(st.lists(st.sampled_from(["DE", "FR", "a", ""]), max_size=3))
            rule["max_length"] = draw(st.none() | st.integers(0, 5))
        fields[name] = rule
    return InferenceSpec.model_validate(
        {
            "fields": fields,
            "forbidden": draw(st.lists(st.sampled_from(PII), unique=True)),
            "allow_unknown": draw(st.booleans()),
            "max_rows": 50,
        }
    )


def rows_for(spec: InferenceSpec) -> st.SearchStrategy[list[dict[str, Any]]]:
    keys = [*spec.fields, *spec.forbidden, *EXTRA]
    row = st.dictionaries(st.sampled_from(keys), JSON_VALUES, max_size=len(keys))
    return st.lists(row, min_size=1, max_size=6)


def _typed(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "integer":
        return isinstance(value, int) or (
            isinstance(value, float) and math.isfinite(value) and value == int(value)
        )
    if kind == "number":
        return isinstance(value, int | float) and math.isfinite(value)
    if kind == "string":
        return isinstance(value, str)
    return False


def oracle(spec: InferenceSpec, rows: list[dict[str, Any]]) -> tuple[str, set[tuple[int, str]]]:
    """The documented rules, written out plainly: (outcome, {(row, field)})."""
    forbidden: set[tuple[int, str]] = set()
    invalid: set[tuple[int, str]] = set()
    for i, row in enumerate(rows):
        pii = [name for name in spec.forbidden if name in row]
        if pii:
            forbidden |= {(i, name) for name in pii}
            continue
        for name, rule in spec.fields.items():
            if name not in row:
                if rule.required:
                    invalid.add((i, name))
                continue
            value = row[name]
            if value is None:
                if not rule.nullable:
                    invalid.add((i, name))
                continue
            bad = (
                not _typed(value, rule.type)
                or (rule.min is not None and value < rule.min)
                or (rule.max is not None and value > rule.max)
                or (rule.allowed is not None and value not in rule.allowed)
                or (rule.max_length is not None and len(value) > rule.max_length)
            )
            if bad:
                invalid.add((i, name))
        if not spec.allow_unknown:
            invalid |= {(i, name) for name in row if name not in spec.fields}
    if forbidden:
        return "forbidden", forbidden
    return ("invalid" if invalid else "ok"), invalid


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_checker_agrees_with_the_oracle(data: st.DataObject) -> None:
    spec = data.draw(rules())
    rows = data.draw(rows_for(spec))
    verdict = compile_rules(spec).check_body(rows)
    outcome, named = oracle(spec, rows)
    assert verdict.outcome == outcome
    assert verdict.rows == len(rows)
    assert len(verdict.problems) + verdict.more == len(named)
    assert {(p.row, p.field) for p in verdict.problems} <= named


@st.composite
def valid_row(draw: st.DrawFn, spec: InferenceSpec) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name, rule in spec.fields.items():
        if not rule.required and draw(st.booleans()):
            continue
        if rule.allowed is not None and rule.allowed:
            candidates = [
                v
                for v in rule.allowed
                if (rule.min is None or v >= rule.min)  # type: ignore[operator]
                and (rule.max is None or v <= rule.max)  # type: ignore[operator]
                and (rule.max_length is None or len(str(v)) <= rule.max_length)
            ]
            if candidates:
                row[name] = draw(st.sampled_from(candidates))
                continue
        if rule.nullable:
            row[name] = None
        elif rule.allowed is None and rule.type == "integer":
            lo = int(rule.min) if rule.min is not None else -100
            row[name] = draw(st.integers(lo, int(rule.max) if rule.max is not None else lo + 100))
        elif rule.allowed is None and rule.type == "number":
            low = rule.min if rule.min is not None else -1e6
            high = rule.max if rule.max is not None else low + 1e6
            row[name] = draw(st.floats(low, high))
        elif rule.allowed is None and rule.type == "string":
            row[name] = draw(
                st.text(max_size=rule.max_length if rule.max_length is not None else 8)
            )
        elif rule.type == "boolean":
            row[name] = draw(st.booleans())
        else:
            return draw(st.nothing())  # an allowed set nothing can satisfy: no valid row
    return row


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_valid_row_passes_and_one_broken_field_is_named(data: st.DataObject) -> None:
    spec = data.draw(rules())
    rules_ = compile_rules(spec)
    row = data.draw(valid_row(spec))
    assert rules_.check_body(row).outcome == "ok"
    assert rules_.check_body({spec.batch_key: [row, row]}).outcome == "ok"
    if spec.forbidden:
        pii = data.draw(st.sampled_from(spec.forbidden))
        verdict = rules_.check_body([row, {**row, pii: "x"}])
        assert (verdict.outcome, verdict.fields, verdict.problems[0].row) == ("forbidden", [pii], 1)
    required = [n for n, r in spec.fields.items() if r.required]
    if required:
        name = data.draw(st.sampled_from(required))
        broken = {k: v for k, v in row.items() if k != name}
        verdict = rules_.check_body(broken)
        assert (verdict.outcome, verdict.fields) == ("invalid", [name])


JSON_ANY = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**400, -(10**400), 2**64])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=4)
    | st.sampled_from([*NAMES, *PII, "instances"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from([*NAMES, *PII, *EXTRA, "instances"]) | st.text(max_size=3),
            inner,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), JSON_ANY)
def test_any_json_body_gets_a_verdict(data: st.DataObject, body: Any) -> None:
    spec = data.draw(rules())
    verdict = compile_rules(spec).check_body(body)
    assert verdict.outcome in ("ok", "invalid", "forbidden")
    assert len(verdict.problems) <= MAX_PROBLEMS
    assert all(isinstance(p.field, str) for p in verdict.problems)
    if verdict.outcome == "ok":
        assert not verdict.problems and not _has_key(body, set(spec.forbidden))


def _has_key(value: Any, names: set[str]) -> bool:
    if isinstance(value, dict):
        return bool(names & set(value)) or any(_has_key(v, names) for v in value.values())
    if isinstance(value, list):
        return any(_has_key(v, names) for v in value)
    return False


@st.composite
def hidden(draw: st.DrawFn, name: str) -> tuple[Any, list[Any]]:
    """A JSON value with ``{name: ...}`` placed somewhere inside, and the path to it."""
    depth = draw(st.integers(0, 6))
    value: Any = {name: draw(JSON_ANY)}
    path: list[Any] = [name]
    for _ in range(depth):
        if draw(st.booleans()):
            siblings = draw(st.lists(JSON_ANY, max_size=2))
            at = draw(st.integers(0, len(siblings)))
            value = [*siblings[:at], value, *siblings[at:]]
            path.insert(0, at)
        else:
            key = draw(st.sampled_from(["user", "meta", "x y", "instances"]))
            value = {key: value}
            path.insert(0, key)
    return value, path


def _shown(path: list[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_forbidden_name_anywhere_is_refused_by_its_path(data: st.DataObject) -> None:
    spec = data.draw(rules()).model_copy(update={"forbidden": PII})
    rules_ = compile_rules(spec)
    name = data.draw(st.sampled_from(PII))
    inner, path = data.draw(hidden(name))
    rows = data.draw(st.lists(st.fixed_dictionaries({"age": st.integers(0, 99)}), max_size=12))
    where = data.draw(st.sampled_from(["row", "field", "envelope"]))
    if where == "row":  # the value is a row of a bare list
        at = data.draw(st.integers(0, len(rows)))
        body: Any = [*rows[:at], inner, *rows[at:]]
        row, shown = at, _shown(path)
    elif where == "field":  # the value of a row's field
        rows = rows or [{"age": 1}]
        at = data.draw(st.integers(0, len(rows) - 1))
        rows[at] = {**rows[at], "payload": inner}
        body, row, shown = {"instances": rows}, at, _shown(["payload", *path])
    else:  # an envelope key beside the rows
        body = {"instances": rows or [{"age": 1}], "parameters": inner}
        row, shown = None, _shown(["parameters", *path])
    verdict = rules_.check_body(body)
    if len(rows) + (where == "row") > spec.max_rows:
        assert verdict.outcome == "invalid"
        return
    assert verdict.outcome == "forbidden", (body, verdict)
    assert (row, shown) in {(p.row, p.field) for p in verdict.problems} or verdict.more
