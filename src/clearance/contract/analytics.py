# mypy: disable-error-code="empty-body"
# (the declarations have no bodies: the decorator sends each call through the transport)
"""Governance analytics: the figures the dashboard charts, as one read."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from clearance.contract.operations import Contract, operation

if TYPE_CHECKING:  # imported when a transport reads the declarations (operations.py says why)
    from clearance.core.analytics import Analytics

Since = Annotated[
    dt.datetime | None,
    Field(description="Start of the window, inclusive (ISO 8601; UTC without a zone). "
          "Default: 90 days before until."),
]  # fmt: skip
Until = Annotated[
    dt.datetime | None,
    Field(description="End of the window, exclusive (ISO 8601). Default: now."),
]
ModelName = Annotated[
    str | None, Field(max_length=200, description="Only this model's decisions and moves.")
]
PolicyName = Annotated[
    str | None, Field(max_length=200, description="Only decisions under this policy (name).")
]
BucketSize = Annotated[
    Literal["day", "week"], Field(description="Width of the buckets of the series.")
]


class AnalyticsOps(Contract):
    @operation("GET", "/analytics", service="analytics", tags=("analytics",), errors=(404,))
    def analytics(
        self,
        *,
        since: Since = None,
        until: Until = None,
        model: ModelName = None,
        policy: PolicyName = None,
        bucket: BucketSize = "week",
    ) -> Analytics:
        """Gate pass rates over time, near misses, time in each stage, lead time, change
        failure rate, time to remediation, waivers and emergency changes, computed from the
        stored decisions and audit trail."""
