"""``.clearance/mlflow.yaml``: defaults, and located problems for a bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearance.service.mlflow_settings import MlflowSettings, MlflowSettingsError, load_settings


def _load(tmp_path: Path, text: str) -> MlflowSettings | None:
    path = tmp_path / "mlflow.yaml"
    path.write_text(text)
    return load_settings(path)


def test_no_file_means_no_mlflow(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "mlflow.yaml") is None


def test_an_empty_file_takes_the_defaults(tmp_path: Path) -> None:
    settings = _load(tmp_path, "")
    assert settings is not None
    assert settings.aliases == {"production": "champion"}
    assert settings.revert is False


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("tracking_uri: http://u:pw@mlflow:5000\n", ":1:", "holds a password"),
        ("aliases:\n  production: latest\n", ":2:", "not an alias MLflow accepts"),
        ("aliases:\n  production: v2\n", ":2:", "not an alias MLflow accepts"),
        ("aliases:\n  production: a\n  staging: a\n", ":2:", "one stage only"),
        ("revert: maybe\n", ":1:", "revert"),
        ("max_artifact_bytes: 0\n", ":1:", "max_artifact_bytes"),
        ("webhook_secret: s3cret\n", ":1:", "webhook_secret"),
        ("aliases: [\n", ":", ""),
    ],
)
def test_a_bad_file_is_refused_with_its_place(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    with pytest.raises(MlflowSettingsError) as err:
        _load(tmp_path, text)
    assert f"mlflow.yaml{where}" in str(err.value) and message in str(err.value)
