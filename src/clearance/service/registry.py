"""Registry use cases: users, models and versions, evidence, policies.

Versions and evidence are immutable (invariant 4): a version is registered once; a correction
is new evidence under the same name, which supersedes the old one for new evaluations and
makes approvals that saw the old content stale.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from clearance.core import subjects
from clearance.core.audit import AuditEvent
from clearance.core.loading import LoadedPolicy, parse_policy, read_policy_files
from clearance.core.names import name_problem
from clearance.core.selection import mismatches
from clearance.core.version import EvidenceItem, EvidenceKind
from clearance.errors import ApprovalError, InputError, NotFound, StoreError
from clearance.manifest import read_manifest
from clearance.service.access import authorize, authorize_server
from clearance.service.context import (
    active_policies,
    close_names,
    governing_policy,
    load_recorded,
    model_info,
    require_model,
    require_user,
    require_version,
    semver_key,
)
from clearance.service.ports import BlobStore, Clock, Store, Tx
from clearance.service.records import PolicyRecord, User, VersionRecord

INITIAL_STAGE = "draft"
MAX_EVIDENCE_TEXT = 1024 * 1024  # bytes of an evidence document served as text


class EvidenceText(BaseModel):
    """An evidence document's text, as stored (digest-checked on reading)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    uri: str = Field(description="The file name it was attached from.")
    sha256: str
    size: int = Field(description="Bytes of UTF-8 text.")
    format: Literal["markdown", "text"] = Field(description="markdown: a .md or .markdown file.")
    text: str


