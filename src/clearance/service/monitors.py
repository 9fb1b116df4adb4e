"""Monitors on production: run what is due, record each result, alert, and act.

For every model whose governing policy declares ``monitors``, each production version is
checked by each monitor that is due (``core.monitors``): the newest batch of production data
is read as the evidence its gate names, beside the version's registered evidence (the
reference data), and the gate is evaluated by the engine like any gate, so the result *is*
a ``GateResult``. Each run is recorded as one ``monitor.checked`` audit event carrying that
result and the batch's digest; no table holds runs: due-ness, streaks and the status are
folded from these events (``runs``). The actions a result calls for (``core.monitors.assess``)
happen in the same transaction as its event: an alert (``monitor_failed``), a retrain request
(``retrain_requested``, posted to the webhook channel the policy names), a fallback or a
rollback (``promotion.restore_previous``, whose audit events carry the monitor's reason).
Alerts are then routed and sent at once.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from clearance.core import subjects
from clearance.core.monitors import (
    KPI_TYPE,
    Assessment,
    KpiQuery,
    MonitorRun,
    MonitorSpec,
    assess,
    failing_streak,
    is_due,
    next_due,
    runs_of,
)
from clearance.core.results import GateResult, GateStatus
from clearance.core.version import EvidenceItem, EvidenceReader, ModelVersion
from clearance.dataset_sources import TableSource, source_digest, source_files
from clearance.errors import ClearanceError, InputError, NotFound, TransitionRefused
from clearance.manifest import file_sha256
from clearance.service.access import authorize_server
from clearance.service.alerts import emit
from clearance.service.context import (
    EvidenceSource,
    active_policies,
    governing_among,
    governing_policy,
    load_recorded,
    require_model,
    snapshot,
)
from clearance.service.monitor_trail import (
    CHECKED,
    recorded_runs,
    runs_since,
)
from clearance.service.ports import Clock, Store, Tx
from clearance.service.promotion import RETIRED_STAGE, restore_previous
from clearance.service.records import ModelRecord, Record, VersionRecord

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from clearance.core.loading import LoadedPolicy
    from clearance.core.policy import GateSpec
    from clearance.service.delivery import Deliveries
    from clearance.service.kpi_sources import KpiSource

MONITOR_ACTOR = "clearance-monitor"
BATCH_SUFFIXES = (".parquet", ".pq", ".csv", ".arrow", ".ipc", ".feather")
MAX_ENTRIES = 100_000  # files looked at to find the newest batch
MAX_MESSAGE = 2000
MAX_DETAILS = 32_000  # characters of a result's details kept in its audit event

BatchOpener = Callable[[str, Path], EvidenceReader]
# (the version's reader, the evidence name, where production data lives) -> a reader whose
# dataset of that name an engine summarises (``clearance.adapters.warehouse``)
SourceOpener = Callable[[EvidenceReader, str, TableSource], EvidenceReader]
"""Opens one batch file as a reader holding it under the given evidence name (the adapter:
``FileEvidence``), so it is read like every other dataset."""


class BatchInfo(Record):
    """The production batch a run read: where, its digest and size, when it was written."""

    uri: str
    sha256: str
    size: int
    modified: dt.datetime


class MonitorResult(Record):
    """One monitor run on one production version: the gate's result and what it led to."""

    model: str
    version: str
    monitor: str
    policy: str = Field(description="name@version of the policy declaring the monitor.")
    at: dt.datetime
    result: GateResult
    batch: BatchInfo | None
    sustained: bool = Field(description="Failing for the policy's window (`for`).")
    failing_since: dt.datetime | None
    runs_failing: int
    actions: list[str] = Field(description="Actions taken (in a dry run: that would be).")
    notes: list[str] = Field(default_factory=list, description="What the actions did.")
    recorded: bool = Field(description="False in a dry run: nothing was written.")
    next_due: dt.datetime

    @property
    def failing(self) -> bool:
        return self.result.status in (GateStatus.FAIL, GateStatus.ERROR)


