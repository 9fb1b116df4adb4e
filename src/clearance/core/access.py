"""Who may do what: actions, the roles that may take them, and the refusal message.

Two kinds of action. Model actions (register, request, rollback, rollout, review) take their
roles from the governing policy's ``access`` section, falling back to ``MODEL_DEFAULTS``.
Server actions (apply policies, manage users and other people's tokens, sign checkpoints,
run the scheduled tick)
take theirs from ``SERVER_ROLES``. Approvals and waivers are governed elsewhere, by the
transition's ``approvals`` and the policy's ``waivers.grantors``. Two rules about API callers
live here too: a caller needs a role even to read, and a token cannot outlive the token that
made it. Pure: no store, no clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Literal, get_args

from clearance.core.policy import Access, Policy
from clearance.errors import InputError, NotPermitted

ModelAction = Literal["register", "request", "rollback", "rollout", "review"]
ServerAction = Literal["policy", "admin", "checkpoint", "tick"]
MODEL_ACTIONS: tuple[ModelAction, ...] = get_args(ModelAction)

ADMIN = "admin"

MODEL_DEFAULTS: dict[ModelAction, tuple[str, ...]] = {
    "register": ("ml_engineer", "model_owner"),
    "request": ("ml_engineer", "model_owner"),
    "rollback": ("mlops_oncall", "model_owner"),
    "rollout": ("ml_engineer", "mlops_oncall", "model_owner"),
    "review": ("model_owner", "risk_officer", "mlops_oncall"),
}

SERVER_ROLES: dict[ServerAction, tuple[str, ...]] = {
    "policy": (ADMIN, "policy_admin"),
    "admin": (ADMIN,),
    "checkpoint": (ADMIN, "auditor"),
    "tick": (ADMIN, "mlops_oncall"),
}

_WHAT: dict[str, str] = {
    "register": "register versions or attach evidence",
    "request": "request promotions",
    "rollback": "roll back",
    "rollout": "run canary rollouts",
    "review": "record post-incident reviews",
    "policy": "apply policies",
    "admin": "manage users and other people's tokens",
    "checkpoint": "sign audit checkpoints",
    "tick": "run the scheduled governance work (tick)",
}


def model_roles(action: ModelAction, policy: Policy | None) -> tuple[str, ...]:
    """The roles that may take ``action`` on a model ``policy`` governs (or none governs)."""
    access = policy.access if policy is not None else Access()
    chosen: Sequence[str] | None = access.model_dump(by_alias=True)[action]
    return tuple(chosen) if chosen is not None else MODEL_DEFAULTS[action]


def check(
    actor: str,
    held: Iterable[str],
    action: ModelAction | ServerAction,
    allowed: Sequence[str],
    *,
    scope: str = "",
) -> None:
    """Raise ``NotPermitted`` unless a held role is among ``allowed``."""
    held = sorted(set(held))
    if set(held) & set(allowed):
        return
    where = f" on {scope}" if scope else ""
    raise NotPermitted(
        f"{actor} holds {', '.join(held) or 'no roles'} and may not {_WHAT[action]}{where}; "
        f"that needs one of: {', '.join(allowed) or 'no role (nobody may)'}"
    )


def check_server(actor: str, held: Iterable[str], action: ServerAction) -> None:
    check(actor, held, action, SERVER_ROLES[action])


def check_caller(actor: str, held: Iterable[str]) -> None:
    """An API caller needs at least one role, to read too: removing every role from a user
    takes away all they could do through the tokens they already hold."""
    if not set(held):
        raise NotPermitted(
            f"{actor} holds no roles, so the server refuses their requests (reads too); "
            f"an admin can give them one with `clearance user roles {actor} --role ROLE`"
        )


def token_expiry(
    now: dt.datetime, lifetime: dt.timedelta | None, *, bound: dt.datetime | None
) -> dt.datetime | None:
    """When a new token expires (None: never), refused when it would outlive ``bound``, the
    expiry of the token that asks for it (None: no bound, for an admin or the operator)."""
    expires = None if lifetime is None else now + lifetime
    if bound is None or (expires is not None and expires <= bound):
        return expires
    asked = "a token that never expires" if expires is None else f"a token until {_at(expires)}"
    remaining = bound - now
    advice = (
        f"ask for at most {_whole(remaining)}"
        if remaining >= dt.timedelta(minutes=1)
        else "it has less than a minute left"
    )
    raise InputError(
        f"expires_in: {asked} would outlive the token making this request, which expires at "
        f"{_at(bound)}; {advice}, or ask an admin for a longer-lived token"
    )


def _at(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _whole(span: dt.timedelta) -> str:
    """``span`` rounded down to a duration as tokens take it (90m, 12h, 5d)."""
    for unit, size in (("d", dt.timedelta(days=1)), ("h", dt.timedelta(hours=1))):
        if span >= size:
            return f"{span // size}{unit}"
    return f"{span // dt.timedelta(minutes=1)}m"
