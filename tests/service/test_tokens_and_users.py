"""Tokens cannot outlive the token that made them; a user needs a role to do anything through
the API; a disabled user's tokens are all revoked and sign-in is refused, audited.

Run on SQLite and PostgreSQL (the service conftest's ``env``). ``via`` is the token an API
caller presented, as the API passes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from clearance.errors import InputError, NotPermitted, Unauthenticated
from clearance.service.records import TokenRecord

if TYPE_CHECKING:
    from conftest import Env


def _short(env: Env, user: str, lifetime: str = "5m") -> tuple[TokenRecord, str]:
    return env.ws.tokens.create(user, actor="ops", expires_in=lifetime, operator=True)


def test_a_token_cannot_outlive_the_token_that_made_it(env: Env) -> None:
    tokens = env.ws.tokens
    via, _ = _short(env, "alice")
    assert via.expires_at is not None
    before = env.event_count()
    env.clock.advance(minutes=1)  # 4 minutes left on the token asking
    with pytest.raises(InputError) as never:
        tokens.create("alice", actor="alice", via=via)
    message = str(never.value)
    assert message.startswith("expires_in: a token that never expires would outlive the token")
    assert f"expires at {via.expires_at:%Y-%m-%d %H:%M:%S} UTC" in message
    assert "ask for at most 4m, or ask an admin" in message
    with pytest.raises(InputError, match=r"^expires_in: a token until .* would outlive"):
        tokens.create("alice", actor="alice", expires_in="90d", via=via)
    with pytest.raises(InputError, match=r"expires_in: .*ask for at most 4m"):
        tokens.create("alice", actor="alice", expires_in="5m", via=via)
    assert env.event_count() == before  # refused: nothing written

    shorter, _ = tokens.create("alice", actor="alice", expires_in="4m", via=via)
    assert shorter.expires_at == via.expires_at  # the same moment is allowed
    # nor can the child be used to stretch the chain: it bounds its own children
    with pytest.raises(InputError, match="would outlive"):
        tokens.create("alice", actor="alice", expires_in="1h", via=shorter)
    # a long-lived token may make shorter ones, and one that never expires anything
    forever, _ = tokens.create("alice", actor="ops", operator=True)
    assert tokens.create("alice", actor="alice", via=forever)[0].expires_at is None


def test_an_admin_and_the_operator_mint_long_lived_tokens(env: Env) -> None:
    env.ws.registry.add_user("root", ["admin"], actor="ops", operator=True)
    via, _ = _short(env, "root")
    tokens = env.ws.tokens
    assert tokens.create("bob", actor="root", via=via)[0].expires_at is None
    assert tokens.create("root", actor="root", expires_in="90d", via=via)[0].expires_at
    assert tokens.create("bob", actor="ops", operator=True)[0].expires_at is None


def test_a_user_without_roles_can_neither_sign_in_nor_mint_tokens(env: Env) -> None:
    tokens = env.ws.tokens
    record, secret = tokens.create("alice", actor="ops", operator=True)
    assert tokens.authenticate(secret).name == "alice"
    env.ws.registry.set_roles("alice", [], actor="ops", operator=True)
    before = env.event_count()
    with pytest.raises(NotPermitted, match="alice holds no roles, so the server refuses"):
        tokens.sign_in(secret)
    with pytest.raises(NotPermitted, match="holds no roles") as minted:
        tokens.create("alice", actor="alice", via=record)
    assert "clearance user roles alice --role ROLE" in str(minted.value)
    with pytest.raises(NotPermitted, match="holds no roles"):
        tokens.list(actor="alice")
    assert env.event_count() == before
    env.ws.registry.set_roles("alice", ["ml_engineer"], actor="ops", operator=True)
    assert tokens.authenticate(secret).roles == ["ml_engineer"]  # a role back: access back


def _events(env: Env, after: int) -> list[tuple[str, str, str, dict[str, object]]]:
    with env.ws.store.reading() as tx:
        return [(e.action, e.actor, e.subject, e.payload) for e in tx.events() if e.seq > after]


def test_disabling_a_user_revokes_their_tokens_and_refuses_sign_in(env: Env) -> None:
    tokens, users = env.ws.tokens, env.ws.users
    first, secret = tokens.create("alice", actor="ops", operator=True)
    second, _ = tokens.create("alice", actor="ops", expires_in="1h", operator=True)
    gone, _ = tokens.create("alice", actor="ops", operator=True)
    tokens.revoke(gone.id, actor="ops", operator=True)
    bobs, bob_secret = tokens.create("bob", actor="ops", operator=True)
    seq = env.event_count()

    user = users.disable("alice", actor="ops", operator=True)
    assert user.disabled_at == env.clock.now()
    # one event, in the same transaction as the state change: it names the revoked tokens
    assert _events(env, seq) == [
        ("user.disabled", "ops", "user:alice", {"revoked_tokens": [first.id, second.id]})
    ]
    states = {t.id: t.state(env.clock.now()) for t in tokens.list(actor="ops", operator=True)}
    assert states == {first.id: "revoked", second.id: "revoked", gone.id: "revoked"} | {
        bobs.id: "active"
    }
    with pytest.raises(Unauthenticated, match=r"user alice is disabled .*clearance user enable"):
        tokens.authenticate(secret)
    assert tokens.authenticate(bob_secret).name == "bob"  # nobody else is touched
    with pytest.raises(InputError, match="alice is disabled"):  # no new token for them
        tokens.create("alice", actor="ops", operator=True)
    with pytest.raises(NotPermitted, match="alice is disabled"):  # nor acting on the CLI
        env.register("9")
    with pytest.raises(NotPermitted, match="alice is disabled"):  # her sign-off counts no more
        env.ws.promotions.approve(1, actor="alice")
    with pytest.raises(NotPermitted, match="alice is disabled"):
        env.ws.waivers.revoke("W-1", reason="r", actor="alice")
    assert users.disable("alice", actor="ops", operator=True) == user  # again: no-op
    assert env.event_count() == seq + 1

    enabled = users.enable("alice", actor="ops", operator=True)
    assert enabled.disabled_at is None
    assert _events(env, seq + 1) == [("user.enabled", "ops", "user:alice", {})]
    with pytest.raises(Unauthenticated, match="was revoked"):  # old tokens stay revoked
        tokens.authenticate(secret)
    _, fresh = tokens.create("alice", actor="ops", operator=True)
    assert tokens.authenticate(fresh).name == "alice"
    assert env.ws.auditing.verify().ok


def test_only_an_admin_disables_users_through_the_api(env: Env) -> None:
    users = env.ws.users
    env.ws.registry.add_user("root", ["admin"], actor="ops", operator=True)
    before = env.event_count()
    with pytest.raises(NotPermitted, match="carol holds model_owner and may not manage users"):
        users.disable("alice", actor="carol")
    assert env.event_count() == before
    assert users.disable("alice", actor="root").disabled_at == env.clock.now()
    users.disable("root", actor="root")  # a disabled admin is refused before roles count
    with pytest.raises(NotPermitted, match="user root is disabled"):
        users.enable("alice", actor="root")
    assert users.enable("root", actor="ops", operator=True).disabled_at is None
    assert users.enable("alice", actor="root").disabled_at is None


def test_a_token_dies_with_the_token_that_made_it(env: Env) -> None:
    """Revoking a stolen token also ends every token a non-admin made with it."""
    tokens = env.ws.tokens
    parent, _ = _short(env, "alice", "1h")
    child, child_secret = tokens.create("alice", actor="alice", expires_in="30m", via=parent)
    grandchild, grand_secret = tokens.create("alice", actor="alice", expires_in="5m", via=child)
    assert (child.parent_id, grandchild.parent_id) == (parent.id, child.id)
    assert tokens.sign_in(grand_secret)[1].id == grandchild.id

    tokens.revoke(parent.id, actor="alice")

    for secret in (child_secret, grand_secret):
        with pytest.raises(Unauthenticated, match=rf"made with token {parent.prefix}…, which was"):
            tokens.sign_in(secret)
    assert env.ws.auditing.verify().ok


def test_tokens_chain_at_most_max_chain_deep(env: Env) -> None:
    from clearance.service.access import MAX_CHAIN

    via, _ = _short(env, "alice", "1h")
    for _ in range(MAX_CHAIN):
        via, _ = env.ws.tokens.create("alice", actor="alice", expires_in="5m", via=via)
    with pytest.raises(InputError, match=f"chain of {MAX_CHAIN} tokens"):
        env.ws.tokens.create("alice", actor="alice", expires_in="5m", via=via)
