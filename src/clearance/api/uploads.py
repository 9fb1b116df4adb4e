"""Staging uploaded files on disk so the service's file-based use cases can read them.

A manifest registered through the API names its files by paths relative to itself; the
client uploads each file under that path. Nothing outside the staging folder can be named:
absolute paths, ``..`` and ``file:`` URIs that leave the folder are refused, so a manifest
can never make the server read its own files. Sizes are capped while streaming and each
file's sha256 is checked against the digest the client sent.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import urlparse

import yaml
from fastapi import UploadFile

from clearance.api.problems import TooLarge
from clearance.errors import (
    ClearanceError,
    InputError,
    Location,
    ManifestError,
    PolicyError,
    Problem,
)

CHUNK = 1 << 20


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


def manifest_paths(text: str) -> list[str]:
    """The local files a manifest names (evidence and artifact), as written."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return []  # the manifest parser reports it with its line and column
    if not isinstance(data, dict):
        return []
    refs: list[tuple[str, Any]] = []
    evidence = data.get("evidence")
    if isinstance(evidence, dict):
        refs += [(f"evidence.{k}", v) for k, v in evidence.items()]
    refs.append(("artifact", data.get("artifact")))
    paths: list[str] = []
    for where, ref in refs:
        if not isinstance(ref, dict):
            continue
        if isinstance(ref.get("path"), str):
            paths.append(str(safe_relative(ref["path"], f"{where}.path")))
        uri = ref.get("uri")
        if isinstance(uri, str) and urlparse(uri).scheme in ("", "file"):
            paths.append(str(safe_relative(urlparse(uri).path, f"{where}.uri")))
    return paths


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
    with tempfile.TemporaryDirectory(prefix="clearance-upload-") as tmp:
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


def _relative_to(exc: ClearanceError, root: Path) -> ClearanceError:
    """The same error with the staging folder cut out of its file names."""
    prefix = f"{root}/"
    if isinstance(exc, PolicyError | ManifestError):
        fixed = [
            replace(p, location=replace(p.location, file=p.location.file.removeprefix(prefix)))
            for p in exc.problems
        ]
        return type(exc)(fixed)
    clone = type(exc)(str(exc).replace(prefix, ""))
    return clone


def read_documents(files: Sequence[UploadFile], limit: int) -> list[tuple[str, str]]:
    """Uploaded policy files as (relative name, text), sorted as a folder's files are."""
    out: dict[str, str] = {}
    for upload in files:
        name = str(safe_relative(upload.filename or "", "uploaded file name"))
        if name in out:
            raise InputError(f"file {name} was uploaded twice")
        data = upload.file.read(limit + 1)
        if len(data) > limit:
            raise TooLarge(f"{name} is larger than the server's limit of {limit:,} bytes")
        try:
            out[name] = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyError(
                [Problem(Location(name), "", f"not UTF-8 text (byte {exc.start})")]
            ) from None
    return sorted(out.items())