class MonitorRunOut(Record):
    """What ``monitor run`` did."""

    results: list[MonitorResult]
    not_due: int = Field(description="Monitors skipped because they ran within their cadence.")
    problems: list[str] = Field(description="Models or alerts that could not be handled.")
    delivered: int = 0
    dry_run: bool = False

    @property
    def failing(self) -> bool:
        return any(r.failing for r in self.results)


class MonitorState(Record):
    """A monitor as it stands for one production version (``monitor status``)."""

    monitor: str
    gate: str
    version: str
    every: str
    window: str | None = Field(description="The policy's `for`.")
    on_fail: list[str]
    data: str
    runs: int = Field(description="Runs on this version since it entered production.")
    last_run: dt.datetime | None
    next_due: dt.datetime
    status: str | None = Field(description="The last run's gate status.")
    message: str
    observed: Any = None
    threshold: Any = None
    failing_since: dt.datetime | None
    runs_failing: int


class MonitorStatusOut(Record):
    model: str
    policy: str
    monitors: list[MonitorState]


@dataclass(frozen=True)
class Monitors:
    """``open_batch`` reads a batch file; ``data_root`` anchors relative data paths (the
    workspace); ``deliveries`` sends the alerts a run recorded (None: left to ``tick``)."""

    store: Store
    evidence: EvidenceSource
    clock: Clock
    open_batch: BatchOpener
    data_root: Path
    deliveries: Callable[[], Deliveries] | None = None
    kpi_source: Callable[[], KpiSource | None] = lambda: None
    open_source: SourceOpener | None = None

    def run(
        self,
        *,
        model: str | None = None,
        dry_run: bool = False,
        actor: str | None = None,
        operator: bool = False,
        send: bool = True,
    ) -> MonitorRunOut:
        """Run every due monitor (of ``model``, or of every model): record, alert, act.

        ``actor`` (the API's caller) must hold a role that may run the tick; the local CLI
        and the scheduler run as the operator. A dry run evaluates and records nothing.
        """
        now = self.clock.now()
        with self.store.reading() as tx:
            if actor is not None and not operator:
                authorize_server(tx, actor, "tick")
            models = [require_model(tx, model)] if model else tx.list_models()
            policies = active_policies(tx)  # once: every model is judged against them
        results: list[MonitorResult] = []
        problems: list[str] = []
        not_due = 0
        for record in models:
            try:
                loaded = load_recorded(governing_among(policies, record))
            except ClearanceError as exc:
                if model:
                    raise
                if not isinstance(exc, NotFound):  # ungoverned models have no monitors
                    problems.append(f"{record.name}: not monitored: {exc}")
                continue
            try:
                done, skipped = self._model(record, loaded, now, dry_run, actor)
            except ClearanceError as exc:  # one bad model must not stop the others
                problems.append(f"{record.name}: not monitored: {exc}")
                continue
            results += done
            not_due += skipped
        delivered = 0
        if send and not dry_run and results and self.deliveries is not None:
            try:
                deliveries = self.deliveries()
                deliveries.route()
                delivered = len(deliveries.send().sent)
            except ClearanceError as exc:
                problems.append(f"alerts not sent (sent by the next tick): {exc}")
        return MonitorRunOut(
            results=results,
            not_due=not_due,
            problems=problems,
            delivered=delivered,
            dry_run=dry_run,
        )

    def status(self, model: str) -> MonitorStatusOut:
        """Each monitor of the model's policy, per production version: last run, next due."""
        now = self.clock.now()
        with self.store.reading() as tx:
            record = require_model(tx, model)
            _, loaded = governing_policy(tx, record)
            prod = loaded.policy.workflow.production_stage
            versions = tx.versions_in_stage(record.id, prod)
            runs = list(recorded_runs(tx, record.name))
        states = []
        for row in versions:
            for spec in loaded.policy.monitors:
                states.append(_state(spec, row, runs_since(runs, row), now))
        return MonitorStatusOut(
            model=record.name, policy=f"{loaded.name}@{loaded.version}", monitors=states
        )

    # one model ----------------------------------------------------------------------------
    def _model(
        self,
        record: ModelRecord,
        loaded: LoadedPolicy,
        now: dt.datetime,
        dry_run: bool,
        actor: str | None,
    ) -> tuple[list[MonitorResult], int]:
        if not loaded.policy.monitors:
            return [], 0
        with self.store.reading() as tx:
            prod = loaded.policy.workflow.production_stage
            rows = tx.versions_in_stage(record.id, prod)
            runs = list(recorded_runs(tx, record.name))
            snapshots = {row.id: snapshot(tx, record, row, None) for row in rows}
        results: list[MonitorResult] = []
        not_due = 0
        for row in rows:
            mine = runs_since(runs, row)
            for spec in loaded.policy.monitors:
                prior = runs_of(mine, spec.id, row.version)
                if not is_due(prior[-1].at if prior else None, spec.cadence, now):
                    not_due += 1
                    continue
                gate, batch = self._measure(loaded, spec, snapshots[row.id], row, now)
                verdict = assess(spec, prior, gate.status.value, now)
                out = MonitorResult(
                    model=record.name,
                    version=row.version,
                    monitor=spec.id,
                    policy=f"{loaded.name}@{loaded.version}",
                    at=now,
                    result=gate,
                    batch=batch,
                    sustained=verdict.sustained,
                    failing_since=verdict.failing_since,
                    runs_failing=verdict.runs_failing,
                    actions=list(verdict.actions),
                    recorded=False,
                    next_due=now + spec.cadence,
                )
                if not dry_run:
                    out = self._record(record, row, loaded, spec, out, verdict, actor)
                results.append(out)
        return results, not_due

    def _measure(
        self,
        loaded: LoadedPolicy,
        spec: MonitorSpec,
        version: ModelVersion,
        row: VersionRecord,
        now: dt.datetime,
    ) -> tuple[GateResult, BatchInfo | None]:
        """The monitor's gate on the newest batch (an ``error`` result when there is none)."""
        if spec.kpi is not None:
            return self._kpi(spec, spec.kpi, version, now), None
        assert spec.gate is not None and spec.data is not None  # the spec's validator
        gate = loaded.policy.gate(spec.gate)
        if spec.engine is not None:
            return self._measure_pushed(loaded, gate, spec, version, row, now)
        try:
            batch = newest_batch(self.data_root, spec.data)
        except OSError as exc:
            batch, problem = None, f"cannot list {spec.data}: {exc.strerror or exc}"
        else:
            problem = f"no production batch at {spec.data}" if batch is None else ""
        if batch is None:
            return _error(gate.id, gate.type, gate.severity, problem, gate.remediation), None
        with_batch = _with_production(version, spec.evidence, batch)
        reader = WithBatch(
            self.evidence.open(with_batch, row.record.get("artifact_blob")),
            spec.evidence,
            self.open_batch(spec.evidence, Path(batch.uri)),
        )
        return _gate_on(loaded, spec.gate, with_batch, reader, now), batch

    def _measure_pushed(
        self,
        loaded: LoadedPolicy,
        gate: GateSpec,
        spec: MonitorSpec,
        version: ModelVersion,
        row: VersionRecord,
        now: dt.datetime,
    ) -> tuple[GateResult, BatchInfo | None]:
        """The monitor's gate on all of ``data`` (every file the path or glob names), read by
        the spec's engine with the aggregates pushed down: production data larger than memory.
        Its evidence digest covers every file, so a new file is a new input."""
        assert spec.gate is not None and spec.data is not None and spec.engine is not None
        source = TableSource(spec.engine, path=spec.data)
        try:
            files = source_files(source, self.data_root, None)
            sha, size = source_digest(files, self.data_root)
        except (ValueError, OSError) as exc:
            return _error(gate.id, gate.type, gate.severity, f"{spec.data}: {exc}",
                          gate.remediation), None  # fmt: skip
        if self.open_source is None:
            problem = f"this process cannot read data with {spec.engine}"
            return _error(gate.id, gate.type, gate.severity, problem, gate.remediation), None
        newest = max(f.stat().st_mtime for f in files)
        batch = BatchInfo(
            uri=source.describe(),
            sha256=sha,
            size=size,
            modified=dt.datetime.fromtimestamp(newest, dt.UTC),
        )
        with_data = _with_production(version, spec.evidence, batch)
        # the engine reads exactly the files digested, even if another lands meanwhile
        rooted = TableSource(spec.engine, path=str(self.data_root / spec.data), files=tuple(files))
        reader = self.open_source(
            self.evidence.open(with_data, row.record.get("artifact_blob")), spec.evidence, rooted
        )
        try:
            return _gate_on(loaded, spec.gate, with_data, reader, now), batch
        finally:  # the engine's connection and its spill folder go now, not at collection
            close = getattr(reader, "close", None)
            if close is not None:
                close()

    def _kpi(
        self, spec: MonitorSpec, kpi: KpiQuery, version: ModelVersion, now: dt.datetime
    ) -> GateResult:
        """A KPI monitor's result: its query's value now, within its bounds."""
        from clearance.core.gates.base import check_bound

        query = kpi.text(version.model.name, version.version)
        details: dict[str, Any] = {"query": query, "at": now.isoformat()}

        def error(message: str) -> GateResult:
            return _error(spec.id, KPI_TYPE, "block", message, "", details)

        try:
            source = self.kpi_source()
            if source is None:
                return error(
                    "a kpi monitor reads the workspace's Prometheus: add "
                    ".clearance/prometheus.yaml (docs/monitoring.md)"
                )
            value = source.value(query, at=now)
        except ClearanceError as exc:  # unreachable, bad answer, bad prometheus.yaml
            return error(f"cannot read the KPI: {exc}")
        if value is None:
            return error(f"the query matched nothing at {now:%Y-%m-%d %H:%M} UTC: {query}")
        m = check_bound(value, min=kpi.min, max=kpi.max, what=spec.id)
        return GateResult(
            gate_id=spec.id,
            type=KPI_TYPE,
            severity="block",
            status=m.status,
            observed=value,
            threshold=m.threshold,
            operator=m.operator,
            margin=m.margin,
            message=m.message,
            details=details,
        )

    # recording and acting -----------------------------------------------------------------
    def _record(
        self,
        record: ModelRecord,
        row: VersionRecord,
        loaded: LoadedPolicy,
        spec: MonitorSpec,
        out: MonitorResult,
        verdict: Assessment,
        actor: str | None,
    ) -> MonitorResult:
        now = out.at
        with self.store.transaction() as tx:
            current = tx.version_by_id(row.id)
            prior = runs_of(runs_since(recorded_runs(tx, record.name), current), spec.id,
                            row.version)  # fmt: skip
            if current.stage != row.stage or (
                prior and not is_due(prior[-1].at, spec.cadence, now)
            ):
                return out  # moved, or run by another process meanwhile: nothing to add
            notes: list[str] = []
            taken: list[str] = []
            for action in verdict.actions:
                done = self._act(tx, action, record, loaded, spec, out, notes)
                if done:
                    taken.append(action)
            tx.append_event(
                time=now,
                actor=MONITOR_ACTOR,
                action=CHECKED,
                subject=subjects.version(record.name, row.version),
                model=record.name,
                payload=_payload(spec, out, taken, notes, actor),
            )
        return out.model_copy(update={"actions": taken, "notes": notes, "recorded": True})

    def _act(
        self,
        tx: Tx,
        action: str,
        record: ModelRecord,
        loaded: LoadedPolicy,
        spec: MonitorSpec,
        out: MonitorResult,
        notes: list[str],
    ) -> bool:
        """Take one action; False when it could not be taken (then the next run tries again)."""
        policy = f"{loaded.name}@{loaded.version}"
        since = out.failing_since or out.at
        base: dict[str, Any] = {"model": record.name, "version": out.version, "policy": policy,
                                "now": out.at, "actor": MONITOR_ACTOR}  # fmt: skip
        key = f"{record.name}:{out.version}:{spec.id}:{since.isoformat()}"
        facts = _facts(spec, out)
        if action == "alert":
            failing = out.result.status is GateStatus.FAIL
            emit(
                tx,
                f"monitor-{out.result.status.value}:{key}",
                event="monitor_failed",
                severity="critical" if failing and _moves(spec) else "warning",
                summary=f"monitor {spec.id} on {record.name} {out.version}: "
                f"{out.result.status.value}: {out.result.message}",
                details=facts,
                remediation=out.result.remediation or _next_step(spec),
                **base,
            )
            notes.append("alert recorded")
            return True
        reason = _reason(spec, out)
        if action == "retrain":
            assert spec.retrain is not None  # the spec's validator requires it
            emit(
                tx,
                f"retrain:{key}",
                event="retrain_requested",
                severity="warning",
                summary=f"retrain {record.name}: {reason}",
                details={**facts, "escalate_to": [spec.retrain.channel]},
                remediation="retrain on recent production data and register the new version",
                **base,
            )
            notes.append(f"retrain requested through {spec.retrain.channel}")
            return True
        # a fallback sends the failing version back to the stage production is promoted from
        into = loaded.policy.transitions_to(loaded.policy.workflow.production_stage)
        back = (into[0].from_ if into else RETIRED_STAGE) if action == "fallback" else None
        try:
            bad, restored = restore_previous(
                tx, record, loaded, actor=MONITOR_ACTOR, reason=reason, now=out.at,
                fall_back_to=back, replacing=out.version,
            )  # fmt: skip
            if back is None:
                notes.append(f"rolled back {bad.version} → {restored.version}")
            else:
                notes.append(f"fell back from {bad.version} to {restored.version}")
        except TransitionRefused as exc:
            notes.append(f"no {action}: {exc}")
            emit(
                tx,
                f"monitor-unactioned:{action}:{key}",
                event="monitor_failed",
                severity="critical",
                summary=f"monitor {spec.id} on {record.name} {out.version} called for a "
                f"{action}, which could not be done: {exc}",
                details=facts,
                remediation=f"roll back by hand: clearance rollback {record.name} --to VERSION",
                **base,
            )
            return False
        return True


