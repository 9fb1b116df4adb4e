"""What an artifact is made of, down to every pickle inside it, read from its bytes only.

Formats are recognised by their content (magic bytes, a parse of their framing), never by a
file name alone:

* **safetensors** (an 8-byte header length, a JSON header whose tensors lie inside the file)
  and **ONNX** (a protobuf ``ModelProto``: ``ir_version`` and ``graph`` among known top-level
  fields) hold no code: they pass by construction. So does **JSON** (XGBoost's model format).
* **zip** archives (PyTorch's ``torch.save`` format: ``archive/data.pkl`` plus raw tensor
  storages) are opened member by member: a member named like a pickle (``.pkl``,
  ``.pickle``, ``.joblib``, ``.pt``, ``.pth``, ``.ckpt``), or whose first bytes are a pickle's
  ``PROTO`` opcode, a zip or a compressed stream, is inspected; tensor storages are data.
* **gzip, zlib, bz2, xz and lzma** streams (joblib's ``compress=``) are decompressed and
  their content inspected; an **lz4** stream cannot be (no decoder in the standard library).
* anything else is walked as a **pickle** (protocols 0-5, joblib's inline arrays included:
  :mod:`clearance.core.pickle_scan`); bytes that are no pickle are an unrecognised format.

Every bound is a :class:`ScanLimits` field, checked before the work it bounds: bytes of any
one file or decompressed stream, bytes decompressed in all, archive members, nesting depth,
and pickle opcodes. Past one, the scan stops with :class:`ScanLimit` naming it.
"""

from __future__ import annotations

import bz2
import io
import json
import lzma
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from clearance.core.pickle_scan import Budget, Import, ScanLimit, walk_pickle

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt")
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_ONNX_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2}
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on its JSON header
_Opener = Callable[[bytes, int], bytes]
_UNREADABLE = (
    zipfile.BadZipFile,
    NotImplementedError,
    ValueError,
    OSError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
)


@dataclass(frozen=True)
class ScanLimits:
    max_bytes: int  # of the artifact, and of any one member or decompressed stream
    max_total_bytes: int  # decompressed or extracted, over the whole scan
    max_members: int  # archive members, over the whole scan
    max_depth: int  # archives and compressed streams nested inside each other
    max_opcodes: int  # pickle opcodes, over the whole scan


@dataclass(frozen=True)
class Found:
    """An import, and where: ``place`` is the file (``artifact!archive/data.pkl``)."""

    place: str
    imported: Import


@dataclass
class ArtifactScan:
    files: list[tuple[str, str]] = field(default_factory=list)  # (place, format)
    imports: list[Found] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (place, why not inspected)
    opcodes: int = 0
    data_members: int = 0  # archive members that are plain data (tensor storages...)


