# mypy: disable-error-code="empty-body"
# (the declarations have no bodies: the decorator sends each call through the transport)
"""Signed decision attestations (in-toto statements in DSSE envelopes, ADR 0017)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from clearance.contract.operations import Contract, operation
from clearance.contract.types import MAX_ID

if TYPE_CHECKING:  # imported when a transport reads the declarations (operations.py says why)
    from clearance.contract.types import RecordId
    from clearance.service.attestations import EnvelopeOut


class AttestationOps(Contract):
    @operation(
        "GET",
        "/requests/{request_id}/attestation",
        service="attestations",
        tags=("requests",),
        errors=(404,),
        route="get_attestation",
    )
    def attestation(
        self,
        request_id: RecordId,
        *,
        decision: Annotated[
            int | None,
            Field(
                ge=1,
                le=MAX_ID,
                description="This decision of the request (its number), not the latest.",
            ),
        ] = None,
    ) -> EnvelopeOut:
        """The DSSE envelope holding the signed in-toto statement of a request's decision;
        verify it offline with `clearance attest verify`."""