# the trail ----------------------------------------------------------------------------------
# the batch ----------------------------------------------------------------------------------
def newest_batch(root: Path, data: str) -> BatchInfo | None:
    """The newest dataset file ``data`` names (a file, a folder of batches or a glob),
    relative to ``root``; by modification time, then name. None when there is none."""
    base = Path(data).expanduser()
    path = base if base.is_absolute() else root / base
    if path.is_file():
        candidates: Iterator[Path] = iter([path])
    elif path.is_dir():
        candidates = (p for p in path.iterdir() if p.suffix.lower() in BATCH_SUFFIXES)
    elif glob.has_magic(str(path)):
        first = next(i for i, part in enumerate(path.parts) if glob.has_magic(part))
        anchor, pattern = Path(*path.parts[:first]), "/".join(path.parts[first:])
        candidates = anchor.glob(pattern)
    else:
        return None
    best: tuple[float, str, Path, int] | None = None
    for i, candidate in enumerate(candidates):
        if i >= MAX_ENTRIES:
            raise InputError(f"{data}: more than {MAX_ENTRIES:,} entries; point at fewer files")
        try:
            info = candidate.stat()
        except OSError:
            continue  # gone meanwhile
        if not candidate.is_file():
            continue
        key = (info.st_mtime, candidate.name, candidate, info.st_size)
        if best is None or key[:2] > best[:2]:
            best = key
    if best is None:
        return None
    mtime, _, found, size = best
    return BatchInfo(
        uri=str(found),
        sha256=file_sha256(found),
        size=size,
        modified=dt.datetime.fromtimestamp(mtime, dt.UTC),
    )


