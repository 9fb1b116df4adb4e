"""Lookups shared by the use cases: who, which model and version, which policy governs it,
and the port that opens a version's evidence for its gates.

Each lookup fails with a precise ``NotFound`` naming what was asked for and how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Protocol

from clearance.core.loading import LoadedPolicy, parse_policy, parse_selector
from clearance.core.policy import SEMVER, Selector
from clearance.core.selection import governing, mismatches
from clearance.core.version import Champion, EvidenceReader, ModelInfo, ModelVersion
from clearance.errors import InputError, NotFound
from clearance.service.ports import Tx
from clearance.service.records import (
    ModelRecord,
    PolicyRecord,
    RequestRecord,
    User,
    VersionRecord,
)


def require_user(tx: Tx, name: str) -> User:
    user = tx.get_user(name)
    if user is None:
        raise NotFound(
            f"unknown user '{name}'; add them with `clearance user add {name} --role ROLE`"
        )
    return user


def close_names(name: str, known: Iterable[str], what: str, *, n: int = 3) -> str:
    """What to tell someone who named an unknown ``what`` (plural): all of ``known`` when
    there are at most ``n``, else at most ``n`` close matches -- never a list that grows with
    the registry (a 404 once listed all 2,000 model names)."""
    names = list(dict.fromkeys(known))
    if not names:
        return f"no {what} yet"
    if len(names) <= n:
        return f"{what}: {', '.join(names)}"
    close = difflib.get_close_matches(name, names, n=n)
    if close:
        return f"did you mean {', '.join(close)}? {len(names)} {what} in all"
    return f"none of the {len(names)} {what} is close"


def require_model(tx: Tx, name: str) -> ModelRecord:
    model = tx.get_model(name)
    if model is None:
        hint = close_names(name, (m.name for m in tx.list_models()), "models")
        raise NotFound(f"unknown model '{name}' ({hint}); `clearance status` lists them")
    return model


def require_version(tx: Tx, model: ModelRecord, version: str) -> VersionRecord:
    record = tx.get_version(model.id, version)
    if record is None:
        hint = close_names(version, (v.version for v in tx.list_versions(model.id)), "versions")
        raise NotFound(
            f"model {model.name} has no version '{version}' ({hint}); "
            f"`clearance status {model.name}` lists them"
        )
    return record


def require_request(tx: Tx, request_id: int) -> RequestRecord:
    request = tx.get_request(request_id)
    if request is None:
        raise NotFound(f"there is no promotion request {request_id}; see `clearance request list`")
    return request


def model_info(model: ModelRecord) -> ModelInfo:
    return ModelInfo(
        name=model.name,
        risk_tier=model.risk_tier,
        owner=model.owner,
        team=model.team,
        tags=model.tags,
    )


def semver_key(version: str) -> tuple[int, int, int, int, str]:
    """Order semantic versions; a pre-release sorts before its release."""
    match = SEMVER.match(version)
    if match is None:
        raise InputError(f"'{version}' is not a semantic version")
    core, _, pre = version.split("+")[0].partition("-")
    major, minor, patch = (int(x) for x in core.split("."))
    return major, minor, patch, 0 if pre else 1, pre


@lru_cache(maxsize=64)
def _parse(sources: tuple[tuple[str, str], ...]) -> LoadedPolicy:
    return parse_policy(list(sources))


@lru_cache(maxsize=256)
def _selector(sources: tuple[tuple[str, str], ...]) -> Selector:
    return parse_selector(list(sources))


def _sources(record: PolicyRecord) -> tuple[tuple[str, str], ...]:
    return tuple((f, t) for f, t in record.sources)


def load_recorded(record: PolicyRecord) -> LoadedPolicy:
    """The policy as it was applied (its stored source text), parsed once per process."""
    return _parse(_sources(record))


def active_policies(tx: Tx) -> list[PolicyRecord]:
    """The highest applied version of each policy name."""
    best: dict[str, PolicyRecord] = {}
    for p in tx.list_policies():
        if p.name not in best or semver_key(p.version) > semver_key(best[p.name].version):
            best[p.name] = p
    return [best[name] for name in sorted(best)]


def governing_record(tx: Tx, model: ModelRecord) -> PolicyRecord:
    """The applied policy that governs ``model``, chosen by the policies' selectors alone:
    a read that only names the policy parses none of them in full."""
    return governing_among(active_policies(tx), model)


def governing_among(records: Sequence[PolicyRecord], model: ModelRecord) -> PolicyRecord:
    """``governing_record`` over the ``active_policies`` already read (a loop over every
    model reads them once)."""
    info = model_info(model)
    matching = [r for r in records if not mismatches(_selector(_sources(r)), info)]
    if len(matching) == 1:
        return matching[0]
    # none or several: ``governing`` words that error, over the policies in full
    chosen = governing([load_recorded(r).policy for r in records], info)
    return next(r for r in records if load_recorded(r).policy is chosen)


def governing_policy(tx: Tx, model: ModelRecord) -> tuple[PolicyRecord, LoadedPolicy]:
    """The governing policy's record and the policy, parsed (only that one is)."""
    record = governing_record(tx, model)
    return record, load_recorded(record)


def snapshot(
    tx: Tx, model: ModelRecord, version: VersionRecord, to_stage: str | None
) -> ModelVersion:
    """The version as the engine sees it now: record, current evidence, champion in to_stage."""
    rec = version.record
    evidence = {e.item.name: e.item for e in tx.evidence_for(version.id)}  # later wins
    champion = None
    if to_stage is not None:
        occupants = [v for v in tx.versions_in_stage(model.id, to_stage) if v.id != version.id]
        if occupants:
            latest = occupants[-1]
            champion = Champion(version=latest.version, metrics=latest.record.get("metrics", {}))
    return ModelVersion(
        model=model_info(model),
        version=version.version,
        stage=version.stage,
        artifact=rec.get("artifact"),
        lineage=rec.get("lineage", {}),
        metrics=rec.get("metrics", {}),
        params=rec.get("params", {}),
        features=rec.get("features", []),
        tags=rec.get("tags", {}),
        champion=champion,
        evidence=evidence,
    )


class EvidenceSource(Protocol):
    """Opens a registered version's evidence for its gates; ``artifact_blob`` is the blob
    holding the artifact's bytes, if it was uploaded (adapter: ``BlobEvidenceSource``)."""

    def open(self, version: ModelVersion, artifact_blob: str | None) -> EvidenceReader: ...
