"""Who may do what: actions, the roles that may take them, and the refusal message.

Two kinds of action. Model actions (register, request, rollback, rollout, review) take their
roles from the governing policy's ``access`` section, falling back to ``MODEL_DEFAULTS``.
Server actions (apply policies, manage users and other people's tokens, sign checkpoints,
run the scheduled tick)
take theirs from ``SERVER_ROLES``. Approvals and waivers are governed elsewhere, by the
transition's ``approvals`` and the policy's ``waivers.grantors``. Pure: no store, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, get_args

from clearance.core.policy import Access, Policy
from clearance.errors import NotPermitted

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
