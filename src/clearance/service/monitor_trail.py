"""The monitors' history as the audit trail keeps it: one ``monitor.checked`` event a run.

Read by ``status`` (each production monitor's latest run) without the monitors' use cases,
their engines and readers: a read command stays light.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from clearance.core.monitors import MonitorRun
from clearance.service.ports import Tx
from clearance.service.records import ModelRecord, Record, VersionRecord

CHECKED = "monitor.checked"


class MonitorBrief(Record):
    """A monitor's latest run on a production version, as ``status`` shows it."""

    monitor: str
    version: str
    at: dt.datetime
    status: str
    message: str
    failing_since: dt.datetime | None
    next_due: dt.datetime | None


def recorded_runs(tx: Tx, model: str) -> Iterator[MonitorRun]:
    """The model's monitor runs, from its ``monitor.checked`` events."""
    for event in tx.events(model=model, action=CHECKED):
        p = event.payload
        yield MonitorRun(
            monitor=str(p.get("monitor", "")),
            version=str(p.get("version", "")),
            at=event.time,
            status=str(p.get("status", "")),
            actions=tuple(str(a) for a in p.get("actions", [])),
        )


def runs_since(
    runs: Sequence[MonitorRun] | Iterator[MonitorRun], row: VersionRecord
) -> list[MonitorRun]:
    """The runs on ``row`` since it last entered its stage: a restored version starts over."""
    return [r for r in runs if r.version == row.version and r.at >= row.stage_changed_at]


def latest_runs(tx: Tx, model: ModelRecord) -> list[MonitorBrief]:
    """The latest run of each monitor on each production version: what ``status`` shows,
    read from the events alone (no policy parsed)."""
    serving = {v.version: v for v in tx.list_versions(model.id) if v.production_slot is not None}
    latest: dict[tuple[str, str], Any] = {}
    for event in tx.events(model=model.name, action=CHECKED):
        row = serving.get(str(event.payload.get("version")))
        if row is not None and event.time >= row.stage_changed_at:
            latest[str(event.payload.get("monitor")), row.version] = event
    out = []
    for (monitor, version), event in sorted(latest.items()):
        p = event.payload
        out.append(
            MonitorBrief(
                monitor=monitor,
                version=version,
                at=event.time,
                status=str(p.get("status")),
                message=str(p.get("summary", "")),
                failing_since=_instant(p.get("failing_since")),
                next_due=_instant(p.get("next_due")),
            )
        )
    return out


def _instant(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None
