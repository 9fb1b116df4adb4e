"""``InMemoryMlflow``: the ``MlflowPort`` in dicts, for tests of the MLflow use cases.

It keeps MLflow's promises that the use cases rely on: an unknown model, version, alias or
run is ``NotFound``; an alias names one version of its model; deleting a version takes its
aliases with it. ``down = True`` makes every call fail as an unreachable server does, and
``writes`` lists every change made through the port, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from clearance.errors import NotFound
from clearance.service.mlflow_port import ArtifactFile, MlflowUnavailable, ModelVersionInfo, Run


@dataclass
class _Model:
    versions: dict[str, ModelVersionInfo] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)


class InMemoryMlflow:
    def __init__(self, location: str = "memory://mlflow") -> None:
        self._location = location
        self.models: dict[str, _Model] = {}
        self.runs: dict[str, Run] = {}
        self.files: dict[str, dict[str, bytes]] = {}  # storage URI -> path -> content
        self.logged: dict[tuple[str, str], str] = {}  # (run id, name) -> storage URI
        self.writes: list[tuple[str, ...]] = []
        self.down = False

    # building a registry -------------------------------------------------------------------
    def add_run(self, run: Run, files: dict[str, bytes] | None = None, path: str = "model") -> str:
        """Record ``run`` and a logged model ``path`` of it holding ``files``; its storage."""
        self.runs[run.run_id] = run
        storage = f"memory://artifacts/{run.run_id}/{path}"
        self.files[storage] = dict(files or {})
        self.logged[(run.run_id, path)] = storage
        return storage

    def add_version(
        self,
        name: str,
        run_id: str | None,
        files: dict[str, bytes],
        tags: dict[str, str] | None = None,
    ) -> ModelVersionInfo:
        model = self.models.setdefault(name, _Model())
        number = str(len(model.versions) + 1)
        storage = f"memory://models/{name}/{number}"
        self.files[storage] = dict(files)
        mv = ModelVersionInfo(
            name=name,
            version=number,
            source=f"models:/m-{name}-{number}",
            run_id=run_id,
            storage_uri=storage,
            tags=dict(tags or {}),
        )
        model.versions[number] = mv
        return mv

    def delete_version(self, name: str, version: str) -> None:
        model = self._model(name)
        model.versions.pop(version)
        model.aliases = {a: v for a, v in model.aliases.items() if v != version}

    # the port --------------------------------------------------------------------------------
    def _check(self) -> None:
        if self.down:
            raise MlflowUnavailable("MLflow: connection refused (InMemoryMlflow.down)")

    def _model(self, name: str) -> _Model:
        self._check()
        if name not in self.models:
            raise NotFound(f"MLflow: registered model {name!r} not found")
        return self.models[name]

    def _mv(self, name: str, version: str) -> ModelVersionInfo:
        model = self._model(name)
        if version not in model.versions:
            raise NotFound(f"MLflow: model {name} has no version {version}")
        mv = model.versions[version]
        aliases = tuple(a for a, v in model.aliases.items() if v == version)
        return replace(mv, aliases=aliases)

    def location(self) -> str:
        return self._location

    def model_version(self, name: str, version: str) -> ModelVersionInfo:
        return self._mv(name, version)

    def version_by_alias(self, name: str, alias: str) -> ModelVersionInfo:
        model = self._model(name)
        if alias not in model.aliases:
            raise NotFound(f"MLflow: model {name} has no alias @{alias}")
        return self._mv(name, model.aliases[alias])

    def run(self, run_id: str) -> Run:
        self._check()
        if run_id not in self.runs:
            raise NotFound(f"MLflow: run {run_id} not found")
        return self.runs[run_id]

    def run_storage(self, run_id: str, path: str) -> str:
        run = self.run(run_id)
        return self.logged.get((run_id, path), f"{run.artifact_uri}/{path}")

    def list_files(self, storage_uri: str) -> list[ArtifactFile]:
        self._check()
        found = self.files.get(storage_uri, {})
        return [ArtifactFile(path=p, size=len(b)) for p, b in sorted(found.items())]

    def download(self, storage_uri: str, path: str, dest: Path) -> Path:
        self._check()
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.files[storage_uri][path])
        return target

    def aliases(self, name: str) -> dict[str, str]:
        return dict(self._model(name).aliases)

    def version_tags(self, name: str, version: str) -> dict[str, str]:
        return dict(self._mv(name, version).tags)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._mv(name, version)
        self.models[name].aliases[alias] = version
        self.writes.append(("set_alias", name, alias, version))

    def delete_alias(self, name: str, alias: str) -> None:
        self._model(name).aliases.pop(alias, None)
        self.writes.append(("delete_alias", name, alias))

    def set_tag(self, name: str, version: str, key: str, value: str) -> None:
        mv = self._mv(name, version)
        self.models[name].versions[version] = replace(mv, tags={**mv.tags, key: value})
        self.writes.append(("set_tag", name, version, key, value))

    def delete_tag(self, name: str, version: str, key: str) -> None:
        mv = self._mv(name, version)
        tags = {k: v for k, v in mv.tags.items() if k != key}
        self.models[name].versions[version] = replace(mv, tags=tags)
        self.writes.append(("delete_tag", name, version, key))
