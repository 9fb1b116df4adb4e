"""Request bodies and response envelopes of the API (Pydantic only, shared with the SDK)."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from clearance.core.durations import Duration
from clearance.core.names import Name
from clearance.service.paging import CURSOR_PATTERN, MAX_CURSOR, MAX_PAGE
from clearance.service.records import TokenRecord
from clearance.service.rollouts import KpiIn
from clearance.service.waivers import Until

T = TypeVar("T")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class Body(BaseModel):
    """A JSON request body: unknown fields are refused, and so are NUL characters (no
    database stores them in text)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError("text may not contain NUL (\\u0000) characters")
        return data


class Page(BaseModel, Generic[T]):
    """One page of a list; ask for the next with ``offset + limit`` while it is below total."""

    items: list[T]
    total: int
    limit: int
    offset: int


def page(items: list[T], limit: int, offset: int) -> dict[str, Any]:
    """A page cut from the whole list (for the lists that are small)."""
    return paged(items[offset : offset + limit], len(items), limit, offset)


def paged(items: list[T], total: int, limit: int, offset: int) -> dict[str, Any]:
    """A page the service already cut (for the lists that cost per row)."""
    return {"items": items, "total": total, "limit": limit, "offset": offset}


# The arguments of the lists paged by keyset (models, versions, requests): each answers a
# ``CursorPage`` whose ``next`` is the cursor of the page after it.
Limit = Annotated[int, Field(ge=1, le=MAX_PAGE, description="At most this many items.")]
Offset = Annotated[
    int, Field(ge=0, description="Skip this many items (after the cursor, when one is given).")
]
Cursor = Annotated[
    str | None,
    Field(
        max_length=MAX_CURSOR,
        pattern=CURSOR_PATTERN,
        description="Continue after the page whose `next` this is (opaque; from the server).",
    ),
]


class PromoteBody(Body):
    model: str = Field(min_length=1)
    version: str = Field(min_length=1)
    to: str = Field(min_length=1, description="Target stage.")
    change_type: str = Field(default="standard", description="standard, emergency, experiment.")
    reason: str = ""
    ticket: str = ""


class SignBody(Body):
    reason: str = ""
    ticket: str = ""


class RollbackBody(Body):
    reason: str = Field(description="Why (kept in the audit trail).")
    to_version: str | None = Field(default=None, description="Default: the previous one.")


# --- users and tokens ---------------------------------------------------------------------

UserName = Annotated[
    Name, Field(description="A user name, as tokens and the audit trail name them (no spaces).")
]
Role = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x20\x7f]+$")]


class UserBody(Body):
    name: UserName
    roles: list[Role] = Field(description="e.g. ml_engineer, model_owner, risk_officer, admin.")


class RolesBody(Body):
    roles: list[Role] = Field(description="The user's roles from now on (replacing the old).")


class DisabledBody(Body):
    disabled: bool = Field(
        description="true: revoke all the user's tokens and refuse their sign-in; "
        "false: let them sign in again (with new tokens)."
    )


class TokenBody(Body):
    user: UserName | None = Field(default=None, description="Who it acts for (default: you).")
    name: str = Field(default="", max_length=200, description="What it is for, e.g. 'ci'.")
    expires_in: Duration | None = Field(
        default=None, description="Lifetime, e.g. 90d, 12h or 2w (default: never expires)."
    )


class TokenCreated(BaseModel):
    """A new token; ``secret`` is shown this once and never again (only its sha256 is kept)."""

    token: TokenRecord
    secret: str


# --- waivers, reviews, rollouts ----------------------------------------------------------


class WaiverBody(Body):
    """The parameters of ``Waivers.grant`` (``clearance waiver grant``). Give the expiry as
    ``until`` (a date: the end of that day, UTC; a time: without a zone it is UTC) or as
    ``expires_in`` from now (e.g. 14d)."""

    model: str = Field(min_length=1)
    gate: str = Field(min_length=1, description="Gate id in the governing policy.")
    version: str | None = Field(default=None, description="Only this version (default: all).")
    until: Until | None = Field(default=None, description="When it expires.")
    expires_in: Duration | None = Field(default=None, description="Or: lifetime.")
    justification: str = Field(min_length=1, description="Why the exception.")
    controls: list[str] = Field(min_length=1, description="Compensating controls.")


class RevokeBody(Body):
    reason: str = Field(min_length=1, description="Why (kept in the audit trail).")


class ReviewBody(Body):
    """The parameters of ``Governance.record_review`` (``clearance review record``)."""

    summary: str = Field(min_length=1, description="What happened and why.")
    actions: list[str] = Field(default_factory=list, description="Follow-up actions.")


class RolloutBody(Body):
    version: str = Field(min_length=1, description="The approved version to start the canary of.")


class ObserveBody(Body):
    """The parameters of ``Rollouts.observe`` (``clearance rollout observe``)."""

    readings: dict[str, KpiIn] = Field(
        min_length=1, description="KPI name → its canary (and control) reading."
    )
