"""The MLflow port: what the MLflow use cases need from a tracking server and its registry.

Plain records cross it, never MLflow objects, so the use cases (``mlflow_import``,
``mlflow_sync``) run against ``clearance.testing.mlflow.InMemoryMlflow`` in tests and
against ``clearance.adapters.mlflow.MlflowRegistry`` (MLflow's ``MlflowClient``) in use.
An MLflow that cannot be reached raises ``MlflowUnavailable``; an unknown model, version,
alias or run raises ``NotFound``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from clearance.errors import StoreError


class MlflowUnavailable(StoreError):
    """MLflow could not be reached, or failed; nothing was changed here, and trying again
    later (``clearance mlflow reconcile``, the next ``tick``) may help."""


@dataclass(frozen=True)
class Dataset:
    """An input dataset logged on a run (``mlflow.log_input``), with MLflow's own digest."""

    name: str
    digest: str
    source_type: str
    source: str
    context: str | None = None  # the run's ``mlflow.data.context`` tag: training, eval, ...
    schema: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class Run:
    run_id: str
    experiment_id: str
    name: str
    status: str
    user: str
    start_ms: int | None
    end_ms: int | None
    artifact_uri: str
    params: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    datasets: tuple[Dataset, ...] = ()


@dataclass(frozen=True)
class ModelVersionInfo:
    """A registered model version; ``storage_uri`` is where its files are (the download URI)."""

    name: str
    version: str
    source: str
    run_id: str | None
    storage_uri: str
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    description: str = ""
    created_ms: int | None = None


@dataclass(frozen=True)
class ArtifactFile:
    """One file under an artifact location: its POSIX path relative to it, and its size
    when the store reports one."""

    path: str
    size: int | None


class MlflowPort(Protocol):
    def location(self) -> str:
        """The tracking server as provenance records it (credentials removed)."""
        ...

    def model_version(self, name: str, version: str) -> ModelVersionInfo: ...
    def version_by_alias(self, name: str, alias: str) -> ModelVersionInfo: ...
    def run(self, run_id: str) -> Run: ...
    def run_storage(self, run_id: str, path: str) -> str:
        """Where ``runs:/<run_id>/<path>`` keeps its files (a logged model's, or the run's)."""
        ...

    def list_files(self, storage_uri: str) -> list[ArtifactFile]:
        """Every file under the location, recursively."""
        ...

    def download(self, storage_uri: str, path: str, dest: Path) -> Path:
        """Download one file (``path`` as listed) into ``dest``; the local file."""
        ...

    def aliases(self, name: str) -> dict[str, str]:
        """alias -> version of a registered model."""
        ...

    def version_tags(self, name: str, version: str) -> dict[str, str]: ...
    def set_alias(self, name: str, alias: str, version: str) -> None: ...
    def delete_alias(self, name: str, alias: str) -> None: ...
    def set_tag(self, name: str, version: str, key: str, value: str) -> None: ...
    def delete_tag(self, name: str, version: str, key: str) -> None: ...
