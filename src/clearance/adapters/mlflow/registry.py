"""``MlflowRegistry``: the ``MlflowPort`` over MLflow's own client (MLflow 3.x).

Reads and writes go through ``MlflowClient`` and MLflow's artifact repositories, so every
tracking store MLflow supports works (a ``sqlite:///`` or ``file:`` store, a tracking server,
Databricks), authenticated by MLflow's own environment variables. MLflow's errors are
translated at this boundary: an unknown name is ``NotFound``, a refused value an
``InputError``, anything else (connection refused, a 5xx) ``MlflowUnavailable``. MLflow
retries a failing HTTP call itself (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``,
``MLFLOW_HTTP_REQUEST_TIMEOUT``); lower them where a scheduler must not wait long.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from clearance.errors import InputError, NotFound
from clearance.extras import missing_extra
from clearance.service.mlflow_governance import MlflowGovernance
from clearance.service.mlflow_port import (
    ArtifactFile,
    Dataset,
    MlflowUnavailable,
    ModelVersionInfo,
    Run,
)
from clearance.service.mlflow_settings import MlflowSettings
from clearance.service.ports import Clock, IdempotencyPort, Store
from clearance.service.registry import Registry

try:
    # the ignores: mypy runs in environments without the extra, too
    from mlflow import MlflowClient  # type: ignore[import-not-found,unused-ignore]
    from mlflow.exceptions import MlflowException  # type: ignore[import-not-found,unused-ignore]
    from mlflow.store.artifact.artifact_repository_registry import (  # type: ignore[import-not-found,unused-ignore]
        get_artifact_repository,
    )
except ImportError as exc:  # pragma: no cover - exercised without the extra installed
    missing = missing_extra(exc, "MLflow support")
    if missing is None:  # MLflow is there but not MLflow 3 (a module moved)
        raise InputError(
            f"MLflow support needs MLflow 3: pip install 'clearance[mlflow]' ({exc})"
        ) from None
    raise missing from None

_NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}
_REFUSED = {"INVALID_PARAMETER_VALUE", "RESOURCE_ALREADY_EXISTS", "BAD_REQUEST"}
_MESSAGE = 300  # MLflow's messages can carry whole responses


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except MlflowException as exc:
        message = f"MLflow: {what}: {str(exc.message)[:_MESSAGE]}"
        if exc.error_code in _NOT_FOUND:
            raise NotFound(message) from None
        if exc.error_code in _REFUSED:
            raise InputError(message) from None
        raise MlflowUnavailable(message) from None
    except OSError as exc:  # requests' errors are OSErrors too
        raise MlflowUnavailable(f"MLflow: {what}: {exc}"[:_MESSAGE]) from None


def redacted(uri: str) -> str:
    """``uri`` without user name or password."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


