"""Governed MLflow pyfunc loading: verify, then ``mlflow.pyfunc.load_model`` the verified copy.

An MLflow model is a directory. Its clearance digest is the MLflow import's rule (sha256 of
the ``sha256sum`` listing of its files, sorted by path: ``clearance mlflow register`` records
it). ``load_model`` copies the directory into a private folder, hashes the copy, judges the
serving check for that digest, and only then hands the copy to MLflow, so the files MLflow
reads are the files that were hashed. A ``models:/`` or ``runs:/`` URI is downloaded first
(``mlflow.artifacts.download_artifacts``) into a private folder.

Needs the ``mlflow`` extra (``mlflow-skinny`` is enough to load pyfunc models).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from clearance.extras import require
from clearance.serving.loader import ServedModel, load

REMOTE = ("models:/", "runs:/", "s3://", "gs://", "wasbs://", "http://", "https://")


def load_model(
    model: str,
    stage: str = "production",
    *,
    artifact: str | Path | None = None,
    **options: Any,
) -> ServedModel:
    """The governed pyfunc model: ``ServedModel.model`` is what ``mlflow.pyfunc.load_model``
    returns for the verified copy. ``artifact``: the model's local directory or an MLflow URI
    (default: the URI registered, when it is one MLflow can download). Other options as
    ``clearance.serving.load``'s."""
    pyfunc = require("mlflow.pyfunc", "loading an MLflow model")
    download: tempfile.TemporaryDirectory[str] | None = None
    where = artifact
    if where is None or str(where).startswith(REMOTE):
        if where is None:
            where = _registered_uri(model, stage, options)
        if str(where).startswith(REMOTE):
            artifacts = require("mlflow.artifacts", "downloading an MLflow model")
            download = tempfile.TemporaryDirectory(prefix="clearance-mlflow-")
            where = artifacts.download_artifacts(artifact_uri=str(where), dst_path=download.name)
    try:
        return load(model, stage, artifact=where, loader=_pyfunc(pyfunc), **options)
    finally:
        if download is not None:  # load verified and loaded a private copy of it
            download.cleanup()


def _pyfunc(pyfunc: Any) -> Any:
    def loader(copy: Any) -> Any:
        if not isinstance(copy, Path):
            raise TypeError("an MLflow model is a directory, not a single file")
        return pyfunc.load_model(str(copy))

    return loader


def _registered_uri(model: str, stage: str, options: dict[str, Any]) -> str | None:
    """The artifact URI the serving check names (e.g. ``models:/credit/3``)."""
    from clearance.serving.loader import connection

    keys = ("workspace", "url", "token", "client")
    with connection(**{k: options[k] for k in keys if k in options}) as conn:
        check = conn.serving_check(model, stage=stage, version=options.get("version"))
    return check.artifact.uri if check.artifact is not None else None
