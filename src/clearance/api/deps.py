"""Request dependencies: the workspace, the authenticated user, pagination.

The ones that touch no database are ``async``: FastAPI runs a plain ``def`` dependency in its
thread pool, a hop per dependency per request that a busy server queues for. Sign-in reads the
database, so it runs in the pool (on the request's shared reading session, ``api/guard.py``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from clearance.service.records import User
from clearance.workspace import Workspace

_bearer = HTTPBearer(
    auto_error=False,
    description="An API token from `clearance token create` (starts with clr_).",
)


async def workspace(request: Request) -> Workspace:
    ws: Workspace = request.app.state.workspace
    return ws


def current_user(
    request: Request,
    ws: Annotated[Workspace, Depends(workspace)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """The user the bearer token acts for; 401 (problem+json) when there is none. A guarded
    route (``guard.py``) has signed in before reading the body: its answer is reused."""
    signed_in = getattr(request.state, "signed_in", None)
    user, token = signed_in or ws.tokens.sign_in(
        None if credentials is None else credentials.credentials
    )
    request.state.user = user.name
    request.state.token = token  # tokens made with it may not outlive it
    return user


WorkspaceDep = Annotated[Workspace, Depends(workspace)]
UserDep = Annotated[User, Depends(current_user)]

MAX_ID = 2**63 - 1  # the largest number a database integer column holds

# A numeric id in a path: positive and within the database's integers (else 422, not 5xx).
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="A numeric id.")]


class PageParams(BaseModel):
    limit: int
    offset: int


async def page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many items.")] = 50,
    offset: Annotated[int, Query(ge=0, description="Skip this many items.")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]
