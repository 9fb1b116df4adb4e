"""Evidence packs: one zip that lets an auditor check and re-run a version's decisions
offline, with no store and no server.

A pack holds what the decisions were computed from (the version record with its champion,
the evidence bytes the gates read, the policy's stored text, approvals and waivers, all as
recorded in each decision's inputs), the decisions themselves, and a proof that they are the
ones in the audit trail: the stored events from the version's first event up to a signed
checkpoint. The trail is a linear hash chain (each hash covers the whole previous event's
hash and the event's own payload), so no event in that range can be left out or shown by
hash alone: the proof carries every event of the range, other models' included.

Everything here is pure: the pack's bytes come in, a report of checks goes out. The one
thing read from elsewhere is the evidence reader (``EvidenceOpener``), which the caller
wires to the same reader the server's replay uses, over the pack's files instead of a blob
store. The zip is hostile input: members are counted and sized before anything is read,
names are checked (no absolute paths, ``..``, backslashes, links, directories or
duplicates), each member is read up to its declared size plus one byte and must be exactly
that size, and nothing is ever unpickled or extracted to disk.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from pydantic import ValidationError

from clearance.core import subjects
from clearance.core.attestation import AttestationInvalid, AttestationUnreadable
from clearance.core.attestation import verify as verify_envelope
from clearance.core.audit import (
    Checkpoint,
    StoredEvent,
    event_hash,
    hashed_time,
    key_id,
    stored_hash,
    verify_checkpoint,
)
from clearance.core.decision_diff import decision_differences
from clearance.core.engine import evaluate_recorded
from clearance.core.loading import parse_policy
from clearance.core.version import EvidenceReader, ModelVersion
from clearance.errors import ClearanceError, InputError

FORMAT = "clearance.evidence-pack/v1"
MANIFEST = "manifest.json"
INFO = "pack.json"
EVENTS = "audit/events.jsonl"
CHECKPOINT = "audit/checkpoint.json"
PUBLIC_KEY = "audit/public_key.hex"
VERSION = "version.json"
MODEL_CARD = "model_card.md"
WAIVERS = "waivers.json"
MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 256 * MIB  # the whole pack, uncompressed
MAX_MEMBERS = 20_000
MAX_MANIFEST_BYTES = 16 * MIB
MAX_NAME = 255
# ASCII path steps only: every name a pack is written with fits, and nothing else is read
_NAME = re.compile(r"[A-Za-z0-9_@+=-][A-Za-z0-9._@+=-]*(?:/[A-Za-z0-9_@+=-][A-Za-z0-9._@+=-]*)*")
_SHA = re.compile(r"[0-9a-f]{64}")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: the same files, the same bytes


class PackUnreadable(InputError):
    """The file is not an evidence pack this version can read (exit 2)."""


def evidence_member(sha256: str) -> str:
    return f"evidence/{sha256}"


def policy_dir(name: str, version: str) -> str:
    return f"policy/{name}-{version}"


def decision_member(number: int) -> str:
    return f"decisions/{number}.json"


def attestation_member(number: int) -> str:
    return f"attestations/decision-{number}.json"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dumps(value: Any) -> bytes:
    """JSON as the pack writes it: sorted keys, indented, UTF-8, a final newline."""
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def event_line(row: StoredEvent) -> bytes:
    """One stored event as a line of ``audit/events.jsonl``; the payload stays the stored
    canonical JSON text (a string), so the hash is recomputed over the very bytes stored."""
    return (json.dumps(row._asdict(), sort_keys=True, ensure_ascii=False) + "\n").encode()


# --- writing ------------------------------------------------------------------------------


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def write_pack(files: Mapping[str, bytes], info: Mapping[str, Any]) -> bytes:
    """The zip: ``manifest.json`` (the format and every file's sha256 and size, as canonical
    JSON) first, ``pack.json`` (``info``: model, version, decisions...) and the files in name
    order, each with a fixed date so that equal packs are equal bytes."""
    for name in files:
        _check_name(name)
    if MANIFEST in files or INFO in files:
        raise InputError(f"{MANIFEST} and {INFO} are written by the pack itself")
    members = {**files, INFO: dumps(dict(info))}
    manifest = {
        "format": FORMAT,
        "files": {n: {"sha256": sha256_hex(b), "size": len(b)} for n, b in sorted(members.items())},
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in [(MANIFEST, _canonical(manifest)), *sorted(members.items())]:
            entry = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = (stat.S_IFREG | 0o644) << 16
            zf.writestr(entry, data)
    return out.getvalue()


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pack:
    """A pack's members, read and bounded: ``manifest`` is its parsed ``manifest.json``,
    ``info`` its parsed ``pack.json`` (what the pack is of), ``files`` every other member
    (``pack.json`` included: the manifest lists and hashes it like the rest)."""

    manifest: dict[str, Any]
    info: dict[str, Any]
    files: dict[str, bytes]

    def json(self, name: str) -> Any:
        """A member parsed as JSON; ``PackUnreadable`` naming it when it is not."""
        return _parse_json(self.files[name], name)

    def text(self, name: str) -> str:
        try:
            return self.files[name].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PackUnreadable(f"{name}: not UTF-8 text (byte {exc.start})") from None


def _check_name(name: str) -> None:
    if (
        len(name) > MAX_NAME
        or not _NAME.fullmatch(name)
        or any(step in (".", "..") for step in name.split("/"))
    ):
        raise PackUnreadable(
            f"member {name[:80]!r}: not a pack file name (relative, ASCII letters, digits and "
            "._@+=- only, no '..', no directories)"
        )


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"field {key!r} appears twice")
        out[key] = value
    return out


def _parse_json(data: bytes, name: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_unique)
    except UnicodeDecodeError as exc:
        raise PackUnreadable(f"{name}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise PackUnreadable(
            f"{name}: not JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise PackUnreadable(f"{name}: {exc}") from None


def read_pack(source: bytes | IO[bytes], *, max_bytes: int = DEFAULT_MAX_BYTES) -> Pack:
    """Every member of a pack, in memory, after the checks the module docstring lists.

    ``PackUnreadable`` (exit 2) for anything that is not a well-formed pack; a member whose
    bytes do not match the manifest is *not* refused here: that is a failed check of
    ``verify_pack``, which names it.
    """
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        zf = zipfile.ZipFile(stream)
    # NotImplementedError: a member that claims a zip version this Python cannot extract
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise PackUnreadable(f"not a zip file: {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise PackUnreadable(f"{len(infos)} members; a pack has at most {MAX_MEMBERS}")
        seen: set[str] = set()
        declared = 0
        for info in infos:
            _check_member(info, seen)
            declared += info.file_size
        if declared > max_bytes:
            raise PackUnreadable(
                f"the members declare {declared} bytes in all, over the limit of {max_bytes} "
                "(--max-bytes raises it)"
            )
        if MANIFEST not in seen:
            raise PackUnreadable(f"no {MANIFEST}: not an evidence pack")
        files = {info.filename: _read_member(zf, info) for info in infos}
    manifest_bytes = files.pop(MANIFEST)
    if len(manifest_bytes) > MAX_MANIFEST_BYTES:
        raise PackUnreadable(f"{MANIFEST} is over {MAX_MANIFEST_BYTES} bytes")
    manifest = _parse_json(manifest_bytes, MANIFEST)
    if manifest_bytes != _canonical(manifest):  # one text per manifest: no byte is free
        raise PackUnreadable(f"{MANIFEST} is not canonical JSON (sorted keys, no spaces)")
    _check_manifest(manifest)
    if INFO not in files:
        raise PackUnreadable(f"no {INFO}: not an evidence pack")
    info = _parse_json(files[INFO], INFO)
    _check_info(info)
    return Pack(manifest, info, files)


def _check_member(info: zipfile.ZipInfo, seen: set[str]) -> None:
    name = info.filename
    _check_name(name)
    if name in seen:
        raise PackUnreadable(f"member {name!r} appears twice")
    seen.add(name)
    if info.flag_bits & 0x1:
        raise PackUnreadable(f"member {name!r} is encrypted")
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind not in (0, stat.S_IFREG):  # 0: written without a file type (no Unix attributes)
        raise PackUnreadable(f"member {name!r} is not a regular file (a link or a device)")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise PackUnreadable(f"member {name!r}: compression method {info.compress_type}")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """At most the declared size plus one byte: a member that inflates past what it declared
    (a zip bomb's lie) is refused without inflating the rest."""
    try:
        with zf.open(info) as f:
            data = f.read(info.file_size + 1)
    except (
        zipfile.BadZipFile,
        zlib.error,
        OSError,
        ValueError,
        EOFError,
        NotImplementedError,
    ) as exc:
        raise PackUnreadable(f"member {info.filename!r} cannot be read: {exc}") from None
    if len(data) != info.file_size:
        raise PackUnreadable(
            f"member {info.filename!r} declares {info.file_size} bytes but holds "
            f"{'more' if len(data) > info.file_size else len(data)}"
        )
    return data


def _check_manifest(manifest: Any) -> None:
    if not isinstance(manifest, dict):
        raise PackUnreadable(f"{MANIFEST}: not a JSON object")
    if manifest.get("format") != FORMAT:
        raise PackUnreadable(
            f"{MANIFEST}: format {manifest.get('format')!r} is not {FORMAT!r} (a pack from "
            "another version of clearance, or not a pack)"
        )
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise PackUnreadable(f"{MANIFEST}: 'files' must be an object of name: sha256 and size")
    for name, entry in files.items():
        if name == MANIFEST:
            raise PackUnreadable(f"{MANIFEST}: lists itself")
        _check_name(name)
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("sha256"), str)
            or not _SHA.fullmatch(entry["sha256"])
            or type(entry.get("size")) is not int
        ):
            raise PackUnreadable(f"{MANIFEST}: files.{name}: needs a hex sha256 and a size")
    if set(manifest) != {"format", "files"}:
        raise PackUnreadable(f"{MANIFEST}: holds format and files only")