@dataclass(frozen=True)
class Registry:
    store: Store
    blobs: BlobStore
    clock: Clock

    def add_user(self, name: str, roles: list[str], *, actor: str, operator: bool = False) -> User:
        """Add a user; through the API only an admin may (``operator``: the local CLI)."""
        if (problem := name_problem(name)) is not None:
            raise InputError(f"user name {problem}")
        with self.store.transaction() as tx:
            if not operator:
                authorize_server(tx, actor, "admin")
            if tx.get_user(name) is not None:
                raise InputError(f"user '{name}' already exists")
            user = tx.add_user(name, roles, self.clock.now())
            tx.append_event(
                time=self.clock.now(),
                actor=actor,
                action="user.added",
                subject=subjects.user(name),
                model=None,
                payload={"roles": user.roles},
            )
            return user

    def set_roles(self, name: str, roles: list[str], *, actor: str, operator: bool = False) -> User:
        """Replace a user's roles (recorded in the audit trail with the old ones)."""
        with self.store.transaction() as tx:
            if not operator:
                authorize_server(tx, actor, "admin")
            before = require_user(tx, name)
            user = tx.set_roles(name, roles)
            tx.append_event(
                time=self.clock.now(),
                actor=actor,
                action="user.roles_changed",
                subject=subjects.user(name),
                model=None,
                payload={"roles": user.roles, "before": before.roles},
            )
            return user

    def register(self, manifest_path: Path, *, actor: str, confined: bool = False) -> VersionRecord:
        """Register the version a manifest describes, copying its files into the blob store.

        The role check comes before any file is copied, so a refused call stores nothing.
        ``confined``: the manifest may only name files inside its own folder (uploads).
        """
        version, files = read_manifest(Path(manifest_path), confined=confined)
        with self.store.reading() as tx:
            authorize(tx, actor, "register", version.model)
        artifact_blob = None
        if files.artifact_path is not None:
            artifact_blob, _ = self.blobs.put_file(files.artifact_path)
        stored = {name: self.blobs.put_file(path) for name, path in files.paths.items()}
        now = self.clock.now()
        with self.store.transaction() as tx:
            info = version.model
            authorize(tx, actor, "register", info)
            model = tx.get_model(info.name)
            if model is None:
                model = tx.add_model(
                    name=info.name,
                    risk_tier=info.risk_tier,
                    owner=info.owner,
                    team=info.team,
                    tags=info.tags,
                    at=now,
                )
                tx.append_event(
                    time=now,
                    actor=actor,
                    action="model.registered",
                    subject=subjects.model(info.name),
                    model=info.name,
                    payload=info.model_dump(mode="json"),
                )
            elif (model.risk_tier, model.tags) != (info.risk_tier, info.tags):
                raise InputError(
                    f"model {info.name} is registered with risk tier {model.risk_tier} and tags "
                    f"{model.tags}; the manifest says {info.risk_tier} and {info.tags}"
                )
            if tx.get_version(model.id, version.version) is not None:
                raise InputError(
                    f"version {version.version} of {info.name} is already registered and "
                    "versions are immutable; register a new version, or attach corrected "
                    "evidence with `clearance evidence attach`"
                )
            artifact = version.artifact
            record: dict[str, Any] = {
                "version": version.version,
                "artifact": None
                if artifact is None
                else {"uri": artifact.uri, "sha256": artifact.sha256 or artifact_blob},
                "artifact_blob": artifact_blob,
                "lineage": version.lineage.model_dump(mode="json"),
                "metrics": version.metrics,
                "params": version.params,
                "features": version.features,
                "tags": version.tags,
            }
            row = tx.add_version(
                model_id=model.id,
                version=version.version,
                stage=INITIAL_STAGE,
                record=record,
                actor=actor,
                at=now,
            )
            for name, item in version.evidence.items():
                tx.add_evidence(row.id, item, stored=name in stored, actor=actor, at=now)
            tx.append_event(
                time=now,
                actor=actor,
                action="version.registered",
                subject=subjects.version(info.name, version.version),
                model=info.name,
                payload={
                    **record,
                    "stage": INITIAL_STAGE,
                    "evidence": {k: e.sha256 for k, e in version.evidence.items()},
                },
            )
            return row

    def attach(
        self,
        model: str,
        version: str,
        name: str,
        *,
        path: str | Path | None = None,
        uri: str | None = None,
        sha256: str | None = None,
        kind: EvidenceKind = "document",
        actor: str,
    ) -> EvidenceItem:
        """Append evidence; a new item under an existing name supersedes the old one."""
        if (path is None) == (uri is None):
            raise InputError("give either a file or --uri (with --sha256)")
        if path is not None:
            path = Path(path)
            if not path.is_file():
                raise InputError(f"evidence file not found: {path}")
            with self.store.reading() as tx:  # before copying: a refused call stores nothing
                record = require_model(tx, model)
                authorize(tx, actor, "register", model_info(record))
                require_version(tx, record, version)
            sha, size = self.blobs.put_file(path)
            item = EvidenceItem(name=name, kind=kind, uri=path.name, sha256=sha, size=size)
        else:
            if sha256 is None or not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
                raise InputError("evidence referenced by --uri needs its --sha256 (64 hex digits)")
            item = EvidenceItem(name=name, kind=kind, uri=str(uri), sha256=sha256.lower())
        now = self.clock.now()
        with self.store.transaction() as tx:
            require_user(tx, actor)
            record = require_model(tx, model)
            authorize(tx, actor, "register", model_info(record))
            row = require_version(tx, record, version)
            previous = {e.item.name: e.item for e in tx.evidence_for(row.id)}
            if item.columns is None and name in previous:  # a corrected file keeps its roles
                item = item.model_copy(update={"columns": previous[name].columns})
            superseded = previous[name].sha256 if name in previous else None
            tx.add_evidence(row.id, item, stored=path is not None, actor=actor, at=now)
            tx.append_event(
                time=now,
                actor=actor,
                action="evidence.attached",
                subject=subjects.version(record.name, version),
                model=record.name,
                payload={**item.model_dump(mode="json"), "supersedes": superseded},
            )
        return item

    def evidence_content(self, model: str, version: str, name: str) -> EvidenceText:
        """The text of the version's evidence document ``name`` (its latest attachment): what
        a page shows of a model card without reaching into the blob store itself. Only a
        stored document of UTF-8 text up to ``MAX_EVIDENCE_TEXT`` bytes; anything else is a
        clear NotFound (no such item, content not stored here) or InputError (not text)."""
        with self.store.reading() as tx:
            row = require_version(tx, require_model(tx, model), version)
            items = {e.item.name: e for e in tx.evidence_for(row.id)}  # later supersedes
        found = items.get(name)
        if found is None:
            hint = close_names(name, list(items), f"evidence of {model} {version}")
            raise NotFound(f"{model} {version} has no evidence named '{name}' ({hint})")
        item = found.item
        if item.kind != "document":
            raise InputError(f"evidence '{name}' is a {item.kind}, not a document")
        if not found.stored or item.sha256 is None:
            raise NotFound(
                f"evidence '{name}' is a reference ({item.uri}); its content is not stored"
            )
        _text_size(name, item.size or 0)  # before reading: a big blob is never read whole
        try:
            data = self.blobs.read(item.sha256)
        except FileNotFoundError as exc:
            raise NotFound(f"evidence '{name}': its stored content is missing") from exc
        except OSError as exc:  # its bytes no longer match its digest
            raise StoreError(f"evidence '{name}': {exc}") from exc
        _text_size(name, len(data))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"evidence '{name}' is not UTF-8 text (byte {exc.start + 1} is not)"
            ) from exc
        if "\x00" in text:
            raise InputError(f"evidence '{name}' is binary, not text (it holds NUL bytes)")
        markdown = item.uri.lower().endswith((".md", ".markdown"))
        return EvidenceText(
            name=name,
            uri=item.uri,
            sha256=item.sha256,
            size=len(data),
            format="markdown" if markdown else "text",
            text=text,
        )

    def apply_policy(self, path: str | Path, *, actor: str) -> tuple[PolicyRecord, bool]:
        """Record a policy version; True when newly applied, False when already applied as is."""
        return self.apply_documents(read_policy_files(Path(path)), actor=actor)

    def apply_documents(
        self, documents: Sequence[tuple[str, str]], *, actor: str
    ) -> tuple[PolicyRecord, bool]:
        """``apply_policy`` for files given as (name, text): what the API receives.

        Only the first version of a policy name applies here: a later one changes what is in
        force, so it is a change request (``service.policy_changes``) and is refused here.
        """
        loaded = parse_policy(documents)
        name, version = loaded.name, loaded.version
        with self.store.transaction() as tx:
            authorize_server(tx, actor, "policy")
            existing = tx.get_policy(name, version)
            if existing is not None:
                if existing.content_hash == loaded.content_hash:
                    return existing, False
                raise InputError(
                    f"policy {name} {version} is already applied with different content "
                    f"(hash {existing.content_hash[:12]}…, now {loaded.content_hash[:12]}…); "
                    "bump metadata.version to apply a change"
                )
            current = current_policy(tx, name)
            if current is not None:
                check_successor(current, version)
                raise ApprovalError(
                    f"policy {name} {current.version} is in force; {version} changes it, and a "
                    "change needs approval by the roles its change_control names: propose it "
                    "with `clearance policy propose PATH --rationale TEXT --ticket ID` "
                    "(POST /v1/policy-changes)"
                )
            record, _ = record_policy(tx, loaded, documents, actor=actor, now=self.clock.now())
            return record, True

    def check_governed(self, model_name: str) -> str:
        """The policy that governs a model, as name@version (raises if none or several)."""
        with self.store.reading() as tx:
            record, _ = governing_policy(tx, require_model(tx, model_name))
            return f"{record.name}@{record.version}"


