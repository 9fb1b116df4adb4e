"""``InMemoryBlobStore``: the ``BlobStore`` port in a dict, named by sha256 like the files."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from clearance.adapters.clock import SystemClock
from clearance.service.ports import BlobStore, Clock


class InMemoryBlobStore:
    """Blobs by sha256; ``stored()`` reports when each was last put (from ``clock``)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self._blobs: dict[str, bytes] = {}
        self._modified: dict[str, dt.datetime] = {}

    def put_file(self, path: Path) -> tuple[str, int]:
        """Keep ``path``'s bytes; return their sha256 and size."""
        return self.put_bytes(path.read_bytes())

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        sha = hashlib.sha256(data).hexdigest()
        self._blobs.setdefault(sha, data)
        self._modified[sha] = self.clock.now()  # fresh again: garbage collection spares it
        return sha, len(data)

    def read(self, sha256: str) -> bytes:
        self.verify(sha256)
        return self._blobs[sha256]

    def has(self, sha256: str) -> bool:
        return sha256 in self._blobs

    def verify(self, sha256: str) -> None:
        """Raise ``OSError`` if the blob is missing or its bytes no longer match its name."""
        if sha256 not in self._blobs:
            raise FileNotFoundError(f"blob {sha256[:12]}… is missing")
        if hashlib.sha256(self._blobs[sha256]).hexdigest() != sha256:
            raise OSError(f"blob {sha256[:12]}… is corrupted: its bytes no longer match its digest")

    def stored(self) -> Iterator[tuple[str, dt.datetime]]:
        """Every blob (sha256, last put), in sha256 order."""
        for sha in sorted(self._blobs):
            yield sha, self._modified[sha]

    def remove(self, sha256: str) -> None:
        self._blobs.pop(sha256, None)
        self._modified.pop(sha256, None)

    def corrupt(self, sha256: str, data: bytes) -> None:
        """Replace a blob's bytes behind the store's back (what a bad disk would do)."""
        self._blobs[sha256] = data


if TYPE_CHECKING:  # mypy holds the fake to the port
    _port: BlobStore = InMemoryBlobStore()
