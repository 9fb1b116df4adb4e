"""The SPDX expression parser (``clearance.core.spdx``): printed expressions parse back to
themselves, precedence and case follow the SPDX specification, evaluation is the boolean
reading of OR (choice) and AND (all), and any text either parses or raises ``SpdxError``,
within its bounds."""

from __future__ import annotations

import contextlib
import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.core.spdx import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_TERMS,
    AllOf,
    AnyOf,
    Expression,
    License,
    LicenseRules,
    SpdxError,
    all_of,
    any_of,
    licenses,
    parse,
)

IDS = ["MIT", "Apache-2.0", "BSD-3-Clause", "GPL-2.0-only", "LGPL-2.1+", "LicenseRef-acme-1"]
EXCEPTIONS = ["Classpath-exception-2.0", "LLVM-exception"]

leaf = st.builds(License, st.sampled_from(IDS), st.none() | st.sampled_from(EXCEPTIONS))
expressions: st.SearchStrategy[Expression] = st.recursive(
    leaf,
    lambda kids: (
        st.builds(all_of, st.lists(kids, min_size=2, max_size=3))
        | st.builds(any_of, st.lists(kids, min_size=2, max_size=3))
    ),
    max_leaves=12,
)


def printed(e: Expression, rng: st.DataObject) -> str:
    """``e`` as text with random case for operators, random spacing and extra parentheses."""
    op = lambda word: rng.draw(st.sampled_from([word, word.lower(), word.title()]))  # noqa: E731
    space = lambda: rng.draw(st.sampled_from([" ", "  ", "\t", " \n "]))  # noqa: E731
    if isinstance(e, License):
        text = e.id if e.exception is None else f"{e.id}{space()}{op('WITH')}{space()}{e.exception}"
    else:
        word = "AND" if isinstance(e, AllOf) else "OR"
        parts = [printed(t, rng) for t in e.terms]
        parts = [
            f"({p})" if isinstance(t, AnyOf) or rng.draw(st.booleans()) else p
            for t, p in zip(e.terms, parts, strict=True)
        ]
        text = f"{space()}{op(word)}{space()}".join(parts)
    return f"({text})" if rng.draw(st.integers(0, 4)) == 0 else text


@settings(max_examples=400, deadline=None)
@given(expression=expressions, rng=st.data())
def test_printed_expressions_parse_back(expression: Expression, rng: st.DataObject) -> None:
    assert parse(printed(expression, rng)) == expression
    assert parse(str(expression)) == expression


def truth(e: Expression, good: set[str]) -> bool:
    """Brute force: OR is a choice, AND binds to all; a license is good if listed."""
    if isinstance(e, License):
        return str(e).upper() in good or (e.exception is not None and e.id.upper() in good)
    parts = [truth(t, good) for t in e.terms]
    return all(parts) if isinstance(e, AllOf) else any(parts)


@settings(max_examples=400, deadline=None)
@given(expression=expressions, allowed=st.sets(st.sampled_from(IDS), min_size=1))
def test_evaluation_is_the_boolean_reading(expression: Expression, allowed: set[str]) -> None:
    rules = LicenseRules.of(allowed, [])
    good = {a.upper() for a in allowed} | {a.upper() + "+" for a in allowed}
    choice = rules.choice(expression)
    assert (choice is not None) == truth(expression, good)
    if choice is not None:
        assert all(rules.accepts_license(lic) for lic in choice)
        assert set(map(str, choice)) <= set(map(str, licenses(expression)))


@settings(max_examples=1000, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("()+: \tANDORWITHmit-.0123LicenseRef")), max_size=80)
    | st.text(max_size=80)
)
def test_any_text_parses_or_raises_spdx_error(text: str) -> None:
    with contextlib.suppress(SpdxError):
        parse(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "MIT OR Apache-2.0 AND BSD-3-Clause",
            AnyOf((License("MIT"), AllOf((License("Apache-2.0"), License("BSD-3-Clause"))))),
        ),
        (
            "(MIT OR Apache-2.0) AND BSD-3-Clause",
            AllOf((AnyOf((License("MIT"), License("Apache-2.0"))), License("BSD-3-Clause"))),
        ),
        (
            "GPL-2.0-only WITH Classpath-exception-2.0 OR MIT",
            AnyOf((License("GPL-2.0-only", "Classpath-exception-2.0"), License("MIT"))),
        ),
        ("mit or apache-2.0", AnyOf((License("mit"), License("apache-2.0")))),
        (
            "DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2",
            License("DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2"),
        ),
        ("LGPL-2.1+", License("LGPL-2.1+")),
    ],
)
def test_precedence_and_forms(text: str, expected: Expression) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("MIT OR", "ends early"),
        ("(MIT", "ends early"),
        ("MIT)", "unexpected ')'"),
        ("(MIT) WITH Classpath-exception-2.0", "unexpected 'WITH'"),
        ("MIT AND AND Apache-2.0", "expected a license id"),
        ("MIT WITH", "ends early"),
        ("MIT/Apache-2.0", "unexpected character '/'"),
        ("(" * (MAX_DEPTH + 1) + "MIT" + ")" * (MAX_DEPTH + 1), "nested parentheses"),
        (" OR ".join(["MIT"] * (MAX_TERMS + 1)), f"more than {MAX_TERMS} licenses"),
        ("MIT " * MAX_LENGTH, f"longer than {MAX_LENGTH}"),
    ],
)
def test_errors_say_what_and_where(text: str, message: str) -> None:
    with pytest.raises(SpdxError, match=re.escape(message)):
        parse(text)


def test_rules_for_exceptions_and_or_later() -> None:
    gpl_cp = parse("GPL-2.0-only WITH Classpath-exception-2.0")
    assert LicenseRules.of(["GPL-2.0-only WITH Classpath-exception-2.0"], []).choice(gpl_cp)
    assert not LicenseRules.of(["MIT"], ["GPL-2.0-only"]).choice(gpl_cp)
    assert LicenseRules.of(["GPL-2.0-only"], []).choice(gpl_cp)  # an exception adds permissions
    assert not LicenseRules.of([], ["gpl-2.0-only with classpath-exception-2.0"]).choice(gpl_cp)
    assert LicenseRules.of(["LGPL-2.1"], []).choice(parse("LGPL-2.1+"))
    assert not LicenseRules.of([], ["LGPL-2.1"]).choice(parse("LGPL-2.1+"))
    assert LicenseRules.of([], ["GPL-3.0-only"]).choice(parse("MIT AND Apache-2.0"))


def test_deny_only_rules_and_choices() -> None:
    rules = LicenseRules.of([], ["GPL-3.0-only"])
    chosen = rules.choice(parse("GPL-3.0-only OR MIT"))
    assert chosen == [License("MIT")]
    assert rules.choice(parse("GPL-3.0-only AND MIT")) is None
    for a, b in itertools.permutations(["MIT", "Apache-2.0"]):
        assert LicenseRules.of([a], []).choice(parse(f"{a} OR {b}")) == [License(a)]
