"""What the store says about a model's state in MLflow: which MLflow model it follows, the
event that last moved each version, and what clearance last wrote there (folded from its
``mlflow.synced`` audit events, so no table of its own is needed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from clearance.core.audit import AuditEvent
from clearance.service.mlflow_import import MODEL_TAG, VERSION_TAG
from clearance.service.mlflow_plan import Key, Value, flat
from clearance.service.ports import Tx
from clearance.service.records import ModelRecord, VersionRecord

SYNCED = "mlflow.synced"
GOVERNED_TAGS = (
    "clearance.stage",
    "clearance.decision",
    "clearance.request",
    "clearance.policy",
    "clearance.audit_seq",
)
_MOVES = ("version.registered", "version.stage_changed")


@dataclass(frozen=True)
class Binding:
    """A clearance model and the MLflow registered model it follows."""

    model: ModelRecord
    mlflow_model: str
    versions: dict[str, VersionRecord]  # MLflow version -> clearance version


def bindings(tx: Tx, models: Iterable[ModelRecord]) -> list[Binding]:
    """Those of ``models`` registered from one MLflow registered model (by their versions'
    ``mlflow.model_name`` and ``mlflow.model_version`` tags)."""
    out = []
    for model in models:
        rows = {}
        names = set()
        for row in tx.list_versions(model.id):
            tags = row.record.get("tags", {})
            if MODEL_TAG in tags and VERSION_TAG in tags:
                names.add(tags[MODEL_TAG])
                rows[tags[VERSION_TAG]] = row
        if len(names) == 1:
            out.append(Binding(model, names.pop(), rows))
    return out


@dataclass
class History:
    """What a model's audit trail says for a sync: the event that last moved each version,
    and for each key what clearance last wrote or accepted, how often, and which aliases it
    has written (owns)."""

    moves: dict[str, AuditEvent] = field(default_factory=dict)  # by version subject
    last: dict[Key, Value] = field(default_factory=dict)
    times: dict[Key, int] = field(default_factory=dict)
    owned: set[str] = field(default_factory=set)

    @classmethod
    def read(cls, tx: Tx, model: str) -> History:
        out = cls()
        for event in tx.events(model=model):
            if event.action in _MOVES:
                out.moves[event.subject] = event
            elif event.action == SYNCED:
                written = flat(event.payload.get("written", {}))
                out.owned.update(k[1] for k in written if k[0] == "alias")
                for key, value in (flat(event.payload.get("accepted", {})) | written).items():
                    out.last[key] = value
                    out.times[key] = out.times.get(key, 0) + 1
        return out


def wanted_tags(tx: Tx, row: VersionRecord, event: AuditEvent | None) -> dict[str, str]:
    """The governed tags a version should carry, from the event that last moved it."""
    tags = {"clearance.stage": row.stage}
    if event is None:
        return tags
    tags["clearance.audit_seq"] = str(event.seq)
    rid = event.payload.get("request") if event.action == "version.stage_changed" else None
    if rid is not None:
        request = tx.get_request(int(rid))
        decisions = tx.decisions_for(int(rid))
        if request is not None and decisions:
            policy = tx.policy_by_id(request.policy_id)
            tags["clearance.request"] = str(rid)
            tags["clearance.decision"] = decisions[-1].digest
            tags["clearance.policy"] = f"{policy.name}@{policy.version}"
    return tags