class _Scanner:
    def __init__(self, limits: ScanLimits) -> None:
        self.limits = limits
        self.budget = Budget(limits.max_opcodes)
        self.out = ArtifactScan()
        self.members = 0
        self.expanded = 0

    def inspect(self, data: bytes, place: str, depth: int, *, expected: bool) -> bool:
        """Classify and inspect one file. ``expected``: it should be a pickle or a known
        format (the artifact, or a member named like a pickle); otherwise unknown bytes are
        plain data. Returns whether the bytes were recognised."""
        if depth > self.limits.max_depth:
            raise ScanLimit("max_depth", self.limits.max_depth, place)
        if _is_safetensors(data):
            return self._file(place, "safetensors")
        if data.startswith(_ZIP):
            return self._zip(data, place, depth)
        opener = _decompressor(data)
        if opener is not None and self._compressed(data, place, depth, *opener):
            return True
        if data.startswith(b"\x04\x22\x4d\x18"):
            why = "lz4-compressed, which cannot be inspected here; use zlib, gzip, bz2 or xz"
            self.out.problems.append((place, why))
            return True
        if _is_onnx(data):
            return self._file(place, "onnx")
        if expected and _is_json(data):
            return self._file(place, "json")
        if expected or _proto_start(data):
            return self._pickles(data, place, expected=expected)
        return False

    def _file(self, place: str, fmt: str) -> bool:
        self.out.files.append((place, fmt))
        return True

    def _pickles(self, data: bytes, place: str, *, expected: bool) -> bool:
        """Walk the pickle at the start, and any further ones written after it (a file
        several ``pickle.dump`` calls appended to)."""
        if not data:
            if expected:
                self.out.problems.append((place, "empty file"))
            return expected
        start, streams, arrays = 0, 0, 0
        while start < len(data) and (streams == 0 or _proto_start(data[start : start + 2])):
            walk = walk_pickle(data, self.budget, place, start)
            self.out.opcodes += walk.opcodes
            self.out.imports += [Found(place, i) for i in walk.imports]
            arrays += walk.arrays
            if walk.error is not None:
                if streams == 0 and not walk.imports:
                    if expected:
                        why = f"not a format this gate recognises (as a pickle: {walk.error})"
                        self.out.problems.append((place, why))
                    return expected
                self.out.problems.append((place, f"malformed pickle: {walk.error}"))
                break
            streams += 1
            start = walk.end
        what = "pickle" if streams <= 1 else f"pickle ({streams} streams)"
        return self._file(place, what + (f" with {arrays} joblib arrays" if arrays else ""))

    def _take(self, size: int, place: str) -> int:
        """Room for ``size`` more decompressed bytes (any one file, and in all)."""
        room = min(self.limits.max_bytes, self.limits.max_total_bytes - self.expanded)
        if size > self.limits.max_bytes:
            raise ScanLimit("max_bytes", self.limits.max_bytes, place)
        if size > room:
            raise ScanLimit("max_total_bytes", self.limits.max_total_bytes, place)
        return room

    def _zip(self, data: bytes, place: str, depth: int) -> bool:
        entries = _zip_entries(data)
        if entries is not None and self.members + entries > self.limits.max_members:
            raise ScanLimit("max_members", self.limits.max_members, place)
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            infos = archive.infolist()
        except _UNREADABLE as exc:  # NotImplementedError too: a zip version it cannot read
            self.out.problems.append((place, f"damaged zip archive: {exc}"))
            return True
        self.members += len(infos)
        if self.members > self.limits.max_members:
            raise ScanLimit("max_members", self.limits.max_members, place)
        self._file(place, "zip")
        for info in infos:
            if not info.is_dir():
                self._member(archive, info, f"{place}!{info.filename}", depth)
        return True

    def _member(
        self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, place: str, depth: int
    ) -> None:
        if info.flag_bits & 0x1:
            self.out.problems.append((place, "encrypted archive member: cannot be inspected"))
            return
        named = info.filename.lower().endswith(PICKLE_SUFFIXES)
        try:
            with archive.open(info) as member:
                head = member.read(16)
            if not (named or _proto_start(head) or head.startswith(_ZIP) or _decompressor(head)):
                self.out.data_members += 1
                return
            room = self._take(info.file_size, place)
            with archive.open(info) as member:
                content = member.read(room + 1)
        except _UNREADABLE as exc:
            self.out.problems.append((place, f"cannot read archive member: {exc}"))
            return
        self._take(len(content), place)  # a member larger than its declared size
        self.expanded += len(content)
        if not self.inspect(content, place, depth + 1, expected=named):
            self.out.data_members += 1

    def _compressed(
        self, data: bytes, place: str, depth: int, fmt: str, strong: bool, opener: _Opener
    ) -> bool:
        room = self._take(0, place)
        try:
            content = opener(data, room + 1)
        except _UNREADABLE as exc:
            if strong:
                self.out.problems.append((place, f"damaged {fmt} stream: {exc}"))
                return True
            return False
        self._take(len(content), place)
        self.expanded += len(content)
        self._file(place, fmt)
        self.inspect(content, f"{place}!{fmt}", depth + 1, expected=True)
        return True


def _zlib_stream(wbits: int) -> _Opener:
    def opener(data: bytes, limit: int) -> bytes:
        return decompress_members(lambda: zlib.decompressobj(wbits), data, limit)

    return opener


def _bz2(data: bytes, limit: int) -> bytes:
    return decompress_members(bz2.BZ2Decompressor, data, limit)


def _lzma(data: bytes, limit: int) -> bytes:
    return decompress_members(lzma.LZMADecompressor, data, limit)


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes, /, max_length: int) -> bytes: ...


