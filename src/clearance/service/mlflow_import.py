"""Register a version from MLflow: the clearance version is built from MLflow itself.

``models:/NAME/3``, ``models:/NAME@alias`` (pinned to the version the alias names now) or
``runs:/RUN_ID/path`` is read through the ``MlflowPort``: the source run's params, metrics,
tags and logged input datasets, the model version's tags, and the artifact files, which are
downloaded into a temporary folder (bounded by ``max_artifact_bytes`` and
``max_artifact_files``) and hashed:

* each file's sha256, listed as ``<sha256>  <path>`` lines (``sha256sum``'s format) sorted by
  path as UTF-8 bytes; the **artifact digest** is the sha256 of that listing. Anyone can
  recompute it from a download of the same files::

      find . -type f | sed 's|^\\./||' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum

The listing is stored in the blob store as the version's artifact (so the
``reproducibility`` gate checks the digest against stored bytes) and everything read from
MLflow is attached as the ``mlflow_provenance`` evidence. Registration itself is the
ordinary ``Registry.register`` of a manifest written here: the same checks, immutability,
roles and audit event as any version.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from pydantic import ValidationError

from clearance.core.hashing import canonical_json
from clearance.core.names import name_problem
from clearance.core.version import ModelInfo
from clearance.errors import InputError
from clearance.manifest import file_sha256
from clearance.service.access import authorize
from clearance.service.context import model_info
from clearance.service.mlflow_port import ArtifactFile, MlflowPort, ModelVersionInfo, Run
from clearance.service.mlflow_settings import MlflowSettings
from clearance.service.ports import Store, Tx
from clearance.service.records import VersionRecord
from clearance.service.registry import Registry

PROVENANCE = "mlflow_provenance"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
SEED_PARAMS = ("seed", "random_seed", "random_state")
LOCK_FILE = "requirements.txt"
# the clearance version's tags that bind it to MLflow (read by ``mlflow_sync``)
MODEL_TAG, VERSION_TAG, RUN_TAG = "mlflow.model_name", "mlflow.model_version", "mlflow.run_id"
GOVERNED_PREFIX = "clearance."  # MLflow tags clearance writes; never copied back in
_MODELS = re.compile(r"^models:/(?P<name>[^/:@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w\-]+))$")
_RUNS = re.compile(r"^runs:/(?P<run>[0-9A-Za-z_\-]+)/(?P<path>.+)$")


@dataclass(frozen=True)
class Source:
    """A parsed ``models:/`` or ``runs:/`` URI."""

    uri: str
    name: str | None = None
    version: str | None = None
    alias: str | None = None
    run_id: str | None = None
    path: str | None = None


def parse_source(uri: str) -> Source:
    if (m := _MODELS.match(uri)) is not None:
        return Source(uri, name=m["name"], version=m["version"], alias=m["alias"])
    if (m := _RUNS.match(uri)) is not None:
        path = m["path"].strip("/")
        parts = PurePosixPath(path).parts
        if not parts or any(p in (".", "..") for p in parts) or "\\" in path:
            raise InputError(f"{uri}: the path after the run id must name a folder of the run")
        return Source(uri, run_id=m["run"], path="/".join(parts))
    raise InputError(
        f"{uri!r} is not an MLflow model URI; give models:/NAME/VERSION, models:/NAME@ALIAS "
        "or runs:/RUN_ID/PATH"
    )


def artifact_listing(root: Path) -> tuple[str, list[dict[str, Any]]]:
    """The ``sha256sum`` listing of every file under ``root`` (sorted by path bytes) and
    each file's path, size and sha256; the artifact digest is the listing's sha256."""
    named = [(p.relative_to(root).as_posix(), p) for p in root.rglob("*") if p.is_file()]
    named.sort(key=lambda item: item[0].encode("utf-8"))
    lines, files = [], []
    for rel, path in named:
        if "\n" in rel or "\r" in rel:
            raise InputError(f"artifact file {rel!r} has a line break in its name")
        sha = file_sha256(path)
        lines.append(f"{sha}  {rel}\n")
        files.append({"path": rel, "size": path.stat().st_size, "sha256": sha})
    return "".join(lines), files


@dataclass(frozen=True)
class MlflowImport:
    store: Store
    registry: Registry
    mlflow: MlflowPort
    settings: MlflowSettings

    def register(
        self,
        uri: str,
        *,
        actor: str,
        model: str | None = None,
        version: str | None = None,
        risk_tier: str | None = None,
        owner: str | None = None,
        team: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> VersionRecord:
        """Register the version ``uri`` names; ``model``/``version`` name it in clearance
        (default: MLflow's name and version; a run needs ``model``). The model's risk tier,
        owner, team and tags come from the arguments, else from the model already in
        clearance; they decide which policy governs it."""
        source = parse_source(uri)
        mv, run, storage = self._resolve(source)
        name = model or (mv.name if mv else None)
        if name is None:
            raise InputError(f"{uri}: a run has no registered model name; give the model's name")
        number = version or (mv.version if mv else source.run_id or "")
        for what, text in (("model name", name), ("version", number)):
            if (problem := name_problem(text)) is not None:
                raise InputError(f"{what} {text!r} {problem}")
        given = {"risk_tier": risk_tier, "owner": owner, "team": team, "tags": tags}
        overrides = {k: v for k, v in given.items() if v is not None}
        info = self._model(name, number, mv, overrides, actor)
        with tempfile.TemporaryDirectory(prefix="clearance-mlflow-") as tmp:
            folder = Path(tmp)
            files = self._download(storage, folder / "files")
            manifest = self._manifest(folder, source, info, number, mv, run, storage, files)
            return self.registry.register(manifest, actor=actor)

    # reading MLflow ---------------------------------------------------------------------------
    def _resolve(self, source: Source) -> tuple[ModelVersionInfo | None, Run | None, str]:
        if source.name is not None:
            if source.alias is not None:
                mv = self.mlflow.version_by_alias(source.name, source.alias)
            else:
                mv = self.mlflow.model_version(source.name, str(source.version))
            run = self.mlflow.run(mv.run_id) if mv.run_id else None
            return mv, run, mv.storage_uri
        assert source.run_id is not None and source.path is not None
        run = self.mlflow.run(source.run_id)
        return None, run, self.mlflow.run_storage(source.run_id, source.path)

    def _model(
        self,
        name: str,
        number: str,
        mv: ModelVersionInfo | None,
        overrides: dict[str, Any],
        actor: str,
    ) -> ModelInfo:
        """The model as the manifest will give it, checked before anything is downloaded."""
        with self.store.reading() as tx:
            existing = tx.get_model(name)
            base = model_info(existing) if existing is not None else ModelInfo(name=name)
            try:
                info = ModelInfo.model_validate({**base.model_dump(), **overrides})
            except ValidationError as exc:
                problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
                raise InputError(f"model {name}: {problems}") from None
            authorize(tx, actor, "register", info)
            if mv is not None:
                self._check_binding(tx, name, mv)
            if existing is not None and tx.get_version(existing.id, number) is not None:
                raise InputError(
                    f"version {number} of {name} is already registered and versions are "
                    "immutable; register a new version"
                )
        return info

    @staticmethod
    def _check_binding(tx: Tx, name: str, mv: ModelVersionInfo) -> None:
        """One clearance model per MLflow registered model, and the other way round (both
        keep the same aliases, so two would fight over them); one clearance version per
        MLflow version."""
        for other in tx.list_models():
            tags = [v.record.get("tags", {}) for v in tx.list_versions(other.id)]
            bound = {t[MODEL_TAG] for t in tags if MODEL_TAG in t}
            if other.name == name and bound and bound != {mv.name}:
                raise InputError(
                    f"model {name} follows MLflow model {', '.join(sorted(bound))}, not "
                    f"{mv.name}; register it under another clearance model name"
                )
            if other.name != name and mv.name in bound:
                raise InputError(
                    f"MLflow model {mv.name} is already governed as clearance model "
                    f"{other.name}; register its versions there"
                )
            if other.name == name and any(t.get(VERSION_TAG) == mv.version for t in tags):
                raise InputError(
                    f"MLflow model {mv.name} version {mv.version} is already registered in "
                    f"clearance as a version of {name}; versions are immutable"
                )

    def _download(self, storage: str, into: Path) -> list[ArtifactFile]:
        files = self.mlflow.list_files(storage)
        limit, most = self.settings.max_artifact_bytes, self.settings.max_artifact_files
        if not files:
            raise InputError(f"no artifact files at {storage}")
        if len(files) > most:
            raise InputError(
                f"the artifact at {storage} has {len(files)} files, more than "
                f"max_artifact_files ({most}) in mlflow.yaml"
            )
        listed = sum(f.size or 0 for f in files)
        into.mkdir(parents=True)
        total = 0
        for f in files:
            if listed > limit:
                break
            local = self.mlflow.download(storage, f.path, into)
            if not local.resolve().is_relative_to(into.resolve()):
                raise InputError(f"artifact file {f.path!r} lies outside the artifact folder")
            total += local.stat().st_size
            if total > limit:
                break
        if max(listed, total) > limit:
            raise InputError(
                f"the artifact at {storage} holds more than max_artifact_bytes ({limit} bytes, "
                "mlflow.yaml); raise it to register this model"
            )
        return files

    # the manifest ------------------------------------------------------------------------------
    def _manifest(
        self,
        folder: Path,
        source: Source,
        info: ModelInfo,
        number: str,
        mv: ModelVersionInfo | None,
        run: Run | None,
        storage: str,
        listed: list[ArtifactFile],
    ) -> Path:
        listing, files = artifact_listing(folder / "files")
        digest = hashlib.sha256(listing.encode("utf-8")).hexdigest()
        pinned = f"models:/{mv.name}/{mv.version}" if mv else source.uri
        # A manifest records an artifact's path as its URI: the listing is written at a
        # path that spells the MLflow URI (parse_source allows no '..' or absolute parts).
        artifact = folder / pinned
        artifact.parent.mkdir(parents=True, exist_ok=True)
        artifact.write_text(listing, encoding="utf-8")
        metrics = dict(run.metrics) if run else {}
        finite = {k: v for k, v in metrics.items() if math.isfinite(v)}
        provenance = {
            "format": "clearance.mlflow/v1",
            "tracking": self.mlflow.location(),
            "requested": source.uri,
            "model_version": None if mv is None else _plain(mv),
            "run": None if run is None else {**_plain(run), "metrics": finite},
            "dropped_metrics": sorted(set(metrics) - set(finite)),
            "artifact": {
                "uri": pinned,
                "storage_uri": storage,
                "digest": digest,
                "digest_rule": "sha256 of the listing '<sha256>  <path>\\n' per file, "
                "sorted by path as UTF-8 bytes",
                "files": files,
            },
        }
        (folder / "mlflow.json").write_text(canonical_json(provenance), encoding="utf-8")
        version_tags = {
            k: v for k, v in (mv.tags if mv else {}).items() if not k.startswith(GOVERNED_PREFIX)
        }
        if mv is not None:
            version_tags |= {MODEL_TAG: mv.name, VERSION_TAG: mv.version}
        if run is not None:
            version_tags[RUN_TAG] = run.run_id
        doc = {
            "apiVersion": "clearance/v1",
            "kind": "ModelManifest",
            "model": info.model_dump(),
            "version": number,
            "artifact": {"path": pinned, "sha256": digest},
            "lineage": _lineage(run, files),
            "metrics": finite,
            "params": dict(run.params) if run else {},
            "features": _features(folder / "files"),
            "tags": version_tags,
            "evidence": {PROVENANCE: {"kind": "other", "path": "mlflow.json"}},
        }
        manifest = folder / "manifest.yaml"
        manifest.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return manifest


def _plain(record: Any) -> dict[str, Any]:
    data = asdict(record)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def _lineage(run: Run | None, files: list[dict[str, Any]]) -> dict[str, Any]:
    """code commit (the run's git tag), data snapshot (its training datasets as
    ``name@digest``, else every dataset), config digest (sha256 of its params as canonical
    JSON), seed (a ``seed``/``random_seed``/``random_state`` param), environment lock (the
    sha256 of the artifact's ``requirements.txt``)."""
    lock = next((f["sha256"] for f in files if f["path"] == LOCK_FILE), None)
    if run is None:
        return {"environment_lock_digest": lock}
    training = [d for d in run.datasets if d.context == "training"] or list(run.datasets)
    snapshot = ",".join(sorted(f"{d.name}@{d.digest}" for d in training)) or None
    seed = None
    for name in SEED_PARAMS:
        if re.fullmatch(r"-?\d{1,18}", run.params.get(name, "").strip()):
            seed = int(run.params[name])
            break
    config = hashlib.sha256(canonical_json(dict(run.params)).encode()).hexdigest()
    return {
        "code_commit": run.tags.get(GIT_COMMIT_TAG),
        "data_snapshot": snapshot,
        "config_digest": config if run.params else None,
        "seed": seed,
        "environment_lock_digest": lock,
    }


def _features(files: Path) -> list[str]:
    """The input column names of the model's signature (``MLmodel``), when it has one."""
    try:
        mlmodel = yaml.safe_load((files / "MLmodel").read_text(encoding="utf-8"))
        inputs = json.loads(mlmodel["signature"]["inputs"])
        return [str(col["name"]) for col in inputs if isinstance(col, dict) and "name" in col]
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
        return []
