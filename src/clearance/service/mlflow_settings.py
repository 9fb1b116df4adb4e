"""How a workspace talks to MLflow: ``.clearance/mlflow.yaml``.

The file's presence turns the MLflow integration on::

    tracking_uri: http://mlflow.internal:5000   # default: MLFLOW_TRACKING_URI, as MLflow reads it
    registry_uri: ...                           # default: the tracking URI
    aliases:                                    # stage -> the alias clearance keeps on it
      production: champion
      staging: challenger
    revert: false                               # move a hand-moved alias or tag back
    webhook_secret_env: CLEARANCE_MLFLOW_WEBHOOK_SECRET
    webhook_tolerance_s: 300
    max_artifact_bytes: 2147483648              # the most a registration downloads to hash
    max_artifact_files: 10000

Secrets never live here: MLflow's own variables (``MLFLOW_TRACKING_TOKEN``,
``MLFLOW_TRACKING_USERNAME``/``_PASSWORD``) authenticate the client, and the webhook's HMAC
key is read from the variable the file names. A bad file is reported like a bad policy:
each problem with its line, column and field, and nothing is used.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from clearance.core.loading import pydantic_problems
from clearance.core.names import Name
from clearance.core.yamlsource import Positions, YamlProblems, parse_yaml
from clearance.errors import InputError, Location, Problem

FILE_NAME = "mlflow.yaml"
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
_ALIAS = re.compile(r"^[\w\-]{1,255}$")  # what MLflow accepts as an alias
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")  # reserved by MLflow for versions


class MlflowSettingsError(InputError):
    """``mlflow.yaml`` is invalid; carries located problems."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class MlflowSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tracking_uri: str | None = None
    registry_uri: str | None = None
    aliases: dict[Name, str] = Field(default_factory=lambda: {"production": "champion"})
    revert: bool = False
    webhook_secret_env: EnvName = "CLEARANCE_MLFLOW_WEBHOOK_SECRET"
    webhook_tolerance_s: Annotated[int, Field(ge=1, le=3600)] = 300
    max_artifact_bytes: Annotated[int, Field(ge=1)] = 2 * 1024**3
    max_artifact_files: Annotated[int, Field(ge=1)] = 10_000

    @field_validator("tracking_uri", "registry_uri")
    @classmethod
    def _no_credentials(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).password is not None:
            raise ValueError(
                "holds a password: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD "
                "(or MLFLOW_TRACKING_TOKEN) in the environment instead"
            )
        return value

    @field_validator("aliases")
    @classmethod
    def _mlflow_aliases(cls, value: dict[str, str]) -> dict[str, str]:
        for stage, alias in value.items():
            if not _ALIAS.match(alias) or alias.lower() == "latest" or _VERSION_ALIAS.match(alias):
                raise ValueError(
                    f"{stage}: {alias!r} is not an alias MLflow accepts (letters, digits, _ "
                    "and -; not 'latest', not v<number>)"
                )
        if len(set(value.values())) != len(value):
            raise ValueError("each alias may stand for one stage only")
        return value

    def alias_of(self, stage: str) -> str | None:
        return self.aliases.get(stage)


def parse_settings(data: Any, *, positions: Positions | None = None) -> MlflowSettings:
    positions = positions or Positions(f"<{FILE_NAME}>")
    try:
        return MlflowSettings.model_validate({} if data is None else data)
    except ValidationError as exc:
        raise MlflowSettingsError(pydantic_problems(exc, positions)) from None


def load_settings(path: Path | str) -> MlflowSettings | None:
    """The settings in ``path``; None when there is no such file (MLflow is not used)."""
    file = Path(path)
    try:
        text = file.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise MlflowSettingsError(
            [Problem(Location(str(file)), "", f"cannot read: {exc}")]
        ) from None
    try:
        data, positions = parse_yaml(text, str(file))
    except YamlProblems as exc:
        raise MlflowSettingsError(exc.problems) from None
    return parse_settings(data, positions=positions)
