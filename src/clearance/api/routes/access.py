"""Users and their roles, and API tokens.

Through the API these use cases run as the caller, never as the operator: adding users,
changing roles, disabling users and managing other people's tokens need ``admin`` (checked by
the service). A token made here is bounded by the token that made it (the service decides).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from clearance.api.deps import UserDep, WorkspaceDep
from clearance.api.guard import GuardedRoute
from clearance.api.problems import COMMON, responses
from clearance.contract.schemas import (
    TokenBody,
    TokenCreated,
)
from clearance.service.records import TokenRecord

router = APIRouter(route_class=GuardedRoute)


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
