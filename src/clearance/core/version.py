"""A model version as the engine sees it, and the evidence attached to it.

The engine never opens files: it reads evidence through an ``EvidenceReader`` that the
caller passes in (files next to a manifest, a blob store, an in-memory fake in tests).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from clearance.core.column_roles import ColumnMapping
from clearance.core.policy import RiskTier

if TYPE_CHECKING:
    from numpy.typing import NDArray

SHA256 = r"^[0-9a-f]{64}$"
EvidenceKind = Literal["document", "report", "dataset", "metrics", "other"]
INT_RANGE = (-(2**63), 2**64 - 1)  # what a 64-bit integer, signed or not, can hold
Place = tuple[str | int, ...]
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # no database text holds these; UTF-8 neither


def odd_value(value: Any, *, plain: bool = False, path: Place = ()) -> tuple[Place, str] | None:
    """Where in ``value`` (dicts and lists, walked) a number is NaN or infinite, and why.

    With ``plain``, also an integer past 64 bits, or a text (or key) with NUL or a lone
    surrogate: what JSON readers, UTF-8 and databases cannot hold. Digests and the store
    would fail on these later with a traceback; this says so first, naming the place.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return path, f"Input should be a finite number (got {value})"  # as Pydantic says it
    if plain and isinstance(value, int) and not INT_RANGE[0] <= value <= INT_RANGE[1]:
        return path, "integer out of range (it must fit in 64 bits)"
    if plain and isinstance(value, str) and (bad := _UNSTORABLE.search(value)):
        return path, f"text may not contain U+{ord(bad.group()):04X} (NUL or a lone surrogate)"
    if isinstance(value, dict | list | tuple):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            found = odd_value(key, plain=plain, path=(*path, key)) if plain else None
            found = found or odd_value(item, plain=plain, path=(*path, key))
            if found is not None:
                return found
    return None


def refuse_odd(value: Any, *, plain: bool = False) -> Any:
    """``value`` unchanged, or a validation error located at the odd value inside it."""
    found = odd_value(value, plain=plain)
    if found is not None:  # ``at`` extends the error's location to the value inside
        raise PydanticCustomError("odd_value", "{message}", {"message": found[1], "at": found[0]})
    return value


# Free-form parameters: any YAML/JSON value, but every number in them finite.
Params = Annotated[dict[str, Any], AfterValidator(refuse_odd)]


class Data(BaseModel):
    """NaN and infinite numbers are refused everywhere: they compare false with every
    threshold and cannot be digested."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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
    seed: Annotated[int, Field(ge=INT_RANGE[0], le=INT_RANGE[1])] | None = None
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
    params: Params = Field(default_factory=dict)
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

    def read_artifact(self, max_bytes: int) -> bytes:
        """The artifact's first ``max_bytes + 1`` bytes at most (so a longer result says the
        artifact is larger than ``max_bytes``); ``KeyError`` when it has no content here,
        ``OSError`` if unreadable. Never loads or runs it."""
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

    def read_artifact(self, max_bytes: int) -> bytes:
        raise KeyError("artifact")

    def read_columns(self, name: str, columns: Sequence[str]) -> Mapping[str, NDArray[Any]]:
        raise KeyError(name)
