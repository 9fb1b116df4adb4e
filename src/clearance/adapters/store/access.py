"""Repository operations for API tokens (mixed into ``SqlTx``) and idempotency keys.

Idempotency keys live outside the use case's transaction on purpose: a key is claimed before
the use case runs and completed after it, so a retry that arrives while the first call is
still running is told so instead of running the use case twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clearance.adapters.store.schema import IdempotencyRow, TokenRow
from clearance.service.records import TokenRecord


def _token(row: TokenRow) -> TokenRecord:
    return TokenRecord.model_validate(
        {c: getattr(row, c) for c in TokenRecord.model_fields}, from_attributes=False
    )


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
    ) -> TokenRecord:
        row = TokenRow(
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
        stmt = select(TokenRow).where(TokenRow.secret_sha256 == secret_sha256)
        row = self.s.scalars(stmt).one_or_none()
        return None if row is None else _token(row)

    def get_token(self, token_id: int) -> TokenRecord | None:
        row = self.s.get(TokenRow, token_id)
        return None if row is None else _token(row)

    def list_tokens(self, *, user: str | None = None) -> list[TokenRecord]:
        stmt = select(TokenRow).order_by(TokenRow.id)
        if user is not None:
            stmt = stmt.where(TokenRow.user == user)
        return [_token(r) for r in self.s.scalars(stmt)]

    def revoke_token(self, token_id: int, *, by: str, at: dt.datetime) -> TokenRecord:
        row = self.s.get_one(TokenRow, token_id)
        row.revoked_at, row.revoked_by = at, by
        self.s.flush()
        return _token(row)


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    status: int | None  # None: the first call is still running
    body: str | None


@dataclass(frozen=True)
class SqlIdempotency:
    engine: Engine

    def claim(
        self, user: str, key: str, fingerprint: str, at: dt.datetime
    ) -> StoredResponse | None:
        """Claim ``key`` for a new call (None), or return what an earlier call stored."""
        with Session(self.engine) as session:
            try:
                with session.begin():
                    session.add(
                        IdempotencyRow(user=user, key=key, fingerprint=fingerprint, created_at=at)
                    )
                return None
            except IntegrityError:
                pass
        with Session(self.engine) as session:
            row = session.get(IdempotencyRow, (user, key))
            if row is None:  # released between our insert and this read: claim again
                return self.claim(user, key, fingerprint, at)
            return StoredResponse(row.fingerprint, row.status, row.body)

    def complete(self, user: str, key: str, status: int, body: str) -> None:
        with Session(self.engine) as session, session.begin():
            row = session.get_one(IdempotencyRow, (user, key))
            row.status, row.body = status, body

    def release(self, user: str, key: str) -> None:
        """Forget a claim whose call failed on the server's side, so a retry runs it."""
        with Session(self.engine) as session, session.begin():
            session.execute(
                delete(IdempotencyRow).where(IdempotencyRow.user == user, IdempotencyRow.key == key)
            )
