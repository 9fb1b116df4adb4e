"""Who may do what, enforced in the use cases (so the CLI and the API share it); API tokens.

The matrix runs every mutating model use case as a user holding each single role (and one
holding none), once under the default roles and once under a policy whose ``access`` section
overrides some of them. The expected roles are written out here, not computed with the code
under test. A refusal is ``NotPermitted``, names the roles that would do, and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from clearance.core.access import MODEL_ACTIONS, MODEL_DEFAULTS, ModelAction, check, model_roles
from clearance.core.policy import Access
from clearance.errors import ClearanceError, InputError, NotFound, NotPermitted, Unauthenticated
from clearance.service.access import TOKEN_PREFIX

if TYPE_CHECKING:
    from conftest import Env

MODEL = "credit-default"  # the service conftest's model

ROLES = [
    "ml_engineer",
    "model_owner",
    "mlops_oncall",
    "risk_officer",
    "tech_lead",
    "compliance_officer",
    "data_scientist",
    "admin",
    "policy_admin",
    "auditor",
]
ACTORS = {f"as_{role}": [role] for role in ROLES} | {"nobody": []}
DEFAULT: dict[str, tuple[str, ...]] = {
    "register": ("ml_engineer", "model_owner"),
    "request": ("ml_engineer", "model_owner"),
    "rollback": ("mlops_oncall", "model_owner"),
    "rollout": ("ml_engineer", "mlops_oncall", "model_owner"),
    "review": ("model_owner", "risk_officer", "mlops_oncall"),
}
OVERRIDE = {  # review is left out: it keeps its default roles
    "register": ["data_scientist", "ml_engineer"],
    "request": ["data_scientist"],
    "rollback": ["risk_officer", "mlops_oncall"],
    "rollout": ["mlops_oncall"],
}
EXPECTED = {
    "default": DEFAULT,
    "override": {**DEFAULT, **{k: tuple(v) for k, v in OVERRIDE.items()}},
}


@dataclass
class Matrix:
    """A model with two production versions (v1 deprecated, v2 serving), v3 pending for
    production, and one user per role; ``root`` holds every role, for the setup only."""

    env: Env
    pending: int

    def deprecated_one(self) -> str:
        return "1" if self.env.stage_of("1") == "deprecated" else "2"


@pytest.fixture(params=["default", "override"])
def matrix(env: Env, request: pytest.FixtureRequest) -> tuple[Matrix, str]:
    registry = env.ws.registry
    for name, roles in {**ACTORS, "root": ROLES}.items():
        registry.add_user(name, roles, actor="admin", operator=True)
    env.to_production("1")
    env.to_production("2")
    env.to_staging("3")
    pending = env.ws.promotions.promote(MODEL, "3", "production", actor="alice").request
    assert pending.status == "pending"
    if request.param == "override":
        doc = env.policy(version="1.1.0")
        doc["access"] = OVERRIDE
        env.apply(doc)
    return Matrix(env, pending.id), request.param


# One attempt per use case: ``prepare`` (run as root, before counting) and ``act``. Where an
# authorized attempt cannot succeed without a long setup, it must fail with the error that
# comes after the role check (``after``): the role check is the use case's first decision.
Attempt = Callable[[Matrix, str, int], Any]


@dataclass(frozen=True)
class UseCase:
    action: ModelAction
    act: Attempt
    prepare: Callable[[Matrix, int], None] = lambda m, i: None
    after: str | None = None


def _register(m: Matrix, actor: str, i: int) -> Any:
    return m.env.ws.registry.register(m.env.manifest(f"10{i}"), actor=actor)


def _attach(m: Matrix, actor: str, i: int) -> Any:
    card = m.env.card(f"note{i}.md", f"note {i}\n")
    return m.env.ws.registry.attach(MODEL, "1", f"note_{i}", path=card, actor=actor)


def _prepare_draft(m: Matrix, i: int) -> None:
    m.env.ws.registry.register(m.env.manifest(f"20{i}"), actor="root")


def _promote(m: Matrix, actor: str, i: int) -> Any:
    result = m.env.ws.promotions.promote(MODEL, f"20{i}", "staging", actor=actor)
    assert result.executed, result.decision.summary
    return result


def _reevaluate(m: Matrix, actor: str, i: int) -> Any:
    return m.env.ws.promotions.reevaluate(m.pending, actor=actor)


def _rollback(m: Matrix, actor: str, i: int) -> Any:
    target = m.deprecated_one()
    restored = m.env.ws.promotions.rollback(
        MODEL, actor=actor, reason=f"incident {i}", to_version=target
    ).restored
    assert restored.version == target
    return restored


def _rollout_start(m: Matrix, actor: str, i: int) -> Any:
    return m.env.ws.rollouts.start(MODEL, "3", actor=actor)


def _rollout_observe(m: Matrix, actor: str, i: int) -> Any:
    return m.env.ws.rollouts.observe(MODEL, {"error_rate": (0.01, None)}, actor=actor)


def _review(m: Matrix, actor: str, i: int) -> Any:
    return m.env.ws.governance.record_review(m.pending, summary="s", actions=[], actor=actor)


USE_CASES = {
    "register": UseCase("register", _register),
    "attach": UseCase("register", _attach),
    "promote": UseCase("request", _promote, _prepare_draft),
    "reevaluate": UseCase("request", _reevaluate),
    "rollback": UseCase("rollback", _rollback),
    "rollout start": UseCase("rollout", _rollout_start, after="no approved promotion"),
    "rollout observe": UseCase("rollout", _rollout_observe, after="no running rollout"),
    "review": UseCase("review", _review, after="not an executed emergency change"),
}


def test_every_model_use_case_admits_exactly_the_roles_the_policy_grants(
    matrix: tuple[Matrix, str],
) -> None:
    """One workspace per access mode and database, every use case by every role in it."""
    m, mode = matrix
    admitted: dict[str, list[str]] = {}
    for name, case in USE_CASES.items():
        allowed = EXPECTED[mode][case.action]
        admitted[name] = []
        for i, (actor, held) in enumerate(ACTORS.items()):
            case.prepare(m, i)
            before_events, before = m.env.event_count(), m.env.state()
            try:
                case.act(m, actor, i)
            except NotPermitted as exc:
                message = str(exc)
                assert message.endswith(f"that needs one of: {', '.join(allowed)}"), message
                assert message.startswith(f"{actor} holds {', '.join(held) or 'no roles'} and ")
                assert f"on model {MODEL}" in message
                assert m.env.event_count() == before_events, f"{name} as {actor} wrote events"
                assert m.env.state() == before, f"{name} as {actor} changed state"
                continue
            except ClearanceError as exc:
                assert case.after is not None and case.after in str(exc), f"{name}, {actor}: {exc}"
            admitted[name].append(held[0] if held else "")
    expected = {
        name: [r for r in ROLES if r in EXPECTED[mode][case.action]]
        for name, case in USE_CASES.items()
    }
    assert admitted == expected, f"under {mode} access"


def test_the_policy_access_applies_only_to_the_models_it_governs(env: Env) -> None:
    """A model no policy governs keeps the default roles, whatever other policies say."""
    registry = env.ws.registry
    registry.add_user("dana", ["data_scientist"], actor="admin", operator=True)
    doc = env.policy(version="1.1.0")
    doc["access"] = {"register": ["data_scientist"]}
    env.apply(doc)
    governed, ungoverned = env.manifest("1"), env.manifest("1", model="churn", risk_tier="low")
    with pytest.raises(NotPermitted, match="alice holds ml_engineer and may not register"):
        registry.register(governed, actor="alice")
    registry.register(governed, actor="dana")
    with pytest.raises(NotPermitted, match="that needs one of: ml_engineer, model_owner"):
        registry.register(ungoverned, actor="dana")
    registry.register(ungoverned, actor="alice")


def test_an_empty_role_list_means_nobody_may(env: Env) -> None:
    env.to_production("1")
    env.to_production("2")
    doc = env.policy(version="1.1.0")
    doc["access"] = {"rollback": []}
    env.apply(doc)
    with pytest.raises(NotPermitted, match=r"that needs one of: no role \(nobody may\)"):
        env.ws.promotions.rollback(MODEL, actor="frank", reason="incident")
    assert env.stage_of("2") == "production"


# server actions ----------------------------------------------------------------------------
SERVER: dict[str, tuple[tuple[str, ...], Callable[[Env, str, int], Any]]] = {
    "apply policy": (
        ("admin", "policy_admin"),
        lambda e, a, i: e.apply(e.policy(version=f"2.{i}.0"), actor=a),
    ),
    "checkpoint": (("admin", "auditor"), lambda e, a, i: e.ws.auditing.checkpoint(actor=a)),
    "add user": (
        ("admin",),
        lambda e, a, i: e.ws.registry.add_user(f"new{i}", ["tech_lead"], actor=a),
    ),
    "set roles": (
        ("admin",),
        lambda e, a, i: e.ws.registry.set_roles("bob", ["tech_lead", f"r{i}"], actor=a),
    ),
    "token for another user": (
        ("admin",),
        lambda e, a, i: e.ws.tokens.create("bob", actor=a),
    ),
}


@pytest.mark.parametrize("name", list(SERVER))
def test_server_actions_need_their_server_roles(env: Env, name: str) -> None:
    allowed, act = SERVER[name]
    for actor, roles in ACTORS.items():
        env.ws.registry.add_user(actor, roles, actor="admin", operator=True)
    admitted = []
    for i, (actor, held) in enumerate(ACTORS.items()):
        before = env.event_count()
        try:
            act(env, actor, i)
        except NotPermitted as exc:
            assert str(exc).endswith(f"that needs one of: {', '.join(allowed)}"), str(exc)
            assert env.event_count() == before
            continue
        admitted.append(held[0] if held else "")
    assert admitted == [r for r in ROLES if r in allowed]


def test_the_operator_manages_users_without_a_role(env: Env) -> None:
    registry = env.ws.registry
    with pytest.raises(NotPermitted, match="alice holds ml_engineer and may not manage users"):
        registry.add_user("gina", ["tech_lead"], actor="alice")
    with pytest.raises(NotPermitted, match="alice holds ml_engineer and may not manage users"):
        registry.set_roles("alice", ["admin"], actor="alice")
    with pytest.raises(NotFound, match="unknown user 'root'"):  # through the API: a user
        registry.add_user("gina", ["tech_lead"], actor="root")
    before = env.event_count()
    user = registry.set_roles("alice", ["ml_engineer", "admin"], actor="ops", operator=True)
    assert user.roles == ["admin", "ml_engineer"]
    with env.ws.store.reading() as tx:
        event = list(tx.events())[-1]
    assert (event.action, event.actor, event.subject) == ("user.roles_changed", "ops", "user:alice")
    assert event.payload["before"] == ["ml_engineer"]
    assert env.event_count() == before + 1
    registry.add_user("gina", ["tech_lead"], actor="alice")  # now an admin


def test_policy_lint_and_schema_know_the_access_section() -> None:
    from clearance.core.schema import policy_schema

    schema = policy_schema()
    access = schema["$defs"]["Access"]["properties"]
    assert set(access) == set(MODEL_ACTIONS)


# the pure rule, for any roles -----------------------------------------------------------------
ROLE = st.sampled_from(ROLES)


@given(held=st.sets(ROLE), allowed=st.lists(ROLE, unique=True))
def test_check_admits_exactly_when_a_held_role_is_allowed(
    held: set[str], allowed: list[str]
) -> None:
    try:
        check("pat", held, "register", allowed, scope="model m")
    except NotPermitted as exc:
        assert not held & set(allowed)
        assert str(exc).startswith(f"pat holds {', '.join(sorted(held)) or 'no roles'} ")
        assert str(exc).endswith(
            f"that needs one of: {', '.join(allowed) or 'no role (nobody may)'}"
        )
    else:
        assert held & set(allowed)


@given(action=st.sampled_from(MODEL_ACTIONS), roles=st.none() | st.lists(ROLE, unique=True))
def test_a_policy_overrides_only_the_actions_it_names(
    action: ModelAction, roles: list[str] | None
) -> None:
    from clearance.core.policy import Policy

    base: dict[str, Any] = {
        "apiVersion": "clearance/v1",
        "kind": "Policy",
        "metadata": {"name": "p", "version": "1.0.0", "owner": "o@example.org"},
        "workflow": {"stages": ["draft", "production"], "transitions": []},
    }
    base["access"] = Access.model_validate({action: roles}).model_dump(
        by_alias=True, exclude_none=True
    )
    policy = Policy.model_validate(base)
    expected = tuple(roles) if roles is not None else DEFAULT[action]
    assert model_roles(action, policy) == expected
    assert model_roles(action, None) == MODEL_DEFAULTS[action] == DEFAULT[action]
    for other in MODEL_ACTIONS:
        if other != action:
            assert model_roles(other, policy) == DEFAULT[other]


# tokens -----------------------------------------------------------------------------------
def _token_rows(env: Env) -> list[dict[str, Any]]:
    with env.ws.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text("SELECT * FROM api_tokens"))]


@pytest.mark.backends("sqlite")  # reads the api_tokens table in SQL
def test_a_token_secret_is_returned_once_and_only_its_sha256_is_stored(env: Env) -> None:
    tokens = env.ws.tokens
    record, secret = tokens.create("alice", actor="ops", name="ci", expires_in="90d", operator=True)
    assert secret.startswith(TOKEN_PREFIX) and len(secret) == len(TOKEN_PREFIX) + 43
    assert record.user == "alice" and record.name == "ci" and secret.startswith(record.prefix)
    assert record.expires_at == env.clock.now() + dt.timedelta(days=90)
    assert "secret" not in record.model_dump()
    (row,) = _token_rows(env)
    assert row["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {str(v) for v in row.values()}
    with env.ws.store.reading() as tx:
        trail = " ".join(str(e.payload) for e in tx.events())
        assert tx.list_tokens(user="alice") == [record]
    assert secret not in trail and record.prefix in trail
    _, other = tokens.create("alice", actor="ops", operator=True)
    assert other != secret  # a secret is never handed out twice


def test_authenticate_accepts_a_live_token_and_says_why_it_refuses_others(env: Env) -> None:
    tokens = env.ws.tokens
    _, live = tokens.create("alice", actor="ops", operator=True)
    _, short = tokens.create("carol", actor="ops", expires_in="1h", operator=True)
    revoked_record, revoked = tokens.create("frank", actor="ops", operator=True)
    tokens.revoke(revoked_record.id, actor="ops", operator=True)

    assert tokens.authenticate(live).name == "alice"
    assert tokens.authenticate(short).roles == ["model_owner"]
    with pytest.raises(Unauthenticated, match="was revoked"):
        tokens.authenticate(revoked)
    with pytest.raises(Unauthenticated, match="unknown API token"):
        tokens.authenticate(TOKEN_PREFIX + "x" * 43)
    with pytest.raises(Unauthenticated, match="start with clr_"):
        tokens.authenticate("x" * 47)
    with pytest.raises(Unauthenticated, match="no API token"):
        tokens.authenticate(None)

    env.clock.advance(minutes=59)
    assert tokens.authenticate(short).name == "carol"
    env.clock.advance(minutes=1)
    with pytest.raises(Unauthenticated, match="expired at"):
        tokens.authenticate(short)
    states = {t.user: t.state(env.clock.now()) for t in tokens.list(actor="ops", operator=True)}
    assert states == {"alice": "active", "carol": "expired", "frank": "revoked"}


@pytest.mark.backends("sqlite")  # reads the api_tokens table in SQL
def test_users_manage_their_own_tokens_and_only_an_admin_anyone_elses(env: Env) -> None:
    tokens = env.ws.tokens
    env.ws.registry.add_user("root", ["admin"], actor="ops", operator=True)
    mine, _ = tokens.create("alice", actor="alice")
    before = len(_token_rows(env))
    with pytest.raises(NotPermitted, match="may not manage users and other people's tokens"):
        tokens.create("bob", actor="alice")
    with pytest.raises(NotPermitted, match="that needs one of: admin"):
        tokens.list(actor="alice", user="bob")
    assert [t.id for t in tokens.list(actor="alice")] == [mine.id]  # not everyone's: hers
    assert [t.id for t in tokens.list(actor="alice", user="alice")] == [mine.id]
    theirs, _ = tokens.create("bob", actor="root")
    with pytest.raises(NotPermitted):
        tokens.revoke(theirs.id, actor="alice")
    assert len(_token_rows(env)) == before + 1
    assert tokens.revoke(mine.id, actor="alice").revoked_by == "alice"
    assert tokens.revoke(theirs.id, actor="root").revoked_by == "root"
    assert {t.user for t in tokens.list(actor="root")} == {"alice", "bob"}


@pytest.mark.backends("sqlite")  # reads the api_tokens table in SQL
def test_token_refusals_name_what_is_wrong(env: Env) -> None:
    tokens = env.ws.tokens
    with pytest.raises(NotFound, match="unknown user 'zed'"):
        tokens.create("zed", actor="ops", operator=True)
    with pytest.raises(InputError, match="expires: '3 days' is not a duration"):
        tokens.create("alice", actor="ops", expires_in="3 days", operator=True)
    with pytest.raises(NotFound, match="no token with id 99"):
        tokens.revoke(99, actor="ops", operator=True)
    assert _token_rows(env) == []