def current_policy(tx: Tx, name: str) -> PolicyRecord | None:
    """The version of policy ``name`` in force (its highest applied version), if any."""
    return next((p for p in active_policies(tx) if p.name == name), None)


def check_successor(current: PolicyRecord, version: str) -> None:
    """A policy's version only moves forward."""
    if semver_key(current.version) > semver_key(version):
        raise InputError(
            f"policy {current.name} {current.version} is already applied; "
            f"a policy's version only moves forward (got {version})"
        )


def record_policy(
    tx: Tx,
    loaded: LoadedPolicy,
    documents: Sequence[tuple[str, str]],
    *,
    actor: str,
    now: dt.datetime,
    extra: dict[str, Any] | None = None,
) -> tuple[PolicyRecord, AuditEvent]:
    """Put a policy version in force, with its ``policy.applied`` event (``extra``: what
    approved it, for a change request)."""
    refuse_ambiguity(tx, loaded)
    record = tx.add_policy(
        name=loaded.name,
        version=loaded.version,
        content_hash=loaded.content_hash,
        sources=list(documents),
        actor=actor,
        at=now,
    )
    event = tx.append_event(
        time=now,
        actor=actor,
        action="policy.applied",
        subject=subjects.policy(loaded.name, loaded.version),
        model=None,
        payload={
            "content_hash": loaded.content_hash,
            "files": [f for f, _ in documents],
            **(extra or {}),
        },
    )
    return record, event


def refuse_ambiguity(tx: Tx, loaded: LoadedPolicy) -> None:
    """Applying this policy must not leave a registered model governed by two policies."""
    others = [load_recorded(r).policy for r in active_policies(tx) if r.name != loaded.name]
    for model in tx.list_models():
        info = model_info(model)
        if mismatches(loaded.policy.selector, info):
            continue
        clash = [p.metadata.name for p in others if not mismatches(p.selector, info)]
        if clash:
            raise InputError(
                f"policy {loaded.name} would govern model {model.name}, which policy "
                f"{', '.join(clash)} already governs; narrow the selectors so that exactly "
                "one policy governs each model"
            )


def _text_size(name: str, size: int) -> None:
    if size > MAX_EVIDENCE_TEXT:
        raise InputError(
            f"evidence '{name}' is {size} bytes; at most {MAX_EVIDENCE_TEXT} are served as text"
        )
