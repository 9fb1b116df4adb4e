"""Keep MLflow's aliases and version tags equal to clearance's stages; catch hand changes.

For a model registered from MLflow (``mlflow_import``), clearance owns, in MLflow:

* the **alias** of each mapped stage (``mlflow.yaml`` ``aliases``: production → ``champion``),
  on the MLflow version of the latest version to arrive in that stage;
* the **governed tags** of each of its versions: ``clearance.stage``, ``clearance.decision``
  (the id of the decision that moved it), ``clearance.request``, ``clearance.policy``
  (name@version of that decision's policy) and ``clearance.audit_seq`` (the event that moved
  it). A move without a decision (registration, rollback) has no decision, request or policy.

``sync(model)`` compares three states, key by key (an alias, or one tag of one version):
what MLflow holds now (read first), what clearance wants (from the store), and what clearance
last wrote or accepted (folded from its ``mlflow.synced`` audit events):

=====================================  =============================================
MLflow holds what clearance wants       nothing to do
what clearance last wrote, not what     write-back pending (a promotion, a rollback):
it wants now                            write it
something else                          **ungoverned**: changed in MLflow without a
                                        decision. Recorded (``mlflow.ungoverned_change``)
                                        with a ``non_compliant`` alert, then moved back
                                        when ``revert`` is set or clearance has a newer
                                        move of its own to write
=====================================  =============================================

An alias no stage of clearance's holds yet (a ``champion`` set before clearance governed the
model) is taken as found on the first sync, and then must not change either. Syncs of one
model take turns (a lease in the store), so one sync's writes in flight are never read by
another as hand changes. The ungoverned change is recorded before MLflow is written, so a
crash never loses it; writing is idempotent, so a write-back that failed (MLflow down) is
simply done by the next sync, whether that is the next command, ``clearance mlflow
reconcile``, ``tick`` or a webhook.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from clearance.core import subjects
from clearance.errors import ClearanceError, InputError, NotFound, StoreConflict
from clearance.service.access import authorize_server
from clearance.service.alerts import emit
from clearance.service.context import governing_policy, require_model
from clearance.service.mlflow_import import VERSION_TAG
from clearance.service.mlflow_plan import (
    UNMANAGED,
    Key,
    Plan,
    Value,
    Wanted,
    nest,
    plan,
    target,
)
from clearance.service.mlflow_port import MlflowPort
from clearance.service.mlflow_settings import MlflowSettings
from clearance.service.mlflow_state import (
    GOVERNED_TAGS,
    SYNCED,
    Binding,
    History,
    bindings,
    wanted_tags,
)
from clearance.service.ports import Clock, IdempotencyPort, Store, Tx
from clearance.service.records import ModelRecord

SYNC_ACTOR = "clearance-mlflow"
UNGOVERNED = "mlflow.ungoverned_change"
LEASE = dt.timedelta(minutes=2)  # longer than a sync takes, even against a slow MLflow
LEASE_TRIES, LEASE_WAIT_S = 100, 0.2


class UngovernedChange(BaseModel):
    """An alias or governed tag found changed in MLflow without a clearance decision."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field(description="'@champion', or 'version 3 clearance.stage'.")
    found: str | None = Field(description="What MLflow holds (None: absent).")
    expected: str | None = Field(description="What clearance wants there.")
    reverted: bool = Field(description="Whether clearance moves it back in this sync.")