class WithBatch:
    """A version's evidence reader with the production batch added under one name."""

    def __init__(self, base: EvidenceReader, name: str, batch: EvidenceReader) -> None:
        self._base, self._name, self._batch = base, name, batch

    def _for(self, name: str) -> Any:
        return self._batch if name == self._name else self._base

    def read_bytes(self, name: str) -> bytes:
        return self._for(name).read_bytes(name)  # type: ignore[no-any-return]

    def artifact_sha256(self) -> str | None:
        return self._base.artifact_sha256()

    def read_artifact(self, max_bytes: int) -> bytes:
        return self._base.read_artifact(max_bytes)

    def read_columns(self, name: str, columns: Sequence[str]) -> Mapping[str, NDArray[Any]]:
        return self._for(name).read_columns(name, columns)  # type: ignore[no-any-return]

    def read_batches(
        self, name: str, columns: Sequence[str], batch_rows: int
    ) -> Iterator[Mapping[str, NDArray[Any]]]:
        return self._for(name).read_batches(name, columns, batch_rows)  # type: ignore[no-any-return]

    def dataset_rows(self, name: str) -> int | None:
        return self._for(name).dataset_rows(name)  # type: ignore[no-any-return]


# helpers ------------------------------------------------------------------------------------
def _with_production(version: ModelVersion, name: str, batch: BatchInfo) -> ModelVersion:
    """``version`` with the production data as its evidence ``name`` (shadowing any item of
    that name): what the monitor's gate reads and the run records."""
    item = EvidenceItem(
        name=name, kind="dataset", uri=batch.uri, sha256=batch.sha256, size=batch.size
    )
    return version.model_copy(update={"evidence": {**version.evidence, name: item}})