class MlflowRegistry:
    """The ``MlflowPort`` over ``MlflowClient``."""

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
        self._tracking = self._client._tracking_client.tracking_uri
        self._repos: dict[str, Any] = {}

    def location(self) -> str:
        return redacted(self._tracking)

    def model_version(self, name: str, version: str) -> ModelVersionInfo:
        with _translated(f"model {name} version {version}"):
            mv = self._client.get_model_version(name, version)
            return self._version(mv)

    def version_by_alias(self, name: str, alias: str) -> ModelVersionInfo:
        with _translated(f"model {name} alias @{alias}"):
            return self._version(self._client.get_model_version_by_alias(name, alias))

    def _version(self, mv: Any) -> ModelVersionInfo:
        storage = self._client.get_model_version_download_uri(mv.name, mv.version)
        return ModelVersionInfo(
            name=mv.name,
            version=str(mv.version),
            source=mv.source or "",
            run_id=mv.run_id or None,
            storage_uri=storage,
            tags=dict(mv.tags or {}),
            aliases=tuple(mv.aliases or ()),
            description=mv.description or "",
            created_ms=mv.creation_timestamp,
        )

    def run(self, run_id: str) -> Run:
        with _translated(f"run {run_id}"):
            run = self._client.get_run(run_id)
        info, data = run.info, run.data
        datasets = tuple(
            Dataset(
                name=d.dataset.name,
                digest=d.dataset.digest,
                source_type=d.dataset.source_type,
                source=d.dataset.source,
                context={t.key: t.value for t in d.tags}.get("mlflow.data.context"),
                schema=d.dataset.schema,
                profile=d.dataset.profile,
            )
            for d in (run.inputs.dataset_inputs if run.inputs else [])
        )
        return Run(
            run_id=info.run_id,
            experiment_id=str(info.experiment_id),
            name=info.run_name or "",
            status=str(info.status),
            user=info.user_id or "",
            start_ms=info.start_time,
            end_ms=info.end_time,
            artifact_uri=info.artifact_uri or "",
            params=dict(data.params),
            metrics=dict(data.metrics),
            tags=dict(data.tags),
            datasets=datasets,
        )

    def run_storage(self, run_id: str, path: str) -> str:
        """A logged model of the run named ``path`` (MLflow 3 keeps those apart from the
        run's artifacts), else the run's own artifact folder ``path``."""
        with _translated(f"run {run_id}"):
            run = self._client.get_run(run_id)
            outputs = run.outputs.model_outputs if run.outputs else []
            for output in outputs:
                logged = self._client.get_logged_model(output.model_id)
                if logged.name == path:
                    return str(logged.artifact_location)
        return f"{run.info.artifact_uri.rstrip('/')}/{path}"

    def _repo(self, storage_uri: str) -> Any:
        if storage_uri not in self._repos:
            with _translated(f"artifacts at {storage_uri}"):
                self._repos[storage_uri] = get_artifact_repository(
                    storage_uri, tracking_uri=self._tracking
                )
        return self._repos[storage_uri]

    def list_files(self, storage_uri: str) -> list[ArtifactFile]:
        repo = self._repo(storage_uri)

        def walk(path: str | None) -> Iterator[ArtifactFile]:
            for f in repo.list_artifacts(path):
                if f.is_dir:
                    yield from walk(f.path)
                else:
                    yield ArtifactFile(path=f.path, size=f.file_size)

        with _translated(f"artifacts at {storage_uri}"):
            return list(walk(None))

    def download(self, storage_uri: str, path: str, dest: Path) -> Path:
        with _translated(f"artifact {path} at {storage_uri}"):
            return Path(self._repo(storage_uri).download_artifacts(path, dst_path=str(dest)))

    def aliases(self, name: str) -> dict[str, str]:
        with _translated(f"model {name}"):
            model = self._client.get_registered_model(name)
        return {alias: str(version) for alias, version in (model.aliases or {}).items()}

    def version_tags(self, name: str, version: str) -> dict[str, str]:
        with _translated(f"model {name} version {version}"):
            return dict(self._client.get_model_version(name, version).tags or {})

    def set_alias(self, name: str, alias: str, version: str) -> None:
        with _translated(f"setting @{alias} of {name}"):
            self._client.set_registered_model_alias(name, alias, version)

    def delete_alias(self, name: str, alias: str) -> None:
        with _translated(f"removing @{alias} of {name}"):
            self._client.delete_registered_model_alias(name, alias)

    def set_tag(self, name: str, version: str, key: str, value: str) -> None:
        with _translated(f"tagging {name} version {version}"):
            self._client.set_model_version_tag(name, version, key, value)

    def delete_tag(self, name: str, version: str, key: str) -> None:
        with _translated(f"untagging {name} version {version}"):
            self._client.delete_model_version_tag(name, version, key)


def mlflow_governance(
    store: Store,
    clock: Clock,
    registry: Registry,
    settings: MlflowSettings,
    leases: IdempotencyPort,
    env: Mapping[str, str] | None = None,
    alert_now: Callable[[], object] | None = None,
) -> MlflowGovernance:
    """The MLflow use cases wired to a real MLflow, as ``mlflow.yaml`` says."""
    port = MlflowRegistry(settings.tracking_uri, settings.registry_uri)
    environ = os.environ if env is None else env
    return MlflowGovernance(store, clock, registry, port, settings, leases, environ, alert_now)
