"""Model manifests: located errors, content-addressed evidence, a reader over local files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from clearance.adapters.evidence import load_manifest
from clearance.errors import ManifestError

MANIFEST = """\
apiVersion: clearance/v1
kind: ModelManifest
model: {name: credit-default, risk_tier: high}
version: 7
stage: staging
artifact: {path: model.bin, sha256: SHA}
metrics: {auc: 0.81}
evidence:
  model_card: {kind: document, path: card.md}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "model.bin").write_bytes(b"weights")
    (tmp_path / "card.md").write_text("# Intended use\n", encoding="utf-8")
    return tmp_path


def write(folder: Path, text: str) -> Path:
    sha = hashlib.sha256(b"weights").hexdigest()
    path = folder / "manifest.yaml"
    path.write_text(text.replace("SHA", sha), encoding="utf-8")
    return path


def test_manifest_loads_with_content_addressed_evidence(folder: Path) -> None:
    version, evidence = load_manifest(write(folder, MANIFEST))
    assert version.version == "7"
    assert version.model.risk_tier == "high"
    card = version.evidence["model_card"]
    assert card.sha256 == hashlib.sha256(b"# Intended use\n").hexdigest()
    assert evidence.read_bytes("model_card") == b"# Intended use\n"
    assert evidence.artifact_sha256() == version.artifact.sha256  # type: ignore[union-attr]
    with pytest.raises(KeyError):
        evidence.read_bytes("absent")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "path: card.md",
            "path: gone.md",
            ":9:38: error: evidence.model_card.path: file not found",
        ),
        (
            "kind: ModelManifest",
            "kind: Policy",
            ":2:7: error: kind: Input should be 'ModelManifest'",
        ),
        ("auc: 0.81", "auc: .nan", ":7:16: error: metrics.auc: Input should be a finite number"),
        ("path: model.bin, ", "", ":6:11: error: artifact: give exactly one of path or uri"),
        ("{name: credit-default", "{nme: credit-default", ":3:9: error: model.nme: unknown field"),
        ("stage: staging", "stage: [staging", ":6:9: error: YAML syntax"),
    ],
)
def test_manifest_faults_are_located(folder: Path, old: str, new: str, expected: str) -> None:
    path = write(folder, MANIFEST.replace(old, new))
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    found = [str(p) for p in info.value.problems]
    assert any(p.startswith(f"{path}{expected}") for p in found), found


def test_recorded_evidence_digest_must_match_the_file(folder: Path) -> None:
    text = MANIFEST.replace("path: card.md}", "path: card.md, sha256: " + "ab" * 32 + "}")
    with pytest.raises(ManifestError, match=r"evidence\.model_card\.sha256: recorded sha256 abab"):
        load_manifest(write(folder, text))


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such file"):
        load_manifest(tmp_path / "nope.yaml")


def test_uploads_are_named_as_written_even_through_a_symlink(folder: Path) -> None:
    from clearance.manifest import local_files

    (folder / "real").mkdir()
    (folder / "real" / "card.md").write_text("# Intended use\n", encoding="utf-8")
    (folder / "data").mkdir()
    (folder / "data" / "card.md").symlink_to(folder / "real" / "card.md")
    sha = hashlib.sha256(b"weights").hexdigest()
    text = MANIFEST.replace("SHA", sha).replace("path: card.md", "path: ./data/card.md")
    (folder / "manifest.yaml").write_text(text, encoding="utf-8")

    files = local_files(folder / "manifest.yaml")

    assert files == {"data/card.md": folder / "real" / "card.md", "model.bin": folder / "model.bin"}


@pytest.mark.parametrize("raw", ["../outside.md", "/etc/hostname", "link.md"])
def test_confined_loading_refuses_what_leaves_the_folder(folder: Path, raw: str) -> None:
    inner = folder / "inner"
    inner.mkdir()
    (folder / "outside.md").write_text("x")
    (inner / "link.md").symlink_to(folder / "outside.md")  # a symlink out of the folder
    (inner / "model.bin").write_bytes(b"weights")
    sha = hashlib.sha256(b"weights").hexdigest()
    text = MANIFEST.replace("SHA", sha).replace("path: card.md", f"path: {raw}")
    (inner / "manifest.yaml").write_text(text, encoding="utf-8")
    load_manifest(inner / "manifest.yaml")  # unconfined (local `check`): allowed

    with pytest.raises(ManifestError, match="must be a relative path inside the manifest"):
        load_manifest(inner / "manifest.yaml", confined=True)