def _gate_on(
    loaded: LoadedPolicy, gate_id: str, version: ModelVersion, reader: Any, now: dt.datetime
) -> GateResult:
    """One gate of the policy, evaluated by the engine on production (a production ->
    production move of that gate alone): the result any gate gives."""
    from clearance.core.engine import Evaluation, evaluate
    from clearance.core.policy import Transition

    prod = loaded.policy.workflow.production_stage
    transition = Transition.model_validate({"from": prod, "to": prod, "gates": [gate_id]})
    return evaluate(Evaluation(loaded, transition, version, reader, now)).gates[0]


def _state(spec: MonitorSpec, row: VersionRecord, runs: list[MonitorRun], now: dt.datetime
           ) -> MonitorState:  # fmt: skip
    mine = runs_of(runs, spec.id, row.version)
    last = mine[-1] if mine else None
    streak = failing_streak(mine)
    return MonitorState(
        monitor=spec.id,
        gate=spec.gate or KPI_TYPE,
        version=row.version,
        every=spec.every,
        window=spec.for_,
        on_fail=list(spec.on_fail),
        data=spec.data or (spec.kpi.query if spec.kpi else ""),
        runs=len(mine),
        last_run=last.at if last else None,
        next_due=next_due(last.at if last else None, spec.cadence, now),
        status=last.status if last else None,
        message="" if last else "not run yet on this version",
        failing_since=streak[0].at if streak else None,
        runs_failing=len(streak),
    )


