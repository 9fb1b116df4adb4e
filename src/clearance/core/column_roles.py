"""The column mapping: which dataset column plays which role (label, score, groups...).

Apart from the columns themselves (:mod:`clearance.core.columns`), so that the manifest and
version models, which every command loads, do not import numpy.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

ROLES = ("label", "score", "prediction", "champion_score", "sensitive_features", "features")


class ColumnMapping(BaseModel):
    """Which column plays which role; given in the manifest's evidence entry or a gate's params.

    A gate's ``columns:`` overrides the evidence entry's, role by role.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str | None = Field(default=None, description="The true outcome (0/1 or numeric).")
    score: str | None = Field(default=None, description="The model's score or probability.")
    prediction: str | None = Field(default=None, description="The model's decision (0/1).")
    champion_score: str | None = Field(
        default=None, description="The champion's score on the same rows."
    )
    sensitive_features: list[str] | None = Field(
        default=None, description="Columns that define groups for fairness."
    )
    features: list[str] | None = Field(default=None, description="Model input columns.")

    def merged(self, override: ColumnMapping | None) -> ColumnMapping:
        """This mapping with every role that ``override`` sets replaced."""
        if override is None:
            return self
        data = self.model_dump()
        data.update(override.model_dump(exclude_none=True))
        return ColumnMapping.model_validate(data)