def _check_info(info: Any) -> None:
    if not isinstance(info, dict):
        raise PackUnreadable(f"{INFO}: not a JSON object")
    for key in ("model", "version"):
        if not isinstance(info.get(key), str):
            raise PackUnreadable(f"{INFO}: '{key}' must be a string")
    for key in ("decisions", "version_events"):
        values = info.get(key, [])
        if not isinstance(values, list) or not all(type(d) is int for d in values):
            raise PackUnreadable(f"{INFO}: '{key}' must be a list of numbers")
    unstored = info.get("unstored", [])
    if not isinstance(unstored, list) or not all(
        isinstance(u, str) and _SHA.fullmatch(u) for u in unstored
    ):
        raise PackUnreadable(f"{INFO}: 'unstored' must be a list of sha256 digests")


# --- the blobs an evidence reader sees ------------------------------------------------------


class PackBlobs:
    """The pack's ``evidence/<sha256>`` members as a read-only, content-addressed blob store:
    what the server's blob evidence reader takes, so the gates read the pack exactly as they
    read the store. A member whose bytes do not hash to its name is absent here."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self._blobs = {
            name.removeprefix("evidence/"): data
            for name, data in files.items()
            if name.startswith("evidence/") and name.removeprefix("evidence/") == sha256_hex(data)
        }

    def has(self, sha256: str) -> bool:
        return sha256 in self._blobs

    def read(self, sha256: str) -> bytes:
        try:
            return self._blobs[sha256]
        except KeyError:
            raise FileNotFoundError(f"evidence {sha256[:12]}… is not in the pack") from None

    def verify(self, sha256: str) -> None:
        self.read(sha256)  # only blobs that hash to their name are kept

    def stored(self) -> Iterator[tuple[str, dt.datetime]]:
        epoch = dt.datetime(1980, 1, 1, tzinfo=dt.UTC)
        return iter([(sha, epoch) for sha in sorted(self._blobs)])

    def put_file(self, path: Any) -> tuple[str, int]:
        raise InputError("an evidence pack is read-only")

    def remove(self, sha256: str) -> None:
        raise InputError("an evidence pack is read-only")


EvidenceOpener = Callable[[ModelVersion, "str | None", PackBlobs], EvidenceReader]
"""Opens a version's evidence over the pack (the server's blob reader over ``PackBlobs``)."""


# --- verifying ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One thing verified: ``name`` says what, ``detail`` what was found."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class PackReport:
    """Every check of a pack; it verifies when all passed (exit 0), else exit 1."""

    model: str
    version: str
    checks: tuple[Check, ...]
    warnings: tuple[str, ...] = ()
    key_id: str | None = None
    key_from_pack: bool = False
    decisions: tuple[int, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


KEY_IN_PACK = (
    "checked with the public key inside the pack, which proves only that the pack is "
    "consistent: anyone who rebuilt it could have signed it with a key of their own. Verify "
    "with --public-key FILE and the copy of the workspace key (`clearance audit public-key`) "
    "you keep outside the workspace"
)


def verify_pack(
    pack: Pack, open_evidence: EvidenceOpener, public_key: bytes | None = None
) -> PackReport:
    """Check a pack: its files against the manifest, the audit chain proof and checkpoint,
    each decision against its audit event and its recorded inputs against the files, then
    every decision re-run from the pack with the engine, compared with what was recorded."""
    checks: list[Check] = []
    warnings: list[str] = []
    checks += _file_checks(pack)
    key, from_pack, key_checks = _key(pack, public_key)
    checks += key_checks
    if from_pack:
        warnings.append(KEY_IN_PACK)
    rows, chain_checks = _chain_checks(pack, key)
    checks += chain_checks
    by_subject = {(r.action, r.subject): r for r in rows}
    checks += _version_checks(pack, by_subject)
    numbers = tuple(sorted(set(pack.info.get("decisions", []))))
    checks.append(_completeness_check(pack, numbers, rows))
    for number in numbers:
        checks += _decision_checks(pack, number, by_subject, key, open_evidence)
    if not numbers:
        warnings.append("the pack holds no decisions: this version was never promoted")
    return PackReport(
        model=pack.info["model"],
        version=pack.info["version"],
        checks=tuple(checks),
        warnings=tuple(warnings),
        key_id=None if key is None else key_id(key),
        key_from_pack=from_pack,
        decisions=numbers,
    )


def _file_checks(pack: Pack) -> list[Check]:
    listed: dict[str, Any] = pack.manifest["files"]
    bad: list[str] = []
    for name, entry in listed.items():
        data = pack.files.get(name)
        if data is None:
            bad.append(f"{name} is listed but missing")
        elif len(data) != entry["size"] or sha256_hex(data) != entry["sha256"]:
            bad.append(f"{name} does not match its sha256 in {MANIFEST}")
    bad += [
        f"{name} is in the zip but not in {MANIFEST}" for name in pack.files if name not in listed
    ]
    if bad:
        return [Check("files", False, "; ".join(bad[:20]) + (" …" if len(bad) > 20 else ""))]
    return [Check("files", True, f"{len(listed)} files match their sha256 in {MANIFEST}")]


def _key(pack: Pack, given: bytes | None) -> tuple[bytes | None, bool, list[Check]]:
    if given is not None:
        if len(given) != 32:
            raise InputError(f"an Ed25519 public key is 32 bytes, not {len(given)}")
        return given, False, []
    try:
        raw = bytes.fromhex(pack.text(PUBLIC_KEY).strip())
    except (KeyError, ValueError, PackUnreadable):
        return None, True, [Check("public key", False, f"no usable key in {PUBLIC_KEY}")]
    if len(raw) != 32:
        return None, True, [Check("public key", False, f"{PUBLIC_KEY} is not 32 bytes of hex")]
    return raw, True, []


def _rows(pack: Pack) -> list[StoredEvent]:
    rows: list[StoredEvent] = []
    for n, line in enumerate(pack.text(EVENTS).splitlines(), 1):
        where = f"{EVENTS} line {n}"
        data = _parse_json(line.encode(), where)
        if not isinstance(data, dict) or set(data) != set(StoredEvent._fields):
            raise PackUnreadable(f"{where}: needs exactly {', '.join(StoredEvent._fields)}")
        types = {"seq": int}
        for name in StoredEvent._fields:
            if type(data[name]) is not types.get(name, str):
                raise PackUnreadable(f"{where}: {name} has the wrong type")
        rows.append(StoredEvent(**data))
    return rows


def _row_hash(row: StoredEvent) -> str | None:
    """The hash the row's fields give: over its stored bytes, else by the definition (a
    payload stored as other JSON than the canonical); None when they do not parse."""
    try:
        time = hashed_time(row.time)
        fast = stored_hash(row, time)
        if fast == row.hash:
            return fast
        payload = json.loads(row.payload)
        if not isinstance(payload, dict):
            return None
        return event_hash(
            seq=row.seq,
            time=dt.datetime.fromisoformat(row.time),
            actor=row.actor,
            action=row.action,
            subject=row.subject,
            payload=payload,
            prev_hash=row.prev_hash,
        )
    except (ValueError, TypeError, RecursionError, InputError):
        return None


def _chain_checks(pack: Pack, key: bytes | None) -> tuple[list[StoredEvent], list[Check]]:
    if EVENTS not in pack.files:
        return [], [Check("audit chain", False, f"the pack has no {EVENTS}")]
    try:
        rows = _rows(pack)
    except PackUnreadable as exc:
        return [], [Check("audit chain", False, str(exc))]
    if not rows:
        return [], [Check("audit chain", False, f"{EVENTS} is empty")]
    fault = None
    for i, row in enumerate(rows):
        if i and (row.seq != rows[i - 1].seq + 1 or row.prev_hash != rows[i - 1].hash):
            fault = f"event seq {row.seq} does not follow seq {rows[i - 1].seq}"
        elif _row_hash(row) != row.hash:
            fault = f"event seq {row.seq} does not hash to its recorded hash (it was modified)"
        if fault:
            break
    first, last = rows[0], rows[-1]
    checks = [
        Check("audit chain", False, fault)
        if fault
        else Check(
            "audit chain",
            True,
            f"{len(rows)} events, seq {first.seq} to {last.seq}, each hashes right and "
            f"links to the one before (from prev_hash {first.prev_hash[:12]})",
        )
    ]
    checks.append(_checkpoint_check(pack, last, key))
    return ([] if fault else rows), checks


def _checkpoint_check(pack: Pack, last: StoredEvent, key: bytes | None) -> Check:
    name = "signed checkpoint"
    if CHECKPOINT not in pack.files:
        return Check(name, False, f"the pack has no {CHECKPOINT}: the chain is not anchored")
    try:
        cp = Checkpoint.model_validate(pack.json(CHECKPOINT))
    except ValidationError as exc:
        return Check(name, False, f"{CHECKPOINT}: {exc.error_count()} invalid field(s)")
    except PackUnreadable as exc:
        return Check(name, False, str(exc))
    if key is None:
        return Check(name, False, "no public key to check its signature with")
    if cp.key_id != key_id(key):
        return Check(
            name,
            False,
            f"CHECKPOINT KEY CHANGED: signed by key {cp.key_id}, not the given key {key_id(key)}",
        )
    if not verify_checkpoint(cp, key):
        return Check(name, False, "its signature does not verify (the checkpoint was altered)")
    if (cp.seq, cp.hash) != (last.seq, last.hash):
        return Check(
            name,
            False,
            f"it signs seq {cp.seq} ({cp.hash[:12]}) but the chain proof ends at seq "
            f"{last.seq} ({last.hash[:12]})",
        )
    return Check(
        name,
        True,
        f"seq {cp.seq} signed {cp.time.isoformat()} by key {cp.key_id}; the proof ends there",
    )


Events = Mapping[tuple[str, str], StoredEvent]


def _payload(row: StoredEvent) -> dict[str, Any]:
    try:
        data = json.loads(row.payload)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _version_checks(pack: Pack, events: Events) -> list[Check]:
    name = "version record"
    try:
        doc = pack.json(VERSION)
        record = doc["version"]["record"]
    except (KeyError, TypeError, PackUnreadable):
        return [Check(name, False, f"the pack has no {VERSION} with the version's record")]
    if not isinstance(record, dict):
        return [Check(name, False, f"{VERSION}: version.record is not an object")]
    subject = subjects.version(pack.info["model"], pack.info["version"])
    row = events.get(("version.registered", subject))
    if row is None:
        return [Check(name, False, f"no version.registered event for {subject} in the proof")]
    payload = _payload(row)
    differ = sorted(k for k in record if payload.get(k) != record[k])
    if differ:
        return [Check(name, False, f"{VERSION} differs from event seq {row.seq} in {differ}")]
    return [Check(name, True, f"matches its registration, event seq {row.seq}")]


def _completeness_check(pack: Pack, numbers: Sequence[int], rows: Sequence[StoredEvent]) -> Check:
    """Every decision of the requests that moved this version is in the pack: leaving one
    out would need an event out of the signed chain. A request moved it when a
    ``version.stage_changed`` event of the version names it and the request was opened for
    this version (its ``request.opened`` event: a request that promoted another version
    also retires the one it replaces). A request that never moved the version and of which
    the pack holds no decision is not named by the chain as this version's (request events
    do not carry the model), so it is not required."""
    name = "decisions complete"
    files = {
        int(m.removeprefix("decisions/").removesuffix(".json"))
        for m in pack.files
        if re.fullmatch(r"decisions/[0-9]{1,18}\.json", m)
    }
    if files != set(numbers):
        listed = f"{INFO} lists decisions {sorted(numbers)}, the files are {sorted(files)}"
        return Check(name, False, listed)
    version = pack.info["version"]
    version_subject = subjects.version(pack.info["model"], version)
    opened_for = {
        r.subject: _payload(r).get("version") for r in rows if r.action == "request.opened"
    }
    requests = {
        request
        for r in rows
        if r.action == "version.stage_changed" and r.subject == version_subject
        if type(request := _payload(r).get("request")) is int
        and opened_for.get(subjects.request(request)) == version
    }
    recorded = {
        r.subject: _payload(r).get("request") for r in rows if r.action == "decision.recorded"
    }
    expected = {s for s, request in recorded.items() if request in requests}
    missing = sorted(expected - {subjects.decision(n) for n in numbers})
    if missing:
        return Check(name, False, f"the chain records decisions the pack leaves out: {missing}")
    return Check(
        name,
        True,
        f"{len(numbers)} decision(s), every one the chain records for the requests that "
        f"moved the version ({', '.join(map(str, sorted(requests, key=str))) or 'none'})",
    )


def _decision_checks(
    pack: Pack, number: int, events: Events, key: bytes | None, opener: EvidenceOpener
) -> list[Check]:
    label = f"decision {number}"
    member = decision_member(number)
    if member not in pack.files:
        return [Check(label, False, f"listed in {MANIFEST} but {member} is missing")]
    try:
        doc = pack.json(member)
        inputs, result = doc["inputs"], doc["result"]
        policy = doc["policy"]
        request = doc["request_id"]
        if not isinstance(inputs, dict) or not isinstance(result, dict):
            raise TypeError
    except (KeyError, TypeError, PackUnreadable):
        return [Check(label, False, f"{member}: needs inputs, result, policy and request_id")]
    checks: list[Check] = []
    row = events.get(("decision.recorded", subjects.decision(number)))
    checks.append(_event_check(label, row, request, doc, result))
    loaded, policy_check = _policy_check(pack, label, policy, result)
    checks.append(policy_check)
    checks.append(_inputs_check(pack, label, inputs))
    if loaded is not None:
        checks.append(_rerun_check(pack, label, loaded, inputs, result, opener))
    if row is not None:
        att = _attestation_check(pack, label, number, row, key)
        if att is not None:
            checks.append(att)
    return checks


def _gate_statuses(result: Mapping[str, Any]) -> dict[Any, Any]:
    gates = result.get("gates", [])
    return {g.get("gate_id"): g.get("status") for g in gates if isinstance(g, dict)}


def _event_check(
    label: str, row: StoredEvent | None, request: Any, doc: Mapping[str, Any], result: Any
) -> Check:
    name = f"{label}: audit event"
    if row is None:
        return Check(name, False, "no decision.recorded event for it in the chain proof")
    p = _payload(row)
    pairs = [
        ("request", p.get("request"), request),
        ("decision_id", p.get("decision_id"), doc.get("digest")),
        ("decision_id", p.get("decision_id"), result.get("decision_id")),
        ("outcome", p.get("outcome"), result.get("outcome")),
        ("policy_hash", p.get("policy_hash"), result.get("policy_hash")),
        ("summary", p.get("summary"), result.get("summary")),
        ("gates", p.get("gates"), _gate_statuses(result)),
    ]
    differ = list(dict.fromkeys(n for n, a, b in pairs if a != b))
    if differ:
        return Check(
            name, False, f"the recorded decision differs from event seq {row.seq} in {differ}"
        )
    return Check(name, True, f"matches event seq {row.seq} (outcome {p.get('outcome')})")


def _policy_check(
    pack: Pack, label: str, policy: Any, result: Mapping[str, Any]
) -> tuple[Any, Check]:
    name = f"{label}: policy"
    if not isinstance(policy, dict) or not all(
        isinstance(policy.get(k), str) for k in ("name", "version")
    ):
        return None, Check(name, False, "the decision names no policy name and version")
    folder = policy_dir(policy["name"], policy["version"])
    try:
        index = pack.json(f"{folder}/policy.json")
        sources = [(str(f), pack.text(m)) for f, m in index["sources"]]
    except (KeyError, TypeError, ValueError, PackUnreadable):
        return None, Check(name, False, f"{folder}/policy.json or a source it lists is unreadable")
    try:
        loaded = parse_policy(sources)
    except ClearanceError as exc:
        return None, Check(name, False, f"{folder}: the policy text does not load: {exc}")
    recorded = result.get("policy_hash")
    if loaded.content_hash != recorded:
        return None, Check(
            name,
            False,
            f"{folder}: the text hashes to {loaded.content_hash[:12]}, not the "
            f"{str(recorded)[:12]} the decision recorded (a threshold or a gate was changed)",
        )
    return loaded, Check(
        name, True, f"{policy['name']} {policy['version']} hashes to {loaded.content_hash[:12]}"
    )


def _inputs_check(pack: Pack, label: str, inputs: Any) -> Check:
    name = f"{label}: inputs"
    try:
        items = inputs["version"].get("evidence", {})
        shas = {k: v.get("sha256") for k, v in items.items()}
        artifact = inputs.get("artifact_blob")
    except (KeyError, TypeError, AttributeError):
        return Check(name, False, "the decision's recorded inputs have no version")
    unstored = set(pack.info.get("unstored", []))
    missing, changed = [], []
    for k, sha in [*shas.items(), ("artifact", artifact)]:
        if not isinstance(sha, str) or sha in unstored:
            continue
        data = pack.files.get(evidence_member(sha))
        if data is None:
            missing.append(f"{k} ({sha[:12]})")
        elif sha256_hex(data) != sha:
            changed.append(f"{k} ({sha[:12]})")
    if missing or changed:
        why = [
            *([f"not in the pack: {', '.join(missing)}"] if missing else []),
            *(
                [f"bytes do not hash to the recorded sha256: {', '.join(changed)}"]
                if changed
                else []
            ),
        ]
        return Check(name, False, f"evidence the decision read: {'; '.join(why)}")
    held = sum(1 for sha in shas.values() if isinstance(sha, str) and sha not in unstored)
    return Check(name, True, f"{held} evidence file(s) by sha256; approvals and waivers recorded")


def _rerun(
    pack: Pack, loaded: Any, inputs: Mapping[str, Any], opener: EvidenceOpener
) -> dict[str, Any]:
    """The engine run on the recorded inputs, reading evidence from the pack: the same
    evaluation the server's replay makes, on the same reader type."""
    blobs = PackBlobs(pack.files)
    decision = evaluate_recorded(loaded, inputs, lambda v, blob: opener(v, blob, blobs))
    return decision.model_dump(mode="json")


