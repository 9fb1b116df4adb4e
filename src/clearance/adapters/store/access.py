"""Repository operations for API tokens (mixed into ``SqlTx``) and idempotency keys.

An idempotency key is claimed in a short transaction of its own before the use case runs, so
a retry that arrives while the first call runs is told so; the claim is a lease, taken over
once it lapses (its server died mid-call). The response is stored in the use case's own
transaction (``sessions.holding``): committed work always has its response, and whichever
call with a key commits first wins, the others roll back and answer with its response.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from clearance.adapters.store.database import one
from clearance.adapters.store.schema import IdempotencyRow, TokenRow, UserRow
from clearance.adapters.store.sessions import holding, writing
from clearance.errors import StoreConflict, StoreError
from clearance.service.leases import claim_lapsed
from clearance.service.records import TokenRecord


def _token(row: TokenRow) -> TokenRecord:
    return TokenRecord.model_validate(
        {c: getattr(row, c) for c in TokenRecord.model_fields}, from_attributes=False
    )


_SIGNED_IN = "clearance_signed_in_user"


class AccessRepo:
    s: Session

    def add_token(
        self,
        *,
        user: str,
        name: str,
        prefix: str,
        secret_sha256: str,
        created_by: str,
        at: dt.datetime,
        expires_at: dt.datetime | None,
        parent_id: int | None = None,
    ) -> TokenRecord:
        row = TokenRow(
            parent_id=parent_id,
            user=user,
            name=name,
            prefix=prefix,
            secret_sha256=secret_sha256,
            created_by=created_by,
            created_at=at,
            expires_at=expires_at,
        )
        self.s.add(row)
        self.s.flush()
        return _token(row)

    def token_by_secret(self, secret_sha256: str) -> TokenRecord | None:
        """The token, its user read by the same statement and kept in the session: sign-in's
        ``get_user`` and the use case's own (a request's reads share the session) then find
        the row there instead of asking the database again."""
        stmt = (
            select(TokenRow, UserRow)
            .outerjoin(UserRow, UserRow.name == TokenRow.user)
            .where(TokenRow.secret_sha256 == secret_sha256)
        )
        found = self.s.execute(stmt).one_or_none()
        if found is None:
            return None
        token, user = found
        self.s.info[_SIGNED_IN] = user  # the identity map holds rows weakly: hold this one
        return _token(token)

    def get_token(self, token_id: int) -> TokenRecord | None:
        row = self.s.get(TokenRow, token_id)
        return None if row is None else _token(row)

    def list_tokens(self, *, user: str | None = None) -> list[TokenRecord]:
        stmt = select(TokenRow).order_by(TokenRow.id)
        if user is not None:
            stmt = stmt.where(TokenRow.user == user)
        return [_token(r) for r in self.s.scalars(stmt)]

    def revoke_token(self, token_id: int, *, by: str, at: dt.datetime) -> TokenRecord:
        row = one(self.s, TokenRow, token_id)
        row.revoked_at, row.revoked_by = at, by
        self.s.flush()
        return _token(row)

    def revoke_tokens_of(self, user: str, *, by: str, at: dt.datetime) -> list[int]:
        """Revoke every token of ``user`` that is not revoked yet; their ids."""
        stmt = select(TokenRow).where(TokenRow.user == user, TokenRow.revoked_at.is_(None))
        rows = list(self.s.scalars(stmt.order_by(TokenRow.id)))
        for row in rows:
            row.revoked_at, row.revoked_by = at, by
        self.s.flush()
        return [row.id for row in rows]

    def set_disabled(self, name: str, at: dt.datetime | None) -> None:
        """Disable a user from ``at`` on, or enable them again (None)."""
        one(self.s, UserRow, name).disabled_at = at
        self.s.flush()


LEASE = dt.timedelta(seconds=60)  # how long a claim holds its key unless configured


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    status: int | None  # None: a call holds the key (since ``claimed_at``)
    body: str | None
    claimed_at: dt.datetime


@dataclass(frozen=True)
class SqlIdempotency:
    engine: Engine

    def claim(
        self,
        user: str,
        key: str,
        fingerprint: str,
        at: dt.datetime,
        lease: dt.timedelta = LEASE,
    ) -> StoredResponse | None:
        """Claim ``key`` for a new call (None), or return what an earlier call stored or holds.

        A claim older than ``lease`` is taken over: its call cannot still be running.
        """
        for _ in range(3):  # PostgreSQL: a first claim racing ours; then we read the winner
            try:
                with writing(self.engine) as s, s.begin():
                    row = _locked(s, user, key)
                    if row is None:
                        new = IdempotencyRow(
                            user=user, key=key, fingerprint=fingerprint, created_at=at
                        )
                        s.add(new)
                        return None  # committed here; a racing first claim fails it
                    if not _lapsed(row, fingerprint, at, lease):
                        return _stored(row)
                    row.created_at = at  # taken over: the lease starts again
                    return None
            except IntegrityError:
                continue
        raise StoreConflict(f"could not claim the idempotency key '{key}'; retry")

    def run(
        self,
        user: str,
        key: str,
        fingerprint: str,
        at: dt.datetime,
        call: Callable[[], tuple[int, str]],
    ) -> tuple[StoredResponse, bool]:
        """Run ``call`` and commit its writes with its response under ``key``.

        Returns the response and True, or, when another call with the key finished first, that
        call's response and False (``call``'s writes are rolled back).
        """
        with holding(self.engine) as held:
            status, body = call()
            session = held.session()
            stored = _finish(session, user, key, fingerprint, at, status, body)
            if stored is None:
                _commit(session)
                return StoredResponse(fingerprint, status, body, at), True
            return stored, False

    def refuse(
        self, user: str, key: str, fingerprint: str, at: dt.datetime, status: int, body: str
    ) -> StoredResponse | None:
        """Store a refusal as the key's response (None), unless another call with the key
        finished first: then return that call's response."""
        with writing(self.engine) as s, s.begin():
            return _finish(s, user, key, fingerprint, at, status, body)

    def release(self, user: str, key: str) -> StoredResponse | None:
        """Forget an unfinished claim, so a retry runs the call (None); or, when another call
        with the key finished first, return that call's response."""
        with writing(self.engine) as s, s.begin():
            row = _locked(s, user, key)
            if row is not None and row.status is not None:
                return _stored(row)
            if row is not None:
                s.delete(row)
            return None


