# mypy: disable-error-code="empty-body"
# (the declarations have no bodies: the decorator sends each call through the transport)
"""Users and API tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from clearance.contract.operations import Contract, operation
from clearance.contract.types import RecordId

if TYPE_CHECKING:  # imported when a transport reads the declarations (operations.py says why)
    from clearance.contract.schemas import DisabledBody, RolesBody, UserBody  # noqa: F401 (body=)
    from clearance.service.records import TokenRecord, User


class AccessOps(Contract):
    @operation("GET", "/me", service="users", tags=("users",), actor=True)
    def me(self) -> User:
        """The user the token acts for."""

    # users and tokens ----------------------------------------------------------------------
    @operation("GET", "/users", service="views", tags=("users",), paged=True, route="list_users")
    def users(self) -> list[User]:
        """Users and their roles."""

    @operation(
        "POST",
        "/users",
        service="registry",
        tags=("users",),
        errors=(403, 409),
        body="UserBody",
        actor=True,
    )
    def add_user(self, name: str, roles: list[str]) -> User:
        """Add a user with roles (admin only)."""

    @operation(
        "PUT",
        "/users/{name}/roles",
        service="registry",
        tags=("users",),
        errors=(403, 404, 409),
        body="RolesBody",
        actor=True,
    )
    def set_roles(self, name: str, roles: list[str]) -> User:
        """Replace a user's roles (admin only; the old ones go into the audit trail)."""

    @operation(
        "PUT",
        "/users/{name}/disabled",
        service="users",
        tags=("users",),
        errors=(403, 404),
        body="DisabledBody",
        actor=True,
    )
    def set_disabled(self, name: str, disabled: bool) -> User:
        """Disable a user (all their tokens are revoked, sign-in is refused) or enable them
        again (admin only; audited)."""

    @operation(
        "POST",
        "/tokens",
        service="tokens",
        handler="create",
        tags=("tokens",),
        errors=(403, 404, 409),
        actor=True,
        custom=True,
    )
    def create_token(
        self, user: str | None = None, *, name: str = "", expires_in: str | None = None
    ) -> tuple[TokenRecord, str]:
        """Create an API token; its secret is returned this once."""

    @operation(
        "GET",
        "/tokens",
        service="tokens",
        handler="list",
        tags=("tokens",),
        errors=(403,),
        actor=True,
        route="list_tokens",
    )
    def tokens(
        self,
        user: Annotated[
            str | None,
            Field(
                description="Only this user's tokens. Default: an admin sees everyone's, "
                "anyone else their own."
            ),
        ] = None,
    ) -> list[TokenRecord]:
        """API tokens (never their secrets): yours, or anyone's for an admin."""

    @operation(
        "DELETE",
        "/tokens/{token_id}",
        service="tokens",
        handler="revoke",
        tags=("tokens",),
        errors=(403, 404, 409),
        actor=True,
    )
    def revoke_token(self, token_id: RecordId) -> TokenRecord:
        """Revoke a token at once (your own, or anyone's as an admin)."""
