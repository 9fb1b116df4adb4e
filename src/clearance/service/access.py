"""Authentication and authorization: API tokens, and the role checks every use case makes.

A token is ``clr_`` and 43 URL-safe characters (256 random bits); only its sha256 is stored,
which is enough for a secret of that entropy (no slow hash needed) and lets a lookup be one
indexed read. The local CLI acts as the *operator*, who holds the database itself and so may
manage users and tokens without a role; through the API the same use cases demand ``admin``.

An API caller must be an enabled user holding at least one role, and a token made through the
API cannot outlive the token it was made with unless the caller is an admin: a short-lived or
stolen token cannot be turned into a permanent one.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import cast

from clearance.core import subjects
from clearance.core.access import (
    SERVER_ROLES,
    ModelAction,
    ServerAction,
    check,
    check_caller,
    check_server,
    model_roles,
    token_expiry,
)
from clearance.core.durations import parse_duration
from clearance.core.policy import Policy
from clearance.core.selection import governing
from clearance.core.version import ModelInfo
from clearance.errors import ClearanceError, InputError, NotFound, NotPermitted, Unauthenticated
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


def refuse_disabled(user: User, error: type[ClearanceError] = NotPermitted) -> None:
    if user.disabled_at is not None:
        raise error(
            f"user {user.name} is disabled (since {user.disabled_at:%Y-%m-%d %H:%M} UTC); "
            f"an admin can enable them with `clearance user enable {user.name}`"
        )


def require_enabled(tx: Tx, actor: str) -> User:
    user = require_user(tx, actor)
    refuse_disabled(user)
    return user


def require_caller(tx: Tx, actor: str) -> User:
    """The user an API call acts for: enabled, and holding a role (reads need one too)."""
    user = require_enabled(tx, actor)
    check_caller(actor, user.roles)
    return user


def authorize(tx: Tx, actor: str, action: ModelAction, info: ModelInfo) -> User:
    """The acting user, if a role they hold may take ``action`` on this model."""
    user = require_enabled(tx, actor)
    allowed = model_roles(action, policy_for(tx, info))
    check(actor, user.roles, action, allowed, scope=f"model {info.name}")
    return user


def authorize_server(tx: Tx, actor: str, action: ServerAction) -> User:
    user = require_enabled(tx, actor)
    check_server(actor, user.roles, action)
    return user


def authorize_attempt(tx: Tx, actor: str, action: ModelAction | ServerAction) -> User:
    """Before a request body is read: may the user take ``action`` at all? For a model action,
    on some model (the defaults, or any active policy's roles); the use case then checks the
    exact model once the body names it."""
    if action in SERVER_ROLES:
        return authorize_server(tx, actor, action)
    model_action = cast(ModelAction, action)
    user = require_enabled(tx, actor)
    policies = [load_recorded(r).policy for r in active_policies(tx)]
    allowed = {*model_roles(model_action, None)}
    for policy in policies:
        allowed.update(model_roles(model_action, policy))
    check(actor, user.roles, model_action, sorted(allowed), scope="any model")
    return user


@dataclass(frozen=True)
class Tokens:
    store: Store
    clock: Clock

    def create(
        self,
        user: str | None,
        *,
        actor: str,
        name: str = "",
        expires_in: str | None = None,
        operator: bool = False,
        via: TokenRecord | None = None,
    ) -> tuple[TokenRecord, str]:
        """A new token for ``user`` (None: the actor); the secret is returned here once and
        never again.

        ``via`` is the token the API caller presented: unless the caller is an admin, the new
        token may not expire after it (a request for a longer or no expiry is refused).
        """
        user = user or actor
        now = self.clock.now()
        lifetime = None
        if expires_in is not None:
            try:
                lifetime = parse_duration(expires_in)
            except ValueError as exc:
                raise InputError(f"expires: {exc}") from None
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.store.transaction() as tx:
            bound, parent = None, None
            if not operator:
                caller = (  # for someone else: admin, before the lookup (no probing for names)
                    authorize_server(tx, actor, "admin")
                    if actor != user
                    else require_caller(tx, actor)
                )
                if via is not None and not _is_admin(caller):
                    bound, parent = via.expires_at, via
                    if _ancestors(tx, via)[1] >= MAX_CHAIN:
                        raise InputError(
                            f"token {via.prefix}… was itself made from a chain of "
                            f"{MAX_CHAIN} tokens; sign in with an earlier token to make more"
                        )
            refuse_disabled(require_user(tx, user), InputError)
            expires_at = token_expiry(now, lifetime, bound=bound)
            record = tx.add_token(
                user=user,
                name=name or f"token for {user}",
                prefix=secret[:12],
                secret_sha256=secret_digest(secret),
                created_by=actor,
                at=now,
                expires_at=expires_at,
                parent_id=None if parent is None else parent.id,
            )
            tx.append_event(
                time=now,
                actor=actor,
                action="token.created",
                subject=subjects.user(user),
                model=None,
                payload={
                    "token": record.id,
                    "name": record.name,
                    "prefix": record.prefix,
                    "expires_at": None if expires_at is None else expires_at.isoformat(),
                    "parent": None if parent is None else parent.id,
                },
            )
        return record, secret

    def revoke(self, token_id: int, *, actor: str, operator: bool = False) -> TokenRecord:
        now = self.clock.now()
        with self.store.transaction() as tx:
            token = tx.get_token(token_id)
            if token is None:
                raise NotFound(f"no token with id {token_id}")
            if not operator:
                if actor != token.user:
                    authorize_server(tx, actor, "admin")
                else:
                    require_caller(tx, actor)
            if token.revoked_at is not None:
                return token
            record = tx.revoke_token(token_id, by=actor, at=now)
            tx.append_event(
                time=now,
                actor=actor,
                action="token.revoked",
                subject=subjects.user(token.user),
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
                held = require_caller(tx, actor).roles
                if user is None and not set(held) & set(SERVER_ROLES["admin"]):
                    user = actor
                elif user != actor:
                    authorize_server(tx, actor, "admin")
            return tx.list_tokens(user=user)

    def authenticate(self, secret: str | None) -> User:
        """The user a presented token acts for; the error says which check failed."""
        return self.sign_in(secret)[0]

    def sign_in(self, secret: str | None) -> tuple[User, TokenRecord]:
        """The user a presented token acts for, and the token (tokens made with it may not
        outlive it). 401 for a bad token or a disabled user, 403 for a user with no roles."""
        if not secret:
            raise Unauthenticated("no API token; send `Authorization: Bearer <token>`")
        if not secret.startswith(TOKEN_PREFIX):
            raise Unauthenticated("not a clearance API token (they start with clr_)")
        with self.store.reading() as tx:
            token = tx.token_by_secret(secret_digest(secret))
            if token is None:
                raise Unauthenticated("unknown API token")
            user = tx.get_user(token.user)
            if user is None:  # a foreign key keeps this from happening; be explicit anyway
                raise Unauthenticated(f"API token {token.prefix}… acts for an unknown user")
            refuse_disabled(user, Unauthenticated)  # first: it says why all their tokens fail
            state = token.state(self.clock.now())
            if state == "revoked":
                raise Unauthenticated(f"API token {token.prefix}… was revoked")
            if state == "expired":
                raise Unauthenticated(f"API token {token.prefix}… expired at {token.expires_at}")
            revoked, _ = _ancestors(tx, token)
            if revoked is not None:
                raise Unauthenticated(
                    f"API token {token.prefix}… was made with token {revoked.prefix}…, "
                    "which was revoked"
                )
            check_caller(user.name, user.roles)
            return user, token


MAX_CHAIN = 8  # tokens made from tokens: bounds the walk every sign-in makes


def _ancestors(tx: Tx, token: TokenRecord) -> tuple[TokenRecord | None, int]:
    """The first revoked token ``token`` was made from (directly or not), and how many it
    was made from: a token dies with the one that made it, whatever its own expiry."""
    depth, current = 0, token
    while current.parent_id is not None and depth < MAX_CHAIN:
        parent = tx.get_token(current.parent_id)
        if parent is None:
            break
        depth, current = depth + 1, parent
        if parent.revoked_at is not None:
            return parent, depth
    return None, depth


def _is_admin(user: User) -> bool:
    return bool(set(user.roles) & set(SERVER_ROLES["admin"]))


@dataclass(frozen=True)
class Users:
    """Disabling a user: every token revoked, sign-in refused, until an enable. (Adding users
    and changing roles are in ``Registry``.)"""

    store: Store
    clock: Clock

    def me(self, *, actor: str) -> User:
        """The acting user (the API's /me: who a token acts for)."""
        with self.store.reading() as tx:
            return require_user(tx, actor)

    def disable(self, name: str, *, actor: str, operator: bool = False) -> User:
        return self.set_disabled(name, True, actor=actor, operator=operator)

    def enable(self, name: str, *, actor: str, operator: bool = False) -> User:
        """Let the user sign in again; their old tokens stay revoked (mint new ones)."""
        return self.set_disabled(name, False, actor=actor, operator=operator)

    def set_disabled(
        self, name: str, disabled: bool, *, actor: str, operator: bool = False
    ) -> User:
        """Disable (revoke every token, refuse sign-in) or enable a user, audited."""
        now = self.clock.now()
        with self.store.transaction() as tx:
            if not operator:
                authorize_server(tx, actor, "admin")
            user = require_user(tx, name)
            if (user.disabled_at is not None) == disabled:
                return user  # already so: nothing to record
            payload: dict[str, object] = {}
            if disabled:
                payload["revoked_tokens"] = tx.revoke_tokens_of(name, by=actor, at=now)
            tx.set_disabled(name, now if disabled else None)
            tx.append_event(
                time=now,
                actor=actor,
                action="user.disabled" if disabled else "user.enabled",
                subject=subjects.user(name),
                model=None,
                payload=payload,
            )
            return require_user(tx, name)
