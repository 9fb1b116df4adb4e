"""Evidence readers (the ``EvidenceReader`` port): local files, or the blob store.

``FileEvidence`` reads what a manifest names on disk (``clearance check``) and is the one
reader that may run the artifact (the ``latency`` gate's measure mode). ``BlobEvidence``
reads a registered version's evidence from the content-addressed blob store (the registry
and the server), and never unpickles an artifact. Datasets are read column by column
(``read_columns``) or in record batches (``read_batches``) by :mod:`clearance.adapters.datasets`;
pyarrow is imported on first use. A reader serves one evaluation and keeps the columns it has
decoded (:class:`~clearance.adapters.datasets.ColumnCache`, bounded by the per-dataset byte
limit), so gates reading the same dataset decode it once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clearance.adapters import latency
from clearance.core.gates.latency import CannotMeasure
from clearance.core.hashing import sha256_bytes
from clearance.core.version import ModelVersion
from clearance.manifest import file_sha256, read_manifest

if TYPE_CHECKING:  # `import clearance` loads this module: keep the service out of it
    from numpy.typing import NDArray

    from clearance.adapters.datasets import ColumnCache
    from clearance.core.gates.latency import Predict, Rows
    from clearance.service.ports import BlobStore


def _new_cache() -> ColumnCache:
    from clearance.adapters.datasets import ColumnCache, DatasetLimits

    return ColumnCache(DatasetLimits.from_env().max_bytes)


class FileEvidence:
    """Reads evidence and the artifact from local files."""

    def __init__(self, files: dict[str, Path], artifact: Path | None) -> None:
        self._files = files
        self._artifact = artifact
        self._artifact_sha: str | None = None
        self._columns: ColumnCache | None = None

    def _cache(self) -> ColumnCache:
        if self._columns is None:
            self._columns = _new_cache()
        return self._columns

    def local_path(self, name: str) -> Path | None:
        """The file evidence ``name`` is read from (None: not a file evidence of this one)."""
        return self._files.get(name)

    @property
    def paths(self) -> dict[str, Path]:
        """Local files of the evidence items that have one."""
        return dict(self._files)

    @property
    def artifact_path(self) -> Path | None:
        return self._artifact

    def read_bytes(self, name: str) -> bytes:
        return self._files[name].read_bytes()

    def read_columns(self, name: str, columns: Sequence[str]) -> Mapping[str, NDArray[Any]]:
        from clearance.adapters.datasets import read_columns

        path = self._files[name]
        return read_columns(path, columns, name=name, cache=self._cache())

    def read_batches(
        self, name: str, columns: Sequence[str], batch_rows: int
    ) -> Iterator[Mapping[str, NDArray[Any]]]:
        from clearance.adapters.datasets import read_batches

        return read_batches(self._files[name], columns, batch_rows, name=name, cache=self._cache())

    def dataset_rows(self, name: str) -> int | None:
        from clearance.adapters.datasets import dataset_rows

        return dataset_rows(self._files[name])

    def read_artifact(self, max_bytes: int) -> bytes:
        """The artifact file's first ``max_bytes + 1`` bytes at most (``KeyError`` without
        one); read, never loaded."""
        if self._artifact is None:
            raise KeyError("artifact")
        with self._artifact.open("rb") as f:
            return f.read(max_bytes + 1)

    def artifact_sha256(self) -> str | None:
        if self._artifact is None:
            return None
        if self._artifact_sha is None:
            self._artifact_sha = file_sha256(self._artifact)
        return self._artifact_sha

    def load_predictor(self, sha256: str | None) -> Predict:
        """The ``LatencyMeter`` capability: the artifact file, unpickled if it matches."""
        try:
            if self._artifact is None:
                raise KeyError("artifact")
            blob = self._artifact.read_bytes()
        except (KeyError, OSError) as exc:
            raise CannotMeasure(f"cannot read the artifact to measure it: {exc}") from None
        return latency.load_predictor(blob, sha256)

    def time_calls(self, predict: Predict, warmup: Sequence[Rows], timed: Sequence[Rows]) -> Rows:
        return latency.time_calls(predict, warmup, timed)


def load_manifest(path: Path | str, *, confined: bool = False) -> tuple[ModelVersion, Any]:
    """Read a manifest (:func:`clearance.manifest.read_manifest`) with a reader of its files:
    what ``evaluate`` takes. ``ManifestError`` with located problems on any fault.

    Datasets with a ``source:`` (DuckDB, Spark) are read by their engine, with the
    aggregates pushed down (``clearance.adapters.warehouse``). Not when ``confined`` (a
    server's upload staging): a manifest sent to a server must never make it open a path or
    a cluster of the sender's choosing, so there such a dataset is simply missing."""
    version, files = read_manifest(path, confined=confined)
    reader = FileEvidence(files.paths, files.artifact_path)
    if files.sources and not confined:
        from clearance.adapters.warehouse import with_warehouse

        return version, with_warehouse(reader, files.sources, base=Path(path).parent)
    return version, reader


class BlobEvidence:
    """Evidence read from the content-addressed blob store.

    Datasets are opened as files under the store when it has a ``path(sha256)`` (the
    ``FileBlobStore``: column reads and record batches, verified once per reader), else read
    into memory.

    It deliberately is no ``LatencyMeter``: an uploaded artifact is never unpickled in the
    registry or the server, so the ``latency`` gate's measure mode runs only in
    ``clearance check`` on local files.
    """

    def __init__(
        self, blobs: BlobStore, digests: Mapping[str, str | None], artifact_blob: str | None
    ) -> None:
        self._blobs = blobs
        self._digests = dict(digests)
        self._artifact_blob = artifact_blob
        self._verified: set[str] = set()
        self._columns: ColumnCache | None = None

    def _cache(self) -> ColumnCache:
        if self._columns is None:
            self._columns = _new_cache()
        return self._columns

    @classmethod
    def of(cls, blobs: BlobStore, version: ModelVersion, artifact_blob: str | None) -> BlobEvidence:
        return cls(blobs, {k: e.sha256 for k, e in version.evidence.items()}, artifact_blob)

    def read_bytes(self, name: str) -> bytes:
        sha = self._digests[name]
        if sha is None or not self._blobs.has(sha):
            raise KeyError(name)  # referenced by URI only: no content here
        return self._blobs.read(sha)

    def artifact_sha256(self) -> str | None:
        if self._artifact_blob is None or not self._blobs.has(self._artifact_blob):
            return None
        return sha256_bytes(self._blobs.read(self._artifact_blob))

    def read_artifact(self, max_bytes: int) -> bytes:
        """The artifact blob's first ``max_bytes + 1`` bytes at most (``KeyError`` when it is
        not stored); read, never unpickled."""
        sha = self._artifact_blob
        if sha is None or not self._blobs.has(sha):
            raise KeyError("artifact")
        source = self._located(sha)
        if isinstance(source, bytes):
            return source[: max_bytes + 1]
        with source.open("rb") as f:
            return f.read(max_bytes + 1)

    def _dataset(self, name: str) -> Path | bytes:
        sha = self._digests[name]
        if sha is None or not self._blobs.has(sha):
            raise KeyError(name)
        return self._located(sha)

    def _located(self, sha: str) -> Path | bytes:
        """A stored blob as its file (verified once per reader) when the store has files,
        else its bytes."""
        locate = getattr(self._blobs, "path", None)
        verify = getattr(self._blobs, "verify", None)
        if locate is None or verify is None:
            return self._blobs.read(sha)
        if sha not in self._verified:
            verify(sha)
            self._verified.add(sha)
        path: Path = locate(sha)
        return path

    def local_path(self, name: str) -> Path | None:
        """The stored (verified) file of dataset ``name``, when the store keeps files."""
        sha = self._digests.get(name)
        if sha is None or not self._blobs.has(sha):
            return None
        located = self._located(sha)
        return located if isinstance(located, Path) else None

    def read_columns(self, name: str, columns: Sequence[str]) -> Mapping[str, NDArray[Any]]:
        from clearance.adapters.datasets import read_columns

        return read_columns(self._dataset(name), columns, name=name, cache=self._cache())

    def read_batches(
        self, name: str, columns: Sequence[str], batch_rows: int
    ) -> Iterator[Mapping[str, NDArray[Any]]]:
        from clearance.adapters.datasets import read_batches

        return read_batches(
            self._dataset(name), columns, batch_rows, name=name, cache=self._cache()
        )

    def dataset_rows(self, name: str) -> int | None:
        from clearance.adapters.datasets import dataset_rows

        return dataset_rows(self._dataset(name))


class BlobEvidenceSource:
    """The service's ``EvidenceSource`` port over a blob store: a ``BlobEvidence`` per version."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    def open(self, version: ModelVersion, artifact_blob: str | None) -> BlobEvidence:
        return BlobEvidence.of(self.blobs, version, artifact_blob)
