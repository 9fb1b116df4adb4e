"""The governed MLflow pyfunc loader with a real MLflow model saved on disk.

The model folder is registered with the MLflow import's digest rule (sha256 of the
``sha256sum`` listing of its files); ``clearance.serving.mlflow.load_model`` copies it,
hashes the copy, verifies, and only then lets ``mlflow.pyfunc.load_model`` read the copy.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from clearance.local import LocalClearance
from clearance.service.mlflow_import import artifact_listing
from clearance.serving import ServingRefused
from serving_setup import MODEL, Story, story

mlflow_pyfunc = pytest.importorskip("mlflow.pyfunc")
pd = pytest.importorskip("pandas")


def tree_digest(folder: Path) -> str:
    listing, _ = artifact_listing(folder)
    return hashlib.sha256(listing.encode()).hexdigest()


def register_mlflow_model(s: Story, folder: Path) -> None:
    with warnings.catch_warnings():  # MLflow asks for type hints to infer a schema: none here
        warnings.simplefilter("ignore", UserWarning)

        class Doubler(mlflow_pyfunc.PythonModel):  # type: ignore[misc, name-defined]
            def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
                return [2 * x for x in model_input["income"]]

        mlflow_pyfunc.save_model(str(folder), python_model=Doubler())
    manifest = {
        "apiVersion": "clearance/v1",
        "kind": "ModelManifest",
        "model": {"name": MODEL, "risk_tier": "medium", "owner": "ml@example.com"},
        "version": "1",
        "artifact": {"uri": str(folder), "sha256": tree_digest(folder)},
        "metrics": {"auc": 0.8},
    }
    (s.root / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    s.ws.registry.register(s.root / "manifest.yaml", actor="alice")
    s.to_production("1")


def test_a_pyfunc_model_loads_only_as_approved(tmp_path: Path) -> None:
    from clearance.serving.mlflow import load_model

    s = story(tmp_path)
    folder = tmp_path / "mlflow-model"
    register_mlflow_model(s, folder)
    options: dict[str, Any] = {"client": LocalClearance(s.ws), "now": s.clock.now()}

    served = load_model(MODEL, **options)
    assert list(served.model.predict(pd.DataFrame({"income": [1.0, 2.5]}))) == [2.0, 5.0]
    assert served.verified.sha256 == tree_digest(folder)
    assert served.artifact.path is not None and served.artifact.path != folder  # a private copy

    (folder / "notes.txt").write_text("added after approval\n")
    with pytest.raises(ServingRefused) as raised:
        load_model(MODEL, **options)
    assert raised.value.reason == "digest_mismatch"
    (folder / "notes.txt").unlink()
    pickled = folder / "python_model.pkl"
    data = bytearray(pickled.read_bytes())
    data[-3] ^= 0x01
    pickled.write_bytes(bytes(data))
    with pytest.raises(ServingRefused) as raised:
        load_model(MODEL, artifact=folder, **options)
    assert raised.value.reason == "digest_mismatch"