def _rerun_check(
    pack: Pack,
    label: str,
    loaded: Any,
    inputs: Mapping[str, Any],
    result: Mapping[str, Any],
    opener: EvidenceOpener,
) -> Check:
    name = f"{label}: re-run"
    try:
        again = _rerun(pack, loaded, inputs, opener)
    except (ClearanceError, ValidationError, KeyError, TypeError, ValueError) as exc:
        return Check(name, False, f"the gates could not be re-run: {type(exc).__name__}: {exc}")
    differences = decision_differences(result, again)
    if differences:
        shown = "; ".join(differences[:5]) + (" …" if len(differences) > 5 else "")
        return Check(name, False, f"{len(differences)} difference(s): {shown}")
    statuses = ", ".join(f"{g}={s}" for g, s in _gate_statuses(again).items())
    return Check(
        name,
        True,
        f"{again['outcome']} again, decision id {again['decision_id'][:12]} ({statuses})",
    )


def _attestation_check(
    pack: Pack, label: str, number: int, row: StoredEvent, key: bytes | None
) -> Check | None:
    member = attestation_member(number)
    if member not in pack.files:
        return None
    name = f"{label}: attestation"
    if key is None:
        return Check(name, False, "no public key to verify it with")
    try:
        verified = verify_envelope(pack.files[member], key)
        event = verified.predicate.get("auditEvent", {})
    except (AttestationUnreadable, AttestationInvalid, InputError) as exc:
        return Check(name, False, f"{member}: {exc}")
    if not isinstance(event, dict) or event.get("hash") != row.hash:
        return Check(name, False, f"{member} names another audit event than seq {row.seq}")
    return Check(
        name, True, f"DSSE signature by key {verified.keyid[:16]} over event seq {row.seq}"
    )


def report_json(report: PackReport) -> dict[str, Any]:
    """The report as ``clearance report verify --json`` prints it."""
    return {
        "ok": report.ok,
        "exit_code": report.exit_code,
        "model": report.model,
        "version": report.version,
        "key_id": report.key_id,
        "key_from_pack": report.key_from_pack,
        "decisions": list(report.decisions),
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in report.checks],
        "warnings": list(report.warnings),
    }


def checks_named(report: PackReport, prefix: str) -> Sequence[Check]:
    """The checks whose name starts with ``prefix`` (``decision 3``, ``audit chain``...)."""
    return [c for c in report.checks if c.name.startswith(prefix)]
