"""Authentication and authorization: API tokens, and the role checks every use case makes.

A token is ``clr_`` and 43 URL-safe characters (256 random bits); only its sha256 is stored,
which is enough for a secret of that entropy (no slow hash needed) and lets a lookup be one
indexed read. The local CLI acts as the *operator*, who holds the database itself and so may
manage users and tokens without a role; through the API the same use cases demand ``admin``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from clearance.core.access import (
    SERVER_ROLES,
    ModelAction,
    ServerAction,
    check,
    check_server,
    model_roles,
)
from clearance.core.durations import parse_duration
from clearance.core.policy import Policy
from clearance.core.selection import governing
from clearance.core.version import ModelInfo
from clearance.errors import ClearanceError, InputError, NotFound, Unauthenticated
from clearance.service.context import active_policies, load_recorded, require_user
from clearance.service.ports import Clock, Store, Tx
from clearance.service.records import TokenRecord, User

TOKEN_PREFIX = "clr_"


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def policy_for(tx: Tx, info: ModelInfo) -> Policy | None:
    """The policy that governs (or would govern) a model; None when none or several do."""
    policies = [load_recorded(r).policy for r in active_policies(tx)]
    try:
        return governing(policies, info)
    except ClearanceError:
        return None


def authorize(tx: Tx, actor: str, action: ModelAction, info: ModelInfo) -> User:
    """The acting user, if a role they hold may take ``action`` on this model."""
    user = require_user(tx, actor)
    allowed = model_roles(action, policy_for(tx, info))
    check(actor, user.roles, action, allowed, scope=f"model {info.name}")
    return user


def authorize_server(tx: Tx, actor: str, action: ServerAction) -> User:
    user = require_user(tx, actor)
    check_server(actor, user.roles, action)
    return user


@dataclass(frozen=True)
class Tokens:
    store: Store
    clock: Clock

    def create(
        self,
        user: str,
        *,
        actor: str,
        name: str = "",
        expires_in: str | None = None,
        operator: bool = False,
    ) -> tuple[TokenRecord, str]:
        """A new token for ``user``; the secret is returned here once and never again."""
        now = self.clock.now()
        expires_at = None
        if expires_in is not None:
            try:
                expires_at = now + parse_duration(expires_in)
            except ValueError as exc:
                raise InputError(f"expires: {exc}") from None
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.store.transaction() as tx:
            if not operator and actor != user:  # before the lookup: no probing for names
                authorize_server(tx, actor, "admin")
            require_user(tx, user)
            record = tx.add_token(
                user=user,
                name=name or f"token for {user}",
                prefix=secret[:12],
                secret_sha256=secret_digest(secret),
                created_by=actor,
                at=now,
                expires_at=expires_at,
            )
            tx.append_event(
                time=now,
                actor=actor,
                action="token.created",
                subject=f"user:{user}",
                model=None,
                payload={
                    "token": record.id,
                    "name": record.name,
                    "prefix": record.prefix,
                    "expires_at": None if expires_at is None else expires_at.isoformat(),
                },
            )
        return record, secret

    def revoke(self, token_id: int, *, actor: str, operator: bool = False) -> TokenRecord:
        now = self.clock.now()
        with self.store.transaction() as tx:
            token = tx.get_token(token_id)
            if token is None:
                raise NotFound(f"no token with id {token_id}")
            if not operator and actor != token.user:
                authorize_server(tx, actor, "admin")
            if token.revoked_at is not None:
                return token
            record = tx.revoke_token(token_id, by=actor, at=now)
            tx.append_event(
                time=now,
                actor=actor,
                action="token.revoked",
                subject=f"user:{token.user}",
                model=None,
                payload={"token": token_id, "prefix": token.prefix},
            )
            return record

    def list(
        self, *, actor: str, user: str | None = None, operator: bool = False
    ) -> list[TokenRecord]:
        """Tokens of ``user``; with None, everyone's for the operator or an admin, else the
        actor's own."""
        with self.store.reading() as tx:
            if not operator:
                held = require_user(tx, actor).roles
                if user is None and not set(held) & set(SERVER_ROLES["admin"]):
                    user = actor
                elif user != actor:
                    authorize_server(tx, actor, "admin")
            return tx.list_tokens(user=user)

    def authenticate(self, secret: str | None) -> User:
        """The user a presented token acts for; the error says which check failed."""
        if not secret:
            raise Unauthenticated("no API token; send `Authorization: Bearer <token>`")
        if not secret.startswith(TOKEN_PREFIX):
            raise Unauthenticated("not a clearance API token (they start with clr_)")
        with self.store.reading() as tx:
            token = tx.token_by_secret(secret_digest(secret))
            if token is None:
                raise Unauthenticated("unknown API token")
            state = token.state(self.clock.now())
            if state == "revoked":
                raise Unauthenticated(f"API token {token.prefix}… was revoked")
            if state == "expired":
                raise Unauthenticated(f"API token {token.prefix}… expired at {token.expires_at}")
            user = tx.get_user(token.user)
            if user is None:  # a foreign key keeps this from happening; be explicit anyway
                raise Unauthenticated(f"API token {token.prefix}… acts for an unknown user")
            return user
