"""Shared fakes and builders for the core tests: no files, no clock, no mocks.

``FakeEvidence`` is an in-memory ``EvidenceReader``; ``make_version`` builds a
``ModelVersion`` directly; ``make_policy`` turns plain data into a ``LoadedPolicy`` through
the real loader (so every policy a test uses is one the loader accepts).
"""

from __future__ import annotations

import copy
import datetime as dt
import errno
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from clearance.core.hashing import sha256_bytes
from clearance.core.loading import LoadedPolicy, load_policy, parse_policy
from clearance.core.version import EvidenceItem, ModelInfo, ModelVersion

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "credit-risk"
ARTIFACT = b"model weights v7"
ARTIFACT_SHA = sha256_bytes(ARTIFACT)
COMMIT = "3f9c2a1e8b7d6c5f4a3b2c1d0e9f8a7b6c5d4e3f"


class FakeEvidence:
    """An in-memory ``EvidenceReader``: evidence name -> bytes, plus the artifact's sha256.

    Names in ``unreadable`` raise ``OSError`` as a broken disk or store would.
    """

    def __init__(
        self,
        files: dict[str, bytes] | None = None,
        artifact_sha: str | None = ARTIFACT_SHA,
        unreadable: Iterable[str] = (),
    ) -> None:
        self.files = dict(files or {})
        self.artifact_sha = artifact_sha
        self.unreadable = set(unreadable)
        self.reads: list[str] = []

    def read_bytes(self, name: str) -> bytes:
        self.reads.append(name)
        if name in self.unreadable:
            raise OSError(errno.EACCES, "Permission denied", name)
        return self.files[name]

    def artifact_sha256(self) -> str | None:
        return self.artifact_sha

    def read_artifact(self, max_bytes: int) -> bytes:
        raise KeyError("artifact")  # these tests' versions have no artifact bytes to read

    def read_columns(self, name: str, columns: Sequence[str]) -> Mapping[str, Any]:
        """Datasets held as bytes (Parquet, CSV, Arrow IPC), read like a real reader does."""
        from clearance.adapters.datasets import read_columns

        data = self.read_bytes(name)
        return read_columns(data, columns, name=name, hint=name)


def evidence_items(files: dict[str, bytes], kind: str = "document") -> dict[str, EvidenceItem]:
    """Evidence records for ``files``, content-addressed as a real reader would do."""
    return {
        name: EvidenceItem(
            name=name, kind=kind, uri=f"mem://{name}", sha256=sha256_bytes(data), size=len(data)
        )
        for name, data in files.items()
    }


def _make_version(**overrides: Any) -> ModelVersion:
    """A complete, passing-looking version; ``overrides`` replace top-level fields.

    ``documents={name: bytes}`` is a shortcut that fills ``evidence`` from content.
    """
    documents = overrides.pop("documents", None)
    data: dict[str, Any] = {
        "model": ModelInfo(name="credit-default", risk_tier="high", tags={"domain": "credit"}),
        "version": "7",
        "stage": "staging",
        "artifact": {"uri": "mem://model.bin", "sha256": ARTIFACT_SHA},
        "lineage": {
            "code_commit": COMMIT,
            "data_snapshot": "loans-2025-06-30",
            "config_digest": "sha256:9a4c1e0b",
            "seed": 42,
        },
        "metrics": {"auc": 0.812, "latency_p95_ms": 84.0},
        "features": ["income", "utilization"],
        "champion": {"version": "6", "metrics": {"auc": 0.805, "latency_p95_ms": 90.0}},
    }
    if documents is not None:
        data["evidence"] = evidence_items(documents)
    data.update(overrides)
    return ModelVersion.model_validate(data)


def _policy_data(
    gates: list[dict[str, Any]] | None = None,
    transitions: list[dict[str, Any]] | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """A minimal valid policy document as plain data (gates default to one metric floor)."""
    gates = (
        [{"id": "auc_floor", "type": "metric_threshold", "metric": "auc", "min": 0.7}]
        if gates is None
        else gates
    )
    if transitions is None:
        transitions = [
            {"from": "draft", "to": "staging", "gates": [g["id"] for g in gates]},
            {
                "from": "staging",
                "to": "production",
                "gates": [g["id"] for g in gates],
                "approvals": [{"role": "model_owner"}],
            },
        ]
    doc: dict[str, Any] = {
        "apiVersion": "clearance/v1",
        "kind": "Policy",
        "metadata": {"name": "demo", "version": "1.0.0", "owner": "risk@example.com"},
        "workflow": {"stages": ["draft", "staging", "production"], "transitions": transitions},
        "gates": gates,
    }
    doc.update(copy.deepcopy(sections))
    return doc


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def _make_policy(
    gates: list[dict[str, Any]] | None = None,
    transitions: list[dict[str, Any]] | None = None,
    **sections: Any,
) -> LoadedPolicy:
    return parse_policy([("policy.yaml", _dump(_policy_data(gates, transitions, **sections)))])


@pytest.fixture(scope="session")
def now() -> dt.datetime:
    """The injected clock every test uses unless it moves it on purpose."""
    return NOW


@pytest.fixture(scope="session")
def artifact_sha() -> str:
    return ARTIFACT_SHA


@pytest.fixture(scope="session")
def fake_evidence() -> type[FakeEvidence]:
    return FakeEvidence


@pytest.fixture(scope="session")
def make_version() -> Callable[..., ModelVersion]:
    return _make_version


@pytest.fixture(scope="session")
def policy_data() -> Callable[..., dict[str, Any]]:
    return _policy_data


@pytest.fixture(scope="session")
def make_policy() -> Callable[..., LoadedPolicy]:
    return _make_policy


@pytest.fixture(scope="session")
def example_policy() -> LoadedPolicy:
    """The credit-risk example policy, split over two files."""
    return load_policy(EXAMPLE / "policy")


@pytest.fixture(scope="session")
def example_policy_path() -> Path:
    return EXAMPLE / "policy"
