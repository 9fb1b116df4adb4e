"""Users and their roles, and API tokens.

Through the API these use cases run as the caller, never as the operator: adding users,
changing roles, disabling users and managing other people's tokens need ``admin`` (checked by
the service). A token made here is bounded by the token that made it (the service decides).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from clearance.api.deps import IdPath, PageDep, UserDep, WorkspaceDep
from clearance.api.guard import GuardedRoute
from clearance.api.problems import COMMON, responses
from clearance.api.schemas import (
    Body,
    Page,
    RolesBody,
    TokenBody,
    TokenCreated,
    UserBody,
    page,
)
from clearance.service.records import TokenRecord, User

router = APIRouter(route_class=GuardedRoute)


class DisabledBody(Body):
    disabled: bool = Field(
        description="true: revoke all the user's tokens and refuse their sign-in; "
        "false: let them sign in again (with new tokens)."
    )


@router.get(
    "/users",
    tags=["users"],
    summary="Users and their roles.",
    response_model=Page[User],
    responses=responses(*COMMON),
)
def list_users(user: UserDep, ws: WorkspaceDep, paging: PageDep) -> dict[str, Any]:
    with ws.store.reading() as tx:
        rows = tx.list_users()
    return page(rows, paging.limit, paging.offset)


@router.post(
    "/users",
    tags=["users"],
    status_code=201,
    summary="Add a user with roles (admin only).",
    response_model=User,
    responses=responses(*COMMON, 403, 409),
)
def add_user(body: UserBody, user: UserDep, ws: WorkspaceDep) -> User:
    return ws.registry.add_user(body.name, body.roles, actor=user.name, operator=False)


@router.put(
    "/users/{name}/roles",
    tags=["users"],
    summary="Replace a user's roles (admin only; the old ones go into the audit trail).",
    response_model=User,
    responses=responses(*COMMON, 403, 404, 409),
)
def set_roles(name: str, body: RolesBody, user: UserDep, ws: WorkspaceDep) -> User:
    return ws.registry.set_roles(name, body.roles, actor=user.name, operator=False)


@router.put(
    "/users/{name}/disabled",
    tags=["users"],
    summary="Disable a user (all their tokens are revoked, sign-in is refused) or enable them "
    "again (admin only; audited).",
    response_model=User,
    responses=responses(*COMMON, 403, 404),
)
def set_disabled(name: str, body: DisabledBody, user: UserDep, ws: WorkspaceDep) -> User:
    change = ws.users.disable if body.disabled else ws.users.enable
    return change(name, actor=user.name, operator=False)


@router.post(
    "/tokens",
    tags=["tokens"],
    status_code=201,
    summary="Create an API token (for yourself, or for anyone as an admin); "
    "its secret is returned this once. Unless you are an admin, it cannot expire after the "
    "token you call with (422 naming expires_in).",
    response_model=TokenCreated,
    responses=responses(*COMMON, 403, 404, 409),
)
def create_token(
    body: TokenBody, user: UserDep, ws: WorkspaceDep, request: Request
) -> TokenCreated:
    via: TokenRecord = request.state.token  # set with the user (deps.current_user)
    token, secret = ws.tokens.create(
        body.user or user.name,
        actor=user.name,
        name=body.name,
        expires_in=body.expires_in,
        operator=False,
        via=via,
    )
    return TokenCreated(token=token, secret=secret)


@router.get(
    "/tokens",
    tags=["tokens"],
    summary="API tokens (never their secrets): yours, or anyone's for an admin.",
    response_model=list[TokenRecord],
    responses=responses(*COMMON, 403),
)
def list_tokens(
    user: UserDep,
    ws: WorkspaceDep,
    owner: Annotated[
        str | None,
        Query(
            alias="user",
            description="Only this user's tokens. Default: an admin sees everyone's, "
            "anyone else their own.",
        ),
    ] = None,
) -> list[TokenRecord]:
    return ws.tokens.list(actor=user.name, user=owner, operator=False)


@router.delete(
    "/tokens/{token_id}",
    tags=["tokens"],
    summary="Revoke a token at once (your own, or anyone's as an admin).",
    response_model=TokenRecord,
    responses=responses(*COMMON, 403, 404, 409),
)
def revoke_token(token_id: IdPath, user: UserDep, ws: WorkspaceDep) -> TokenRecord:
    return ws.tokens.revoke(token_id, actor=user.name, operator=False)
