"""Audit subjects: one spelling, built and read back by ``core.subjects`` alone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearance.core import subjects
from clearance.core.names import name_problem

# names as core.names allows them (no '/', no whitespace), ':' and '@' included on purpose
names = st.text(
    alphabet=st.characters(categories=("L", "N", "P", "S"), exclude_characters="/", codec="utf-8"),
    min_size=1,
    max_size=20,
).filter(lambda n: name_problem(n) is None)
ids = st.integers(min_value=1, max_value=10**9)
free_text = st.text(min_size=1, max_size=30)  # an evidence name: anything, '/' included
semver = st.from_regex(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(\+[a-z0-9.]{1,5})?", fullmatch=True)
policy_names = st.from_regex(r"[a-z][a-z0-9_\-]{0,15}", fullmatch=True)

BUILT = st.one_of(
    names.map(lambda n: (subjects.user(n), [("user", n)])),
    ids.map(lambda i: (subjects.token(i), [("token", str(i))])),
    names.map(lambda n: (subjects.model(n), [("model", n)])),
    st.tuples(names, names).map(
        lambda t: (subjects.version(*t), [("model", t[0]), ("version", t[1])])
    ),
    st.tuples(names, names, free_text).map(
        lambda t: (
            subjects.evidence(*t),
            [("model", t[0]), ("version", t[1]), ("evidence", t[2])],
        )
    ),
    st.tuples(policy_names, semver).map(
        lambda t: (subjects.policy(*t), [("policy", f"{t[0]}@{t[1]}")])
    ),
    ids.map(lambda i: (subjects.request(i), [("request", str(i))])),
    st.tuples(ids, ids).map(
        lambda t: (subjects.approval(*t), [("request", str(t[0])), ("approval", str(t[1]))])
    ),
    ids.map(lambda i: (subjects.decision(i), [("decision", str(i))])),
    ids.map(lambda i: (subjects.rollout(i), [("rollout", str(i))])),
    ids.map(lambda i: (subjects.waiver(f"W-{i}"), [("waiver", f"W-{i}")])),
)


@given(BUILT)
def test_what_is_built_parses_back_to_its_parts_and_its_text(
    built: tuple[str, list[tuple[str, str]]],
) -> None:
    text, steps = built
    parsed = subjects.parse(text)
    assert list(parsed.steps) == steps
    assert str(parsed) == text
    assert (parsed.kind, parsed.key) == steps[-1]


@given(names, names, free_text)
def test_a_child_of_a_parsed_subject_is_the_subject_built_directly(
    model: str, version: str, evidence: str
) -> None:
    parent = subjects.parse(subjects.version(model, version))
    assert parent.key_of("model") == model
    assert parent.child("evidence", evidence) == subjects.evidence(model, version, evidence)


def test_the_spelling_the_chain_already_holds_is_kept() -> None:
    """Older events were written with these texts: a new spelling would orphan them."""
    assert subjects.user("alice") == "user:alice"
    assert subjects.model("credit") == "model:credit"
    assert subjects.version("credit", "7") == "model:credit/version:7"
    assert subjects.evidence("credit", "7", "card") == "model:credit/version:7/evidence:card"
    assert subjects.policy("credit-risk", "1.2.0") == "policy:credit-risk@1.2.0"
    assert subjects.request(12) == "request:12"
    assert subjects.approval(12, 2) == "request:12/approval:2"
    assert subjects.decision(5) == "decision:5"
    assert subjects.rollout(4) == "rollout:4"
    assert subjects.waiver("W-3") == "waiver:W-3"
    assert subjects.token(9) == "token:9"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "alice",
        "user:",
        "nobody:alice",
        "version:7",  # a version stands under a model
        "model:credit/evidence:card",  # evidence stands under a version
        "model:credit/",
        "request:1/approval:",
    ],
)
def test_a_text_this_module_would_not_build_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="audit subject"):
        subjects.parse(text)


def test_a_parent_key_with_a_slash_is_refused_when_built() -> None:
    with pytest.raises(ValueError, match="holds '/'"):
        subjects.version("a/b", "1")
