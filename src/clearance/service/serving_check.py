"""What a serving process must check before it loads a model: the serving check.

``ServingChecks.check(model, stage=...)`` resolves the version clearance says is serving in
``stage`` (in production: the champion, or the canary of a running rollout when asked for by
version), the promotion request that put it there and that request's deciding decision, and
gathers what a loader verifies: the recorded artifact (URI and sha256), the decision's signed
attestation (DSSE envelope), the waivers the decision relied on and the emergency bypass it
used, each with when it lapses, the workspace's signing keys, and the governing policy's
``inference`` section. ``problems`` lists what the store alone shows is wrong.

The loader (``clearance.serving``) trusts none of this blindly: it hashes the bytes it is
about to load, verifies the attestation's signature with a pinned key (or these keys), checks
that the signed statement names those bytes and an ``allow``, and judges every expiry again
at its own clock. A serving check is a read: no state changes, no audit event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from clearance.core.inference import InferenceSpec
from clearance.core.loading import LoadedPolicy
from clearance.core.waivers import Waiver, find_waiver
from clearance.errors import InputError, NotFound, StoreError
from clearance.service.attestations import Attestations, EnvelopeOut
from clearance.service.context import governing_policy, load_recorded, require_model
from clearance.service.governance import bypass_expires_at
from clearance.service.ports import Clock, Store, Tx
from clearance.service.records import (
    DecisionRecord,
    ModelRecord,
    Record,
    RequestRecord,
    VersionRecord,
    WaiverRecord,
    WaiverState,
)

ReasonCode = Literal[
    "not_serving",  # no version serves in the stage, or the one named does not
    "not_approved",  # no executed promotion with an allow decision put it there
    "artifact_missing",  # the version has no artifact digest to check bytes against
    "artifact_unavailable",  # the loader could not read the artifact's bytes
    "digest_mismatch",  # the bytes are not the recorded (and attested) ones
    "attestation_missing",  # the deciding decision has no signed attestation
    "attestation_invalid",  # the attestation does not verify or says something else
    "waiver_expired",  # a waiver the decision relied on lapsed, and none covers its gate
    "waiver_revoked",  # ... was revoked, and none covers its gate
    "bypass_expired",  # the emergency bypass ran out, and waivers do not cover its gates
]
Role = Literal["champion", "canary", "stage"]
TIME_CODES: frozenset[str] = frozenset({"waiver_expired", "waiver_revoked", "bypass_expired"})


class ServedArtifact(Record):
    uri: str | None = Field(description="The artifact's path or URI as registered.")
    sha256: str | None = Field(description="The sha256 recorded at registration.")
    blob: str | None = Field(description="Its copy in the server's blob store, by sha256.")


class ReliedWaiver(Record):
    """A waiver the decision relied on, and what covers its gate now."""

    id: str = Field(description="W-3")
    gate: str
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    state: WaiverState
    covered_by: str | None = Field(description="The waiver in force for the gate now, if any.")
    covered_until: dt.datetime | None = Field(description="When that cover lapses.")


class BypassedGate(Record):
    gate: str
    covered_by: str | None = Field(description="A waiver in force for the gate now, if any.")
    covered_until: dt.datetime | None


class Bypass(Record):
    """The emergency change the promotion used: the gates it skipped, until when."""

    change_type: str
    executed_at: dt.datetime | None
    expires_at: dt.datetime | None = Field(description="None: the policy sets no expiry.")
    gates: list[BypassedGate]


class SigningKey(Record):
    keyid: str = Field(description="sha256 of the raw Ed25519 public key (the DSSE keyid).")
    public_key_hex: str
    retired: dt.datetime | None
    compromised: bool


class ServingProblem(Record):
    code: ReasonCode
    message: str


class ServingCheck(Record):
    """What clearance says serves in a stage, and what a loader verifies before loading it."""

    model: str
    stage: str
    version: str | None
    role: Role | None = Field(description="champion, canary (a running rollout) or stage.")
    artifact: ServedArtifact | None
    request: int | None = Field(description="The promotion request that put it there.")
    change_type: str | None
    decision: int | None = Field(description="That request's deciding decision (number).")
    outcome: str | None
    policy: str | None = Field(description="name@version the decision was made under.")
    policy_hash: str | None
    attestation: EnvelopeOut | None = Field(description="The decision's DSSE envelope.")
    waivers: list[ReliedWaiver]
    bypass: Bypass | None
    keys: list[SigningKey] = Field(description="The workspace's signing keys, as it states them.")
    inference: InferenceSpec | None = Field(description="The governing policy's inference rules.")
    checked_at: dt.datetime
    problems: list[ServingProblem]
    ok: bool = Field(description="No problems seen here (the loader still checks its own).")


@dataclass
class _Found:
    """What the store says, gathered in one read."""

    model: ModelRecord
    loaded: LoadedPolicy | None  # the governing policy now
    version: VersionRecord | None = None
    role: Role | None = None
    request: RequestRecord | None = None
    decision: DecisionRecord | None = None
    decision_policy: LoadedPolicy | None = None
    waivers: Sequence[WaiverRecord] = ()


@dataclass(frozen=True)
class ServingChecks:
    store: Store
    clock: Clock
    attestations: Attestations
    keys: Callable[[], Sequence[SigningKey]] | None = None

    def check(
        self, model: str, *, stage: str = "production", version: str | None = None
    ) -> ServingCheck:
        """The serving check of ``model`` in ``stage`` (or of ``version`` there)."""
        now = self.clock.now()
        problems: list[ServingProblem] = []
        with self.store.reading() as tx:
            found = _resolve(tx, model, stage, version, problems)
        envelope = self._envelope(found, problems)
        waivers = _relied_waivers(found, now, problems)
        bypass = _bypass(found, now, problems)
        row = found.version
        art = row.record.get("artifact") if row is not None else None
        artifact = None
        if isinstance(art, dict):
            blob = row.record.get("artifact_blob") if row is not None else None
            artifact = ServedArtifact(
                uri=art.get("uri"),
                sha256=art.get("sha256"),
                blob=blob if isinstance(blob, str) else None,
            )
        if (
            row is not None
            and found.decision is not None
            and (artifact is None or not artifact.sha256)
        ):
            problems.append(
                ServingProblem(
                    code="artifact_missing",
                    message=f"{found.model.name} {row.version} was registered without an "
                    "artifact digest: there are no bytes to check",
                )
            )
        decided = found.decision
        policy = found.decision_policy
        return ServingCheck(
            model=found.model.name,
            stage=stage,
            version=row.version if row is not None else None,
            role=found.role,
            artifact=artifact,
            request=found.request.id if found.request else None,
            change_type=found.request.change_type if found.request else None,
            decision=decided.id if decided else None,
            outcome=str(decided.outcome) if decided else None,
            policy=f"{policy.name}@{policy.version}" if policy else None,
            policy_hash=policy.content_hash if policy else None,
            attestation=envelope,
            waivers=waivers,
            bypass=bypass,
            keys=list(self.keys()) if self.keys is not None else [],
            inference=found.loaded.policy.inference if found.loaded else None,
            checked_at=now,
            problems=problems,
            ok=not problems,
        )

    def _envelope(self, found: _Found, problems: list[ServingProblem]) -> EnvelopeOut | None:
        if found.request is None or found.decision is None:
            return None
        try:
            return self.attestations.attestation(found.request.id, decision=found.decision.id)
        except NotFound as exc:
            problems.append(ServingProblem(code="attestation_missing", message=str(exc)))
        except StoreError as exc:
            problems.append(ServingProblem(code="attestation_invalid", message=str(exc)))
        return None


def _resolve(
    tx: Tx, model: str, stage: str, version: str | None, problems: list[ServingProblem]
) -> _Found:
    record = require_model(tx, model)
    try:
        _, loaded = governing_policy(tx, record)
    except (NotFound, InputError):
        loaded = None
    if loaded is not None and stage not in loaded.policy.workflow.stages:
        stages = ", ".join(loaded.policy.workflow.stages)
        raise NotFound(f"stage {stage!r} is not in {loaded.name}'s workflow ({stages})")
    found = _Found(model=record, loaded=loaded)
    prod = loaded.policy.workflow.production_stage if loaded else "production"
    candidates = _serving(tx, record, stage, prod)
    if not candidates:
        problems.append(
            ServingProblem(code="not_serving", message=f"no version of {record.name} is in {stage}")
        )
        return found
    wanted = [c for c in candidates if version is None or c[0].version == version]
    if not wanted:
        names = ", ".join(f"{c[0].version} ({c[1]})" for c in candidates)
        problems.append(
            ServingProblem(
                code="not_serving",
                message=f"{record.name} {version} is not serving in {stage}; {names} is",
            )
        )
        return found
    chosen = wanted[0]
    found.version, found.role, request = chosen
    found.request = request or _executed_request(tx, chosen[0], stage)
    if found.request is None:
        problems.append(
            ServingProblem(
                code="not_approved",
                message=f"{record.name} {chosen[0].version} is in {stage}, but no executed "
                f"promotion to {stage} put it there",
            )
        )
        return found
    decisions = tx.decisions_for(found.request.id)
    if not decisions:
        problems.append(
            ServingProblem(
                code="not_approved", message=f"request {found.request.id} has no decision"
            )
        )
        return found
    found.decision = max(decisions, key=lambda d: d.id)
    found.decision_policy = load_recorded(tx.policy_by_id(found.request.policy_id))
    found.waivers = tx.list_waivers(model=record.name)
    if found.decision.outcome != "allow":
        problems.append(
            ServingProblem(
                code="not_approved",
                message=f"decision {found.decision.id} of request {found.request.id} is "
                f"{found.decision.outcome}, not allow",
            )
        )
    return found


def _serving(
    tx: Tx, model: ModelRecord, stage: str, production: str
) -> list[tuple[VersionRecord, Role, RequestRecord | None]]:
    """The versions serving in ``stage``, the default first: in production the champion
    (newest in a slot) and the others in a slot, then a running canary with its request."""
    versions = tx.list_versions(model.id)
    if stage != production:
        inside = sorted((v for v in versions if v.stage == stage), key=lambda v: v.stage_changed_at)
        return [(v, "stage", None) for v in reversed(inside)]
    slots = sorted(
        (v for v in versions if v.production_slot is not None),
        key=lambda v: v.stage_changed_at,
        reverse=True,
    )
    out: list[tuple[VersionRecord, Role, RequestRecord | None]] = [
        (v, "champion", None) for v in slots
    ]
    for rollout in tx.rollouts(model_id=model.id, status="running"):
        out.append(
            (tx.version_by_id(rollout.version_id), "canary", tx.get_request(rollout.request_id))
        )
    return out


def _executed_request(tx: Tx, row: VersionRecord, stage: str) -> RequestRecord | None:
    done = [
        r
        for r in tx.list_requests(version_id=row.id, statuses=("executed",))
        if r.to_stage == stage
    ]
    return max(done, key=lambda r: r.id, default=None)


def _gates(decision: DecisionRecord) -> list[dict[str, Any]]:
    gates = decision.result.get("gates")
    return [g for g in gates if isinstance(g, dict)] if isinstance(gates, list) else []


def _cover(
    waivers: Sequence[Waiver], model: str, version: str, gate: str, now: dt.datetime
) -> Waiver | None:
    return find_waiver(waivers, model=model, version=version, gate_id=gate, now=now)


def _relied_waivers(
    found: _Found, now: dt.datetime, problems: list[ServingProblem]
) -> list[ReliedWaiver]:
    if found.decision is None or found.version is None:
        return []
    records = {w.label: w for w in found.waivers}
    usable = [w.as_waiver() for w in found.waivers]
    model, version = found.model.name, found.version.version
    out = []
    for gate in _gates(found.decision):
        label = gate.get("waiver")
        if not isinstance(label, str):
            continue
        record = records.get(label)
        if record is None:
            raise StoreError(f"decision {found.decision.id} names waiver {label}, which is unknown")
        cover = _cover(usable, model, version, record.gate_id, now)
        relied = ReliedWaiver(
            id=label,
            gate=record.gate_id,
            expires_at=record.expires_at,
            revoked_at=record.revoked_at,
            state=record.state(now),
            covered_by=cover.id if cover else None,
            covered_until=cover.expires_at if cover else None,
        )
        out.append(relied)
        if cover is None:
            code: ReasonCode = "waiver_revoked" if record.revoked_at else "waiver_expired"
            problems.append(
                ServingProblem(
                    code=code,
                    message=f"waiver {label} on gate {record.gate_id}, which the decision "
                    f"relied on, is {relied.state}, and no waiver covers the gate now",
                )
            )
    return out


def _bypass(found: _Found, now: dt.datetime, problems: list[ServingProblem]) -> Bypass | None:
    request, policy = found.request, found.decision_policy
    if request is None or policy is None or found.decision is None or found.version is None:
        return None
    ctype = policy.policy.change_types.get(request.change_type)  # type: ignore[call-overload]
    if ctype is None or not ctype.bypass:
        return None
    skipped = {
        str(g.get("gate_id")) for g in _gates(found.decision) if g.get("status") == "skipped"
    }
    gates = [g for g in ctype.bypass if g in skipped]
    if not gates:
        return None
    executed = request.updated_at if request.status == "executed" else None
    expires = bypass_expires_at(request, ctype)
    usable = [w.as_waiver() for w in found.waivers]
    covered = []
    for gate in gates:
        cover = _cover(usable, found.model.name, found.version.version, gate, now)
        covered.append(
            BypassedGate(
                gate=gate,
                covered_by=cover.id if cover else None,
                covered_until=cover.expires_at if cover else None,
            )
        )
    bypass = Bypass(
        change_type=request.change_type, executed_at=executed, expires_at=expires, gates=covered
    )
    bare = [g.gate for g in covered if g.covered_by is None]
    if expires is not None and now >= expires and bare:
        problems.append(
            ServingProblem(
                code="bypass_expired",
                message=f"the {request.change_type} bypass of request {request.id} expired at "
                f"{expires.isoformat()}; {', '.join(bare)} must pass, or be waived, now",
            )
        )
    return bypass
