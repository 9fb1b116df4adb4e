"""The workspace's key folder and an external signer: where the audit signing key lives.

``DirectoryKeyRing`` implements ``service.keys.KeyRing`` over ``.clearance/keys/``;
``CommandSigner`` signs through a program named in ``config.json`` (ADR 18), checking every
signature against the configured public key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from clearance.adapters.private import private_dir, write_private
from clearance.core.audit import key_id, load_private_key_pem, private_key_pem, public_key_raw
from clearance.errors import InputError, StoreConflict, StoreError
from clearance.service.keys import CURRENT_FILE, KEY_ID_HEX, PENDING_FILE, PUBLIC_KEY_HEX


class DirectoryKeyRing:
    """``keys/`` of a workspace: ``audit-ed25519.pem`` the current key (0600), ``next-…``
    during a rotation, ``retired/<key id>.pem`` kept private keys, ``public/<key id>.pub``
    every key's public half as hex (what ``audit verify --public-key`` reads)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _load(self, path: Path) -> Ed25519PrivateKey:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StoreError(f"the audit signing key {path} is missing") from None
        try:
            return load_private_key_pem(data)
        except InputError as exc:
            raise StoreError(f"{path}: {exc}") from None

    def current(self) -> Ed25519PrivateKey:
        return self._load(self.root / CURRENT_FILE)

    def pending(self) -> Ed25519PrivateKey | None:
        path = self.root / PENDING_FILE
        return self._load(path) if path.exists() else None

    def _keep_public(self, raw: bytes) -> None:

        folder = self.root / "public"
        private_dir(folder)
        path = folder / f"{key_id(raw)}.pub"
        if not path.exists():
            path.write_text(raw.hex() + "\n", encoding="ascii")

    def stage(self, new: Ed25519PrivateKey) -> None:
        """Write the next key (and both public halves) before the trail names it; only one
        rotation at a time (the pending file is created exclusively)."""
        from clearance.adapters.private import create_private, write_private

        self._keep_public(public_key_raw(self.current()))
        self._keep_public(public_key_raw(new))
        pending = self.root / PENDING_FILE
        if not create_private(pending):
            raise StoreConflict(f"{pending} exists: another key rotation is running")
        write_private(pending, private_key_pem(new))

    def discard_pending(self) -> None:
        (self.root / PENDING_FILE).unlink(missing_ok=True)

    def promote(self, *, keep_old: bool) -> None:
        """The next key becomes the current one; the old one is kept as retired or deleted."""

        current = self.root / CURRENT_FILE
        old = current.read_bytes()
        old_id = key_id(public_key_raw(load_private_key_pem(old)))
        if keep_old:
            private_dir(self.root / "retired")
            write_private(self.root / "retired" / f"{old_id}.pem", old)
        (self.root / PENDING_FILE).replace(current)  # atomic: one key file at any time

    def public_keys(self) -> dict[str, bytes]:
        current = public_key_raw(self.current())
        return {key_id(current): current, **self.kept_public_keys()}

    def kept_public_keys(self) -> dict[str, bytes]:
        """The public keys kept in ``public/`` (earlier keys, and the current one once it
        has been rotated in), by key id; the current private key is not read."""
        found: dict[str, bytes] = {}
        folder = self.root / "public"
        for path in sorted(folder.glob("*.pub")) if folder.is_dir() else ():
            text = path.read_bytes()[:200].strip()
            try:
                raw = bytes.fromhex(text.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                raise StoreError(f"{path}: not a public key (64 hex digits)") from None
            if len(raw) != 32 or f"{key_id(raw)}.pub" != path.name:
                raise StoreError(f"{path}: not the public key its name says")
            found[key_id(raw)] = raw
        return found

    def has_retired(self, key: str) -> bool:
        return (
            KEY_ID_HEX.fullmatch(key) is not None
            and (self.root / "retired" / f"{key}.pem").exists()
        )


# --- signing with a key kept elsewhere ---------------------------------------------------


MAX_CONFIG = 64 * 1024
MAX_SIGNER_OUTPUT = 4096
MAX_TIMEOUT = 120.0


class CommandSigner(Ed25519PrivateKey):
    """The audit key held by another program (an HSM's or KMS's tool, ``ssh-keygen``…):
    it gets the bytes to sign on standard input and prints the 64-byte Ed25519 signature
    (hex or base64). Every signature is checked against the configured public key before
    it is used, so a wrong signer fails here, not at the auditor's.

    It stands in for ``Ed25519PrivateKey`` (pyca's abstract interface), so checkpoints and
    attestations sign through it unchanged; its private half is never readable.
    """

    def __init__(self, command: Sequence[str], public: bytes, timeout: float = 10.0) -> None:
        self.command = tuple(command)
        self.timeout = timeout
        self._public = Ed25519PublicKey.from_public_bytes(public)

    def public_key(self) -> Ed25519PublicKey:
        return self._public

    def sign(self, data: bytes | bytearray | memoryview) -> bytes:
        import base64
        import binascii
        import subprocess

        from cryptography.exceptions import InvalidSignature

        name, data = self.command[0], bytes(data)
        try:
            done = subprocess.run(  # the operator's own configured program, no shell
                self.command, input=data, capture_output=True, timeout=self.timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise StoreError(f"the signer {name} did not answer in {self.timeout:g} s") from None
        except OSError as exc:
            raise StoreError(f"the signer {name} cannot run: {exc.strerror or exc}") from None
        if done.returncode != 0:
            said = done.stderr[:200].decode("utf-8", "replace").strip()
            raise StoreError(f"the signer {name} failed (exit {done.returncode}): {said}")
        out = done.stdout.strip()
        if len(out) > MAX_SIGNER_OUTPUT:
            raise StoreError(f"the signer {name} printed more than a signature")
        try:
            text = out.decode("ascii")
            signature = (
                bytes.fromhex(text) if len(text) == 128 else base64.b64decode(text, validate=True)
            )
        except (UnicodeDecodeError, ValueError, binascii.Error):
            signature = b""
        if len(signature) != 64:
            raise StoreError(
                f"the signer {name} printed no Ed25519 signature (128 hex digits or base64)"
            )
        try:
            self._public.verify(signature, data)
        except InvalidSignature:
            raise StoreError(
                f"the signer {name} signed with another key than the configured "
                f"signer.public_key {key_id(public_key_raw(self._public))}"
            ) from None
        return signature

    def private_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        raise StoreError("the audit key is held by an external signer: it cannot be exported")

    def private_bytes_raw(self) -> bytes:
        raise StoreError("the audit key is held by an external signer: it cannot be exported")

    def __copy__(self) -> CommandSigner:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> CommandSigner:
        return self


def signer_settings(config: Path) -> CommandSigner | None:
    """The ``signer`` of a workspace's ``config.json``, or None when the key file signs.

    ``{"signer": {"command": [PROGRAM, ARG...], "public_key": HEX, "timeout_seconds": N}}``;
    the program runs without a shell. Each wrong field is named.
    """
    try:
        with config.open("rb") as f:
            data = f.read(MAX_CONFIG + 1)
    except FileNotFoundError:
        return None
    if len(data) > MAX_CONFIG:
        raise InputError(f"{config}: larger than {MAX_CONFIG} bytes")
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{config}: not JSON ({exc})") from None
    spec = doc.get("signer") if isinstance(doc, dict) else None
    if spec is None:
        return None
    where = f"{config}: signer"
    if not isinstance(spec, dict):
        raise InputError(f"{where}: must be an object")
    unknown = sorted(set(spec) - {"command", "public_key", "timeout_seconds"})
    if unknown:
        raise InputError(f"{where}: unknown field(s) {', '.join(unknown)}")
    command = spec.get("command")
    if (
        not isinstance(command, list)
        or not command
        or not all(isinstance(a, str) and a and "\0" not in a for a in command)
    ):
        raise InputError(f"{where}.command: a non-empty list of strings (program, arguments)")
    public = spec.get("public_key")
    if not isinstance(public, str) or not PUBLIC_KEY_HEX.fullmatch(public):
        raise InputError(f"{where}.public_key: the Ed25519 public key, 64 lowercase hex digits")
    timeout = spec.get("timeout_seconds", 10)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout <= MAX_TIMEOUT
    ):
        raise InputError(f"{where}.timeout_seconds: a number of seconds, above 0 and at most 120")
    return CommandSigner(command, bytes.fromhex(public), float(timeout))
