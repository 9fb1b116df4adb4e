"""Waivers: time-bounded exceptions for one gate on one model (or one version of it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field


class Waiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    gate_id: str
    model: str
    version: str | None = Field(default=None, description="None: every version of the model.")
    expires_at: dt.datetime
    justification: str
    granted_by: str
    compensating_controls: list[str] = Field(default_factory=list)
    revoked: bool = False

    def applies(self, *, model: str, version: str, gate_id: str, now: dt.datetime) -> bool:
        """In force at ``now`` (the injected clock) for this gate on this model version."""
        return (
            not self.revoked
            and self.gate_id == gate_id
            and self.model == model
            and self.version in (None, version)
            and now < self.expires_at
        )


def find_waiver(
    waivers: Sequence[Waiver], *, model: str, version: str, gate_id: str, now: dt.datetime
) -> Waiver | None:
    """The applicable waiver that lasts longest (deterministic when several apply)."""
    usable = [
        w for w in waivers if w.applies(model=model, version=version, gate_id=gate_id, now=now)
    ]
    return max(usable, key=lambda w: (w.expires_at, w.id), default=None)