def _error(
    gate_id: str,
    kind: str,
    severity: str,
    message: str,
    remediation: str,
    details: dict[str, Any] | None = None,
) -> GateResult:
    return GateResult(
        gate_id=gate_id,
        type=kind,
        severity=severity,
        status=GateStatus.ERROR,
        message=message,
        remediation=remediation,
        details=details if details is not None else {"missing": ["evidence.production"]},
    )


def _moves(spec: MonitorSpec) -> bool:
    return any(a in spec.on_fail for a in ("fallback", "rollback"))


def _next_step(spec: MonitorSpec) -> str:
    window = f" for {spec.for_}" if spec.for_ else ""
    moves = [a for a in spec.on_fail if a != "alert"]
    if not moves:
        return "look at the production data and the model; the policy takes no action itself"
    return f"if it keeps failing{window}, the policy will {' and '.join(moves)}"


def _reason(spec: MonitorSpec, out: MonitorResult) -> str:
    since = out.failing_since or out.at
    window = f" (policy: for {spec.for_})" if spec.for_ else " (policy)"
    return (
        f"monitor {spec.id} ({out.result.type}) failing on {out.version} since "
        f"{since:%Y-%m-%d %H:%M} UTC, {out.runs_failing} run(s){window}: "
        f"{_short(out.result.message, 300)}"
    )


