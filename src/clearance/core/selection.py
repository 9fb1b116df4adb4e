"""Which policy governs which model: selectors, and why one does not match."""

from __future__ import annotations

from collections.abc import Sequence

from clearance.core.policy import Policy, Selector
from clearance.core.version import ModelInfo
from clearance.errors import InputError, NotFound


def mismatches(selector: Selector, model: ModelInfo) -> list[str]:
    """Every selector clause the model fails, in words; empty when the selector matches."""
    out = []
    if selector.models and model.name not in selector.models:
        out.append(f"name in [{', '.join(selector.models)}] (model: {model.name})")
    if selector.risk_tier and model.risk_tier not in selector.risk_tier:
        out.append(f"risk_tier in [{', '.join(selector.risk_tier)}] (model: {model.risk_tier})")
    for key, want in sorted(selector.tags.items()):
        have = model.tags.get(key)
        if have != want:
            out.append(f"tag {key}={want} (model: {'none' if have is None else have})")
    return out


def require_selected(policy: Policy, model: ModelInfo) -> None:
    """Refuse to evaluate a model under a policy that does not govern it."""
    faults = mismatches(policy.selector, model)
    if faults:
        raise InputError(
            f"policy {policy.metadata.name} does not govern model {model.name}: "
            f"its selector wants {'; '.join(faults)}"
        )


def governing(policies: Sequence[Policy], model: ModelInfo) -> Policy:
    """The one policy whose selector matches; none or several is an error, never a guess."""
    matching = [p for p in policies if not mismatches(p.selector, model)]
    if len(matching) == 1:
        return matching[0]
    if not matching:
        raise NotFound(
            f"no applied policy governs model {model.name} (risk tier {model.risk_tier}, "
            f"tags {dict(sorted(model.tags.items())) or 'none'}); apply one with "
            "`clearance policy apply PATH`"
        )
    names = ", ".join(f"{p.metadata.name} {p.metadata.version}" for p in matching)
    raise InputError(
        f"several policies select model {model.name} ({names}); narrow their selectors so "
        "exactly one governs it"
    )
