"""Argument types the declarations share, with the limits every transport applies."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_ID = 2**63 - 1  # the largest number a database integer column holds

# A numeric id: positive and within the database's integers (else 422, not 5xx).
RecordId = Annotated[int, Field(ge=1, le=MAX_ID, description="A numeric id.")]