def _locked(s: Session, user: str, key: str) -> IdempotencyRow | None:
    stmt = select(IdempotencyRow).where(IdempotencyRow.user == user, IdempotencyRow.key == key)
    return s.scalars(stmt.with_for_update()).one_or_none()


def _lapsed(row: IdempotencyRow, fingerprint: str, at: dt.datetime, lease: dt.timedelta) -> bool:
    return claim_lapsed(
        status=row.status,
        stored_fingerprint=row.fingerprint,
        fingerprint=fingerprint,
        claimed_at=row.created_at,
        at=at,
        lease=lease,
    )


def _finish(
    s: Session, user: str, key: str, fingerprint: str, at: dt.datetime, status: int, body: str
) -> StoredResponse | None:
    """Record the response in ``s`` (None), unless a response is stored already (returned)."""
    row = _locked(s, user, key)
    if row is None:  # released meanwhile (a retry's failure): ours is the answer
        row = IdempotencyRow(user=user, key=key, created_at=at)
        s.add(row)
    elif row.status is not None:
        return _stored(row)
    row.fingerprint, row.status, row.body = fingerprint, status, body
    s.flush()
    return None


def _commit(s: Session) -> None:
    try:
        s.commit()
    except IntegrityError as exc:
        raise StoreConflict(f"the change conflicts with stored data: {exc.orig}") from None
    except OperationalError as exc:
        raise StoreError(f"database error: {exc.orig}") from None


def _stored(row: IdempotencyRow) -> StoredResponse:
    return StoredResponse(row.fingerprint, row.status, row.body, row.created_at)
