"""``FileBlobStore``: evidence and artifacts kept by sha256 under the workspace.

Content addressing makes evidence append-only by construction: a changed file is a new blob
with a new name, and a blob whose bytes no longer match its name is reported, not served.
Blobs are 0600 in 0700 folders: evidence may be confidential.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from clearance.adapters.private import private_dir


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:]

    def put_file(self, path: Path) -> tuple[str, int]:
        """Copy ``path`` in (atomically); return its sha256 and size."""
        private_dir(self.root)
        h = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")  # 0600, kept on rename
        try:
            with os.fdopen(fd, "wb") as out, path.open("rb") as src:
                for block in iter(lambda: src.read(1 << 20), b""):
                    h.update(block)
                    size += len(block)
                    out.write(block)
            sha = h.hexdigest()
            target = self._path(sha)
            private_dir(target.parent)
            if target.exists():
                Path(tmp).unlink()
                os.utime(target)  # fresh again: garbage collection spares blobs in use
            else:
                Path(tmp).replace(target)
            return sha, size
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, sha256: str) -> bytes:
        data = self._path(sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise OSError(f"blob {sha256[:12]}… is corrupted: its bytes no longer match its digest")
        return data

    def path(self, sha256: str) -> Path:
        """Where blob ``sha256`` lives (for readers that open files, e.g. datasets by column).

        Unlike ``read`` this does not re-hash the content; callers that serve it verify it once
        (``verify``).
        """
        return self._path(sha256)

    def verify(self, sha256: str) -> None:
        """Raise ``OSError`` if the blob's bytes no longer match its name (streamed hash)."""
        h = hashlib.sha256()
        with self._path(sha256).open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != sha256:
            raise OSError(f"blob {sha256[:12]}… is corrupted: its bytes no longer match its digest")

    def has(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def stored(self) -> Iterator[tuple[str, dt.datetime]]:
        """Every blob (sha256, last modified), for garbage collection."""
        for folder in sorted(self.root.glob("[0-9a-f][0-9a-f]")):
            for file in sorted(folder.iterdir()):
                if file.is_file():
                    modified = dt.datetime.fromtimestamp(file.stat().st_mtime, dt.UTC)
                    yield folder.name + file.name, modified

    def remove(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)

    def export(self, sha256: str, target: Path) -> None:
        shutil.copyfile(self._path(sha256), target)
