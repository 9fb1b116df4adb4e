"""A model version as the engine sees it, and the evidence attached to it.

The engine never opens files: it reads evidence through an ``EvidenceReader`` that the
caller passes in (files next to a manifest, a blob store, an in-memory fake in tests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Protocol

from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator

from clearance.core.columns import ColumnMapping
from clearance.core.policy import RiskTier

SHA256 = r"^[0-9a-f]{64}$"
EvidenceKind = Literal["document", "report", "dataset", "metrics", "other"]


class Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelInfo(Data):
    name: Annotated[str, Field(min_length=1)]
    risk_tier: RiskTier = "medium"
    owner: str = ""
    team: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


class Artifact(Data):
    uri: Annotated[str, Field(min_length=1, description="Path or URI of the model artifact.")]
    sha256: Annotated[str, Field(pattern=SHA256)] | None = Field(
        default=None, description="Digest recorded at training time."
    )


class Lineage(Data):
    code_commit: str | None = None
    data_snapshot: str | None = None
    config_digest: str | None = None
    seed: int | None = None
    environment_lock_digest: str | None = None


class Champion(Data):
    """The version currently in the target stage, for comparisons."""

    version: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)


class EvidenceItem(Data):
    """One attachment, by name; ``sha256`` is of its content, computed by the reader."""

    name: str
    kind: EvidenceKind
    uri: str
    sha256: Annotated[str, Field(pattern=SHA256)] | None = None
    size: int | None = None
    columns: ColumnMapping | None = Field(
        default=None,
        exclude_if=lambda v: v is None,  # absent from digests when unset: old digests hold
        description="For a dataset: which column is the label, score, ... (see ColumnMapping).",
    )


class ModelVersion(Data):
    model: ModelInfo
    version: Annotated[str, Field(min_length=1)]
    stage: str | None = None
    artifact: Artifact | None = None
    lineage: Lineage = Field(default_factory=Lineage)
    metrics: dict[str, float] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    features: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    champion: Champion | None = None
    evidence: dict[str, EvidenceItem] = Field(default_factory=dict)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class EvidenceReader(Protocol):
    """Reads evidence content; the one I/O port the gates use."""

    def read_bytes(self, name: str) -> bytes:
        """Content of evidence ``name``; ``KeyError`` if absent, ``OSError`` if unreadable."""
        ...

    def artifact_sha256(self) -> str | None:
        """sha256 of the artifact's actual bytes, or ``None`` when it cannot be read here."""
        ...

    def read_columns(self, name: str, columns: Sequence[str]) -> Mapping[str, NDArray[Any]]:
        """Only ``columns`` of dataset ``name`` (Parquet, CSV or Arrow IPC) as 1-D arrays.

        ``KeyError`` if the evidence is absent, ``ValueError`` naming the columns the file
        lacks, ``OSError`` if unreadable. Readers return a ``clearance.core.columns.Columns``
        (null masks, category codes and lists, the file's schema); see that module.
        """
        ...


class NoEvidence:
    """A reader for versions with no readable evidence (metadata-only checks)."""

    def read_bytes(self, name: str) -> bytes:
        raise KeyError(name)

    def artifact_sha256(self) -> str | None:
        return None

    def read_columns(self, name: str, columns: Sequence[str]) -> Mapping[str, NDArray[Any]]:
        raise KeyError(name)
