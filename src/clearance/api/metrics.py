"""Prometheus metrics: request counts and latency per route, gate outcomes, and gauges
read from the database at scrape time (pending approvals, time in stage), so that every
server process sharing one database reports the same state.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from clearance.core.results import Decision
from clearance.workspace import Workspace

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self, ws: Workspace) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "clearance_http_requests",
            "HTTP requests by route template, method and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "clearance_http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.gates = Counter(
            "clearance_gate_outcomes",
            "Gate results in decisions this process made, by gate, policy and status.",
            ["gate", "policy", "status"],
            registry=self.registry,
        )
        self.near_misses = Counter(
            "clearance_gate_near_misses",
            "Gates that passed within their near-miss margin, by gate and policy.",
            ["gate", "policy"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "clearance_decisions",
            "Decisions this process made, by policy and outcome.",
            ["policy", "outcome"],
            registry=self.registry,
        )
        self.scheduler_ticks = Counter(
            "clearance_scheduler_ticks",
            "Scheduled ticks this process ran as the lease holder, by outcome "
            "(ok, failed, lease_error: the lease could not be asked for).",
            ["outcome"],
            registry=self.registry,
        )
        self.scheduler_leader = Gauge(
            "clearance_scheduler_leader",
            "1 while this process holds the scheduler lease (runs the scheduled work), else 0.",
            registry=self.registry,
        )
        self.pushes = Counter(
            "clearance_alert_pushes",
            "Runs of routing and sending the outbox after a change, by outcome (ok, failed).",
            ["outcome"],
            registry=self.registry,
        )
        self.registry.register(StateCollector(ws))

    def observe_result(self, result: object) -> None:
        """Count the decision a use case's result carries (a promotion's), if any."""
        decision = getattr(result, "decision", None)
        if isinstance(decision, Decision):
            self.observe_decision(decision)

    def observe_decision(self, decision: Decision) -> None:
        policy = f"{decision.policy}@{decision.policy_version}"
        self.decisions.labels(policy, str(decision.outcome)).inc()
        for gate in decision.gates:
            self.gates.labels(gate.gate_id, policy, str(gate.status)).inc()
            if gate.near_miss:
                self.near_misses.labels(gate.gate_id, policy).inc()


class StateCollector(Collector):
    """Gauges computed from the store when Prometheus scrapes."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pending = GaugeMetricFamily(
            "clearance_pending_approvals",
            "Open promotion requests waiting for sign-off, by model and target stage.",
            labels=["model", "to_stage"],
        )
        in_stage = GaugeMetricFamily(
            "clearance_time_in_stage_seconds",
            "How long each model's versions outside draft/archived have been in their stage.",
            labels=["model", "version", "stage"],
        )
        now = self.ws.clock.now()
        counts: dict[tuple[str, str], int] = {}
        with self.ws.store.reading() as tx:
            names = {m.id: m.name for m in tx.list_models()}
            for r in tx.list_requests(statuses=("pending",)):
                key = (names.get(r.model_id, str(r.model_id)), r.to_stage)
                counts[key] = counts.get(key, 0) + 1
            for model_id, name in names.items():
                for v in tx.list_versions(model_id):
                    if v.stage in ("draft", "archived"):
                        continue
                    age = (now - v.stage_changed_at).total_seconds()
                    in_stage.add_metric([name, v.version, v.stage], age)
        for (model, stage), n in sorted(counts.items()):
            pending.add_metric([model, stage], n)
        yield pending
        yield in_stage