class MlflowSyncResult(BaseModel):
    """One model's sync: what was written to MLflow and what was found changed by hand."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    mlflow_model: str
    written: list[str] = Field(default_factory=list)
    ungoverned: list[UngovernedChange] = Field(default_factory=list)
    error: str | None = Field(default=None, description="Why this model could not be synced.")


@dataclass(frozen=True)
class MlflowSync:
    store: Store
    clock: Clock
    mlflow: MlflowPort
    settings: MlflowSettings
    leases: IdempotencyPort

    def sync(self, model: str, *, revert: bool | None = None) -> MlflowSyncResult:
        """Write clearance's state of ``model`` to MLflow and catch ungoverned changes."""
        if not self.follows(model):
            raise InputError(f"model {model} was not registered from MLflow; nothing to sync")
        with self._lease(model):
            return self._sync(model, self.settings.revert if revert is None else revert)

    @contextmanager
    def _lease(self, model: str) -> Iterator[None]:
        """One sync of a model at a time, across processes: another sync's writes in flight
        would otherwise read as hand changes. Held as a claim in the idempotency table, which
        another process takes over once it lapses (a sync that crashed)."""
        key = f"mlflow-sync:{model}"
        for _ in range(LEASE_TRIES):
            if self.leases.claim(SYNC_ACTOR, key, "sync", self.clock.now(), LEASE) is None:
                break
            time.sleep(LEASE_WAIT_S)
        else:
            raise StoreConflict(
                f"another sync of {model} has been running for over "
                f"{LEASE_TRIES * LEASE_WAIT_S:g} s; the next one (tick) checks again"
            )
        try:
            yield
        finally:
            self.leases.release(SYNC_ACTOR, key)

    def _sync(self, model: str, revert: bool) -> MlflowSyncResult:
        """Under the lease: every read is made now, none before it was taken."""
        with self.store.reading() as tx:
            (seen,) = bindings(tx, [require_model(tx, model)])
        actual, missing = self._actual(seen)  # MLflow before the store: see the module doc
        with self.store.reading() as tx:  # the binding again, consistent with the history
            (binding,) = bindings(tx, [require_model(tx, model)])
            history = History.read(tx, model)
            wanted = self._wanted(tx, binding, history, missing, read=set(seen.versions))
        todo = plan(actual, wanted, history.last, revert=revert)
        changes = self._record_drifts(binding, todo, history, missing)
        written = self._write(binding, todo)
        if written or todo.accepted:
            self._record_synced(binding, written, todo.accepted)
        return MlflowSyncResult(
            model=binding.model.name,
            mlflow_model=binding.mlflow_model,
            written=[f"{target(k)} = {v if v is not None else '(removed)'}" for k, v in written],
            ungoverned=changes,
        )

    def reconcile(
        self,
        models: Iterable[str] | None = None,
        *,
        revert: bool | None = None,
        actor: str | None = None,
        operator: bool = False,
    ) -> list[MlflowSyncResult]:
        """``sync`` every model registered from MLflow (or those named); one that fails is
        reported with its error and the others still run. Through the API it needs a role
        that may run ``tick``."""
        with self.store.reading() as tx:
            if actor is not None and not operator:
                authorize_server(tx, actor, "tick")
            chosen = tx.list_models() if models is None else [require_model(tx, m) for m in models]
            names = [(b.model.name, b.mlflow_model) for b in bindings(tx, chosen)]
        out = []
        for name, mlflow_name in names:
            try:
                out.append(self.sync(name, revert=revert))
            except ClearanceError as exc:
                out.append(MlflowSyncResult(model=name, mlflow_model=mlflow_name, error=str(exc)))
        return out

    def follows(self, model: str) -> bool:
        """Whether ``model`` was registered from an MLflow registered model."""
        with self.store.reading() as tx:
            return bool(bindings(tx, [require_model(tx, model)]))

    def models_following(self, mlflow_model: str) -> list[str]:
        """The clearance models that follow an MLflow registered model (for webhooks)."""
        with self.store.reading() as tx:
            return [
                b.model.name
                for b in bindings(tx, tx.list_models())
                if b.mlflow_model == mlflow_model
            ]

    # the three states --------------------------------------------------------------------------
    def _actual(self, binding: Binding) -> tuple[dict[Key, Value], set[str]]:
        """MLflow's aliases and governed tags, and the versions deleted there."""
        aliases = self.mlflow.aliases(binding.mlflow_model)
        out: dict[Key, Value] = {
            ("alias", a): aliases.get(a) for a in self.settings.aliases.values()
        }
        missing = set()
        for version in binding.versions:
            try:
                tags = self.mlflow.version_tags(binding.mlflow_model, version)
            except NotFound:
                missing.add(version)
                continue
            out.update({("tag", version, k): tags.get(k) for k in GOVERNED_TAGS})
        return out, missing

    def _wanted(
        self, tx: Tx, binding: Binding, history: History, missing: set[str], read: set[str]
    ) -> dict[Key, Wanted]:
        """Aliases and tags as clearance's stages say; none for versions deleted in MLflow,
        which can carry neither, and no tags for versions registered since MLflow was read
        (the next sync tags them)."""
        wanted: dict[Key, Wanted] = {}
        live = {v: row for v, row in binding.versions.items() if v not in missing}
        for stage, alias in self.settings.aliases.items():
            held = [row for row in live.values() if row.stage == stage]
            latest = max(held, key=lambda v: (v.stage_changed_at, v.id), default=None)
            if latest is not None:
                wanted[("alias", alias)] = latest.record["tags"][VERSION_TAG]
            else:
                wanted[("alias", alias)] = None if alias in history.owned else UNMANAGED
        for mlflow_version, row in live.items():
            if mlflow_version not in read:
                continue
            event = history.moves.get(subjects.version(binding.model.name, row.version))
            tags = wanted_tags(tx, row, event)
            wanted.update({("tag", mlflow_version, k): tags.get(k) for k in GOVERNED_TAGS})
        return wanted

    # recording and writing ---------------------------------------------------------------------
    def _record_drifts(
        self, binding: Binding, todo: Plan, history: History, missing: set[str]
    ) -> list[UngovernedChange]:
        """Each ungoverned change once: an event and a ``non_compliant`` alert, keyed by the
        key, what was found and how often clearance had written that key."""
        found_changes: list[tuple[Key, UngovernedChange]] = [
            (
                ("version", v),
                UngovernedChange(
                    target=f"version {v}", found="deleted", expected="registered", reverted=False
                ),
            )
            for v in sorted(missing)
        ]
        for key, found, want, reverting in todo.drifts:
            change = UngovernedChange(
                target=target(key), found=found, expected=want, reverted=reverting
            )
            found_changes.append((key, change))
        if not found_changes:
            return []
        now = self.clock.now()
        name = binding.model.name
        with self.store.transaction() as tx:
            policy = _policy_name(tx, binding.model)
            for key, change in found_changes:
                concerned = change.found if key[0] == "alias" else key[1]
                row = binding.versions.get(concerned or "")
                fact = hashlib.sha256(json.dumps(change.found).encode()).hexdigest()[:16]
                times = history.times.get(key, 0)
                if not emit(
                    tx,
                    f"mlflow-ungoverned:{name}:{change.target}:{times}:{fact}",
                    event="non_compliant",
                    severity="critical",
                    model=name,
                    version=row.version if row else "(not in clearance)",
                    policy=policy,
                    now=now,
                    actor=SYNC_ACTOR,
                    summary=_summary(binding, change),
                    details={"mlflow_model": binding.mlflow_model, **change.model_dump()},
                    remediation=_remediation(binding, key, change),
                ):
                    continue  # this very change was recorded before
                tx.append_event(
                    time=now,
                    actor=SYNC_ACTOR,
                    action=UNGOVERNED,
                    subject=subjects.version(name, row.version) if row else subjects.model(name),
                    model=name,
                    payload={
                        "mlflow_model": binding.mlflow_model,
                        **change.model_dump(),
                        "last_written": history.last.get(key),
                    },
                )
        return [change for _, change in found_changes]

    def _write(self, binding: Binding, todo: Plan) -> list[tuple[Key, Value]]:
        """Write MLflow; what was written before an error is still recorded, then it raises."""
        done: list[tuple[Key, Value]] = []
        name = binding.mlflow_model
        try:
            for key, value in sorted(todo.writes.items(), key=lambda kv: kv[0]):
                if key[0] == "alias" and value is None:
                    self.mlflow.delete_alias(name, key[1])
                elif key[0] == "alias":
                    self.mlflow.set_alias(name, key[1], str(value))
                elif value is None:
                    self.mlflow.delete_tag(name, key[1], key[2])
                else:
                    self.mlflow.set_tag(name, key[1], key[2], value)
                done.append((key, value))
        except ClearanceError:
            if done:
                self._record_synced(binding, done, {})
            raise
        return done

    def _record_synced(
        self, binding: Binding, written: list[tuple[Key, Value]], accepted: Mapping[Key, Value]
    ) -> None:
        with self.store.transaction() as tx:
            tx.append_event(
                time=self.clock.now(),
                actor=SYNC_ACTOR,
                action=SYNCED,
                subject=subjects.model(binding.model.name),
                model=binding.model.name,
                payload={
                    "mlflow_model": binding.mlflow_model,
                    "written": nest(dict(written)),
                    "accepted": nest(accepted),
                },
            )


def _policy_name(tx: Tx, model: ModelRecord) -> str:
    try:
        record, _ = governing_policy(tx, model)
    except ClearanceError:
        return "none"
    return f"{record.name}@{record.version}"


def _shown(value: Value) -> str:
    return "absent" if value is None else json.dumps(value)[:80]


def _summary(binding: Binding, change: UngovernedChange) -> str:
    return (
        f"{change.target} of MLflow model {binding.mlflow_model} changed without a clearance "
        f"decision: {_shown(change.found)}, clearance has {_shown(change.expected)}"
        + ("; moved back" if change.reverted else "")
    )


def _remediation(binding: Binding, key: Key, change: UngovernedChange) -> str:
    if change.reverted:
        return "clearance moved it back; find out who changed it in MLflow, and why"
    if key[0] == "version":
        return "a deleted MLflow version cannot serve; promote another version through clearance"
    if key[0] == "alias" and change.found in binding.versions:
        version = binding.versions[change.found].version
        return (
            f"move it back with `clearance mlflow reconcile --revert`, or promote "
            f"{binding.model.name} {version} through clearance"
        )
    return "move it back with `clearance mlflow reconcile --revert`"
