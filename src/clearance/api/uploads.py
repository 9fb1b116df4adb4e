"""Staging uploaded files on disk so the service's file-based use cases can read them.

A manifest registered through the API names its files by paths relative to itself; the
client uploads each file under that path. The manifest loader itself keeps every path it
reads inside the staging folder (``load_manifest(confined=True)``), so a manifest can never
make the server read its own files, however the path is written. Sizes are capped while
streaming and each file's sha256 is checked against the digest the client sent. Staging
folders go when the call ends; those of a killed server are removed at the next start.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import IO

from fastapi import UploadFile

from clearance.errors import (
    ClearanceError,
    InputError,
    Location,
    ManifestError,
    PolicyError,
    Problem,
)
from clearance.problem_types import TooLarge

CHUNK = 1 << 20
STAGING = "clearance-upload-"  # + the server's pid: a stale folder is one whose pid is gone


def safe_relative(raw: str, what: str) -> PurePosixPath:
    """``raw`` as a relative path that stays inside its folder, or a precise refusal."""
    path = PurePosixPath(raw.replace("\\", "/"))
    parts = [p for p in path.parts if p not in ("", ".")]
    if path.is_absolute() or not parts or ".." in parts:
        raise InputError(
            f"{what}: '{raw}' must be a relative path inside the manifest's folder "
            "(no absolute paths, no ..)"
        )
    return PurePosixPath(*parts)


def copy_limited(source: IO[bytes], target: Path, limit: int, name: str) -> tuple[str, int]:
    """Copy at most ``limit`` bytes; returns (sha256, size)."""
    digest, size = hashlib.sha256(), 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        while chunk := source.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"{name} is larger than the server's limit of {limit:,} bytes")
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


def check_digest(name: str, actual: str, expected: str | None) -> None:
    if expected is not None and expected.lower() != actual:
        raise InputError(
            f"{name}: the uploaded content has sha256 {actual[:12]}…, not the "
            f"{expected[:12]}… the client sent; the file changed or was corrupted on the way"
        )


@contextmanager
def staged(
    files: Sequence[UploadFile], digests: Mapping[str, str], limit: int
) -> Iterator[tuple[Path, dict[str, str]]]:
    """A temporary folder holding ``files`` under their (checked) relative names."""
    with tempfile.TemporaryDirectory(prefix=f"{STAGING}{os.getpid()}-") as tmp:
        root = Path(tmp)
        sums: dict[str, str] = {}
        for upload in files:
            rel = str(safe_relative(upload.filename or "", "uploaded file name"))
            if rel in sums:
                raise InputError(f"file {rel} was uploaded twice")
            sums[rel], _ = copy_limited(upload.file, root / rel, limit, rel)
            check_digest(rel, sums[rel], digests.get(rel))
        unknown = sorted(set(digests) - set(sums))
        if unknown:
            raise InputError(f"digests were sent for files not uploaded: {', '.join(unknown)}")
        try:
            yield root, sums
        except ClearanceError as exc:
            raise _relative_to(exc, root) from None


def remove_stale_staging(folder: Path | None = None) -> list[Path]:
    """Delete staging folders whose server process is gone (killed mid-upload)."""
    removed = []
    for path in Path(folder or tempfile.gettempdir()).glob(f"{STAGING}*"):
        pid = path.name.removeprefix(STAGING).split("-", 1)[0]
        if path.is_dir() and not (pid.isdigit() and _alive(int(pid))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _relative_to(exc: ClearanceError, root: Path) -> ClearanceError:
    """The same error with the staging folder cut out of its file names."""
    prefix = f"{root}/"
    if isinstance(exc, PolicyError | ManifestError):
        fixed = [
            replace(
                p,
                location=replace(p.location, file=p.location.file.removeprefix(prefix)),
                message=p.message.replace(prefix, ""),
            )
            for p in exc.problems
        ]
        return type(exc)(fixed)
    clone = type(exc)(str(exc).replace(prefix, ""))
    return clone


def read_documents(files: Sequence[UploadFile], limit: int) -> list[tuple[str, str]]:
    """Uploaded policy files as (relative name, text), sorted as a folder's files are.

    One policy's files together are one document: ``limit`` bounds their sum, so a policy
    can never hold more in memory than a single file could."""
    out: dict[str, str] = {}
    room = limit
    for upload in files:
        name = str(safe_relative(upload.filename or "", "uploaded file name"))
        if name in out:
            raise InputError(f"file {name} was uploaded twice")
        data = upload.file.read(room + 1)
        room -= len(data)
        if room < 0:
            raise TooLarge(
                f"{name}: the policy's files are larger than the server's limit of "
                f"{limit:,} bytes (CLEARANCE_MAX_DOCUMENT_BYTES)"
            )
        try:
            out[name] = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyError(
                [Problem(Location(name), "", f"not UTF-8 text (byte {exc.start})")]
            ) from None
    return sorted(out.items())
