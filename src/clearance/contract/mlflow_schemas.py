"""The JSON bodies of the MLflow operations (``clearance.contract.mlflow``)."""

from __future__ import annotations

from pydantic import Field

from clearance.contract.schemas import Body
from clearance.core.names import Name

MAX_URI = 1000  # a models:/ or runs:/ URI; MLflow's names are at most a few hundred characters
MAX_MODELS = 1000


class MlflowRegisterBody(Body):
    uri: str = Field(
        min_length=1,
        max_length=MAX_URI,
        pattern=r"^(models|runs):/",
        description="models:/NAME/VERSION, models:/NAME@ALIAS or runs:/RUN_ID/PATH.",
    )
    model: Name | None = Field(
        default=None, description="The model's name in clearance (default: MLflow's)."
    )
    version: Name | None = Field(
        default=None, description="The version's name in clearance (default: MLflow's number)."
    )
    risk_tier: str | None = Field(default=None, description="Default: the model's own.")
    owner: str | None = None
    team: str | None = None
    tags: dict[str, str] | None = Field(
        default=None, description="The model's tags (they choose the governing policy)."
    )


class MlflowReconcileBody(Body):
    models: list[Name] | None = Field(
        default=None,
        max_length=MAX_MODELS,
        description="Only these clearance models (default: every one registered from MLflow).",
    )
    revert: bool | None = Field(
        default=None, description="Move ungoverned changes back (default: mlflow.yaml's revert)."
    )
