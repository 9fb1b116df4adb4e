"""``AccessPort`` in memory: users and API tokens (as ``adapters/store/access.py``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from clearance.service.records import TokenRecord, User
from clearance.testing.tables import Repo, TokenRow, one, out, require, unique, utc, utc_or_none


class AccessRepo(Repo):
    def get_user(self, name: str) -> User | None:
        user = self.t.users.get(name)
        return None if user is None else out(user)

    def add_user(self, name: str, roles: Sequence[str], at: dt.datetime) -> User:
        if name in self.t.users:
            raise unique("users", "name")
        user = User(name=name, roles=sorted(set(roles)), created_at=utc(at))
        self.t.users[name] = user
        return out(user)

    def set_roles(self, name: str, roles: Sequence[str]) -> User:
        user = one(self.t.users, name, "users").model_copy(update={"roles": sorted(set(roles))})
        self.t.users[name] = user
        return out(user)

    def list_users(self) -> list[User]:
        return [out(self.t.users[name]) for name in sorted(self.t.users)]

    def set_disabled(self, name: str, at: dt.datetime | None) -> None:
        user = one(self.t.users, name, "users")
        self.t.users[name] = user.model_copy(update={"disabled_at": utc_or_none(at)})

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
        require(self.t.users, user, "users", "api_tokens.user")
        if any(row.secret_sha256 == secret_sha256 for row in self.t.tokens.values()):
            raise unique("api_tokens", "secret_sha256")
        record = TokenRecord(
            id=self.t.next_id("api_tokens"),
            user=user,
            name=name,
            prefix=prefix,
            created_by=created_by,
            created_at=utc(at),
            expires_at=utc_or_none(expires_at),
            revoked_at=None,
            revoked_by=None,
            parent_id=parent_id,
        )
        self.t.tokens[record.id] = TokenRow(record, secret_sha256)
        return out(record)

    def token_by_secret(self, secret_sha256: str) -> TokenRecord | None:
        for row in self.t.tokens.values():
            if row.secret_sha256 == secret_sha256:
                return out(row.record)
        return None

    def get_token(self, token_id: int) -> TokenRecord | None:
        row = self.t.tokens.get(token_id)
        return None if row is None else out(row.record)

    def list_tokens(self, *, user: str | None = None) -> list[TokenRecord]:
        rows = (self.t.tokens[i] for i in sorted(self.t.tokens))
        return [out(r.record) for r in rows if user is None or r.record.user == user]

    def revoke_token(self, token_id: int, *, by: str, at: dt.datetime) -> TokenRecord:
        row = one(self.t.tokens, token_id, "api_tokens")
        return self._revoke(row, by, at)

    def revoke_tokens_of(self, user: str, *, by: str, at: dt.datetime) -> list[int]:
        """Revoke every token of ``user`` that is not revoked yet; their ids."""
        live = [
            row
            for _, row in sorted(self.t.tokens.items())
            if row.record.user == user and row.record.revoked_at is None
        ]
        return [self._revoke(row, by, at).id for row in live]

    def _revoke(self, row: TokenRow, by: str, at: dt.datetime) -> TokenRecord:
        record = row.record.model_copy(update={"revoked_at": utc(at), "revoked_by": by})
        self.t.tokens[record.id] = TokenRow(record, row.secret_sha256)
        return out(record)