def _facts(spec: MonitorSpec, out: MonitorResult) -> dict[str, Any]:
    r = out.result
    evidence = [{"name": k, "sha256": v} for k, v in sorted(r.evidence.items())]
    if out.batch is not None:
        evidence.append({"name": spec.evidence, "kind": "dataset", "sha256": out.batch.sha256,
                         "uri": out.batch.uri})  # fmt: skip
    return {
        "monitor": spec.id,
        "gates": [_gate(r)],
        "evidence": evidence,
        "failing_since": (out.failing_since or out.at).isoformat(),
        "runs_failing": out.runs_failing,
        "sustained": out.sustained,
    }


def _gate(r: GateResult) -> dict[str, Any]:
    return {
        "id": r.gate_id,
        "status": r.status.value,
        "observed": _plain(r.observed),
        "threshold": _plain(r.threshold),
        "message": _short(r.message, MAX_MESSAGE),
        "remediation": r.remediation,
    }


def _payload(
    spec: MonitorSpec,
    out: MonitorResult,
    actions: list[str],
    notes: list[str],
    actor: str | None,
) -> dict[str, Any]:
    r = out.result
    payload: dict[str, Any] = {
        "monitor": spec.id,
        "gate": r.gate_id,
        "version": out.version,
        "status": r.status.value,
        "summary": _short(r.message, MAX_MESSAGE),
        "observed": _plain(r.observed),
        "threshold": _plain(r.threshold),
        "margin": _plain(r.margin),
        "evidence": dict(r.evidence),
        "batch": out.batch.model_dump(mode="json") if out.batch else None,
        "sustained": out.sustained,
        "failing_since": out.failing_since.isoformat() if out.failing_since else None,
        "runs_failing": out.runs_failing,
        "actions": actions,
        "notes": notes,
        "next_due": out.next_due.isoformat(),
        "result": _bounded(_plain(r.model_dump(mode="json"))),
    }
    if actor is not None:
        payload["run_by"] = actor
    if any(a in ("fallback", "rollback", "retrain") for a in actions):
        payload["reason"] = _reason(spec, out)
    return payload


def _plain(value: Any) -> Any:
    """JSON data with every non-finite number as None (the chain digests it)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _bounded(result: dict[str, Any]) -> dict[str, Any]:
    """The result as recorded: details past ``MAX_DETAILS`` characters of JSON (a drift over
    hundreds of columns, every hour) keep only their summary keys, and say so."""
    details = result.get("details") or {}
    if len(json.dumps(details, default=str)) <= MAX_DETAILS:
        return result
    kept = {k: details[k] for k in ("worst", "drifted_columns", "decided_by") if k in details}
    return {**result, "details": {**kept, "truncated": True}}


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