def decompress_members(make: Callable[[], _Decompressor], data: bytes, limit: int) -> bytes:
    """Decompress at most ``limit`` bytes, across concatenated streams (gzip and bz2 allow
    several); a stream cut short is an error."""
    out = bytearray()
    rest = data
    while rest and len(out) < limit:
        d = make()
        out += d.decompress(rest, limit - len(out))
        if len(out) >= limit:
            break
        if not d.eof:
            raise EOFError("compressed stream ends early")
        rest = d.unused_data
    return bytes(out)


def _decompressor(data: bytes) -> tuple[str, bool, _Opener] | None:
    """(format, strong magic, decompress) for a compressed stream, by its first bytes."""
    if data.startswith(b"\x1f\x8b\x08"):
        return "gzip", True, _zlib_stream(31)
    if data.startswith(b"BZh") and data[3:4].isdigit() and data[4:10] == b"1AY&SY":
        return "bz2", True, _bz2
    if data.startswith(b"\xfd7zXZ\x00"):
        return "xz", True, _lzma
    if data.startswith(b"]\x00\x00"):  # lzma-alone, as joblib's compress="lzma" writes it
        return "lzma", False, _lzma
    if (
        len(data) >= 2
        and data[0] & 0x0F == 8
        and data[0] >> 4 <= 7
        and ((data[0] << 8) | data[1]) % 31 == 0
    ):
        return "zlib", False, _zlib_stream(15)
    return None


def _proto_start(head: bytes) -> bool:
    """A pickle of protocol 2 or later starts with PROTO and its protocol number."""
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _zip_entries(data: bytes) -> int | None:
    """Members a zip declares, read from its end record before any parsing (None if the
    record is not found: ``zipfile`` will then refuse the archive)."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if at < 0 or at + 22 > len(data):
        return None
    total: int = struct.unpack_from("<H", data, at + 10)[0]
    locator = at - 20
    if total == 0xFFFF and locator >= 0 and data[locator : locator + 4] == b"PK\x06\x07":
        offset = struct.unpack_from("<Q", data, locator + 8)[0]
        if offset + 40 <= len(data) and data[offset : offset + 4] == b"PK\x06\x06":
            total = struct.unpack_from("<Q", data, offset + 32)[0]
    return total


def _is_safetensors(data: bytes) -> bool:
    if len(data) < 10:
        return False
    size = int.from_bytes(data[:8], "little")
    if not 2 <= size <= min(len(data) - 8, _MAX_HEADER) or data[8:9] != b"{":
        return False
    try:
        header = json.loads(data[8 : 8 + size])
    except (ValueError, RecursionError):
        return False
    room = len(data) - 8 - size
    if not isinstance(header, dict):
        return False
    for key, tensor in header.items():
        if key == "__metadata__":
            continue
        offsets = tensor.get("data_offsets") if isinstance(tensor, dict) else None
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) for o in offsets)
            and 0 <= offsets[0] <= offsets[1] <= room
        ):
            return False
    return True


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 70, 7):
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    raise ValueError("varint too long")


def _is_onnx(data: bytes) -> bool:
    """A protobuf ModelProto: only its known top-level fields, with their wire types, an
    ``ir_version`` and a ``graph``; every length inside the file. At most 100,000 fields."""
    pos, seen = 0, set[int]()
    try:
        while pos < len(data):
            if len(seen) > 100_000:
                return False
            key, pos = _varint(data, pos)
            number, wire = key >> 3, key & 7
            if _ONNX_FIELDS.get(number) != wire:
                return False
            if wire == 0:
                _, pos = _varint(data, pos)
            else:
                size, pos = _varint(data, pos)
                pos += size
            seen.add(number)
    except ValueError:
        return False
    return pos == len(data) and {1, 7} <= seen


def _is_json(data: bytes) -> bool:
    if data.lstrip()[:1] not in (b"{", b"["):
        return False
    try:
        json.loads(data)
    except (ValueError, RecursionError):
        return False
    return True


def scan_artifact(data: bytes, limits: ScanLimits, place: str = "artifact") -> ArtifactScan:
    """Every file, format and pickle import of an artifact. ``ScanLimit`` past a bound."""
    if len(data) > limits.max_bytes:
        raise ScanLimit("max_bytes", limits.max_bytes, place)
    scanner = _Scanner(limits)
    scanner.inspect(data, place, 0, expected=True)
    return scanner.out
