# mypy: disable-error-code="empty-body"
# (the declarations have no bodies: the decorator sends each call through the transport)
"""Governed serving: what a serving process checks before it loads a model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from clearance.contract.operations import Contract, operation

if TYPE_CHECKING:  # imported when a transport reads the declarations (operations.py says why)
    from clearance.service.serving_check import ServingCheck


class ServingOps(Contract):
    @operation(
        "GET",
        "/models/{model}/serving/check",
        service="serving",
        handler="check",
        tags=("serving",),
        errors=(404,),
    )
    def serving_check(
        self,
        model: str,
        *,
        stage: Annotated[
            str, Field(min_length=1, max_length=100, description="The stage served from.")
        ] = "production",
        version: Annotated[
            str | None,
            Field(
                min_length=1,
                max_length=200,
                description="This version (e.g. the canary), not the stage's default.",
            ),
        ] = None,
    ) -> ServingCheck:
        """What serves in a stage and what a loader verifies before loading it: the version,
        its artifact digest, the decision's signed attestation, the waivers and emergency
        bypass it relied on with their expiry, the signing keys, and problems seen."""
