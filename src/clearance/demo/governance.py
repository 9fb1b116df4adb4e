"""``clearance demo governance``: waivers, an emergency hotfix and its review, a canary.

The same three credit models as the main demo, under a stricter policy: production moves go
through a 10% canary for 48 hours, waivers are granted by the risk officer, and emergencies
owe a post-incident review within 5 days. Time is simulated (a fixed clock the story moves
forward), and alerts go to a real signed webhook on this machine, whose receiver checks
every signature.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from rich.table import Table

from clearance.adapters.clock import FixedClock, SystemClock
from clearance.demo.story import MODEL, DemoFailed, Story, build_assets
from clearance.errors import ClearanceError
from clearance.notify.channels import verify_signature
from clearance.service.waivers import WaiverBacklog
from clearance.terminal import SafeConsole
from clearance.workspace import init_workspace

SECRET = "demo-webhook-secret"
PEOPLE = {
    "alice": ["ml_engineer"],
    "bob": ["tech_lead"],
    "carol": ["model_owner"],
    "dave": ["risk_officer"],
    "frank": ["mlops_oncall"],
    "erin": ["policy_admin"],
}
ROLLOUT = {
    "steps": [{"traffic": 0.1, "min_duration": "48h"}, {"traffic": 1.0}],
    "kpis": [
        {"name": "approval_rate", "max_relative_drop": 0.05},
        {"name": "error_rate", "max": 0.005},
    ],
}


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records what arrives and checks its signature."""

    def __init__(self, clock: FixedClock) -> None:
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stamp = self.headers.get("X-Clearance-Timestamp", "")
                signature = self.headers.get("X-Clearance-Signature", "")
                if verify_signature(SECRET, stamp, body, signature, clock.now()):
                    outer.received.append(json.loads(body))
                else:
                    outer.bad_signatures += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/clearance"

    def close(self) -> None:
        self.server.shutdown()


def _policy(source: Path, target: Path) -> Path:
    """The demo policy, made stricter: a canary, waiver rules and an emergency review."""
    target.mkdir(parents=True, exist_ok=True)
    workflow = yaml.safe_load((source / "workflow.yaml").read_text())
    workflow["metadata"]["version"] = "2.0.0"
    for t in workflow["workflow"]["transitions"]:
        if t["to"] == "production":
            t["rollout"] = ROLLOUT
            t["approval_sla"] = "24h"
    workflow["change_types"]["emergency"].update(
        expires_after="72h", post_incident_review_within="5d"
    )
    workflow["waivers"] = {
        "grantors": ["risk_officer"],
        "max_duration": "30d",
        "not_waivable": ["approval_rate_parity", "no_pii_features"],
    }
    (target / "workflow.yaml").write_text(yaml.safe_dump(workflow, sort_keys=False))
    (target / "gates.yaml").write_text((source / "gates.yaml").read_text())
    return target


def run_governance(root: Path, console: SafeConsole) -> None:
    root.mkdir(parents=True, exist_ok=True)
    assets = build_assets(root / "project")
    clock = FixedClock(SystemClock().now().replace(microsecond=0))
    ws = init_workspace(root, clock=clock)
    receiver = Receiver(clock)
    (ws.notifications_file).write_text(
        yaml.safe_dump(
            {
                "channels": [
                    {
                        "name": "risk-webhook",
                        "type": "webhook",
                        "url": receiver.url,
                        "secret_env": "CLEARANCE_DEMO_SECRET",
                    }
                ]
            }
        )
    )
    env = {"CLEARANCE_DEMO_SECRET": SECRET}
    s = Story(ws, console)
    reg, promo = ws.registry, ws.promotions

    def tick() -> None:
        report = s.run("tick", ws.governance.tick)
        deliveries = ws.deliveries(env)
        deliveries.route()
        sent = deliveries.send()
        for line in report.actions:
            s.say(f"  {line}")
        s.say(f"  {len(report.actions)} action(s); {len(sent.sent)} alert(s) delivered")

    def later(**delta: float) -> None:
        clock.advance(**delta)
        s.say(f"[dim]… simulated clock moves {delta} to {clock.now():%Y-%m-%d %H:%M} UTC[/]")

    try:
        s.chapter("1. A stricter policy: canary, waivers, emergency reviews")
        for name, roles in PEOPLE.items():
            reg.add_user(name, roles, actor="admin", operator=True)
        policy = _policy(assets.policy_dir, root / "project" / "policy-v2")
        s.run(
            "policy apply project/policy-v2 --as erin",
            lambda: reg.apply_policy(policy, actor="erin"),
        )
        for version in assets.manifests:
            reg.register(assets.manifests[version], actor="alice")
        s.say(
            "users and versions 1-3 registered as in the main demo; alerts go to a signed "
            f"webhook at {receiver.url}"
        )

        s.chapter("2. Version 1 reaches production through a canary")
        _to_staging(s, "1")
        r = s.request(
            f"promote {MODEL} 1 --to production",
            lambda: promo.promote(MODEL, "1", "production", actor="alice"),
            expect="pending",
        )
        s.request(
            f"approve {r.request.id} --as carol",
            lambda: promo.approve(r.request.id, actor="carol"),
            expect="pending",
        )
        s.request(
            f"approve {r.request.id} --as dave",
            lambda: promo.approve(r.request.id, actor="dave"),
            expect="approved",
        )
        s.run(f"rollout start {MODEL} 1", lambda: ws.rollouts.start(MODEL, "1", actor="alice"))
        _observe(s, {"approval_rate": (0.755, None), "error_rate": (0.001, None)})
        later(hours=49)
        _observe(s, {"approval_rate": (0.754, None), "error_rate": (0.0012, None)})
        later(hours=1)
        _observe(s, {"approval_rate": (0.754, None), "error_rate": (0.0011, None)})
        s.say(f"  serving: {ws.rollouts.serving(MODEL).model_dump()}")

        s.chapter("3. Version 3's canary breaches a KPI and rolls itself back")
        _to_staging(s, "3")
        r = s.request(
            f"promote {MODEL} 3 --to production",
            lambda: promo.promote(MODEL, "3", "production", actor="alice"),
            expect="pending",
        )
        for who in ("carol", "dave"):
            promo.approve(r.request.id, actor=who)
        s.run(f"rollout start {MODEL} 3", lambda: ws.rollouts.start(MODEL, "3", actor="alice"))
        s.say(f"  serving: {ws.rollouts.serving(MODEL).model_dump()}")
        later(hours=6)
        _, verdict = _observe(s, {"approval_rate": (0.69, 0.755), "error_rate": (0.001, None)})
        if verdict.action != "rollback":
            raise DemoFailed(f"the canary breach did not roll back: {verdict.action}")
        s.say(f"  serving: {ws.rollouts.serving(MODEL).model_dump()}")

        s.chapter("4. Version 2: a waiver for one gate, and what a waiver cannot do")
        _to_staging(s, "2")
        r = s.request(
            f"promote {MODEL} 2 --to production",
            lambda: promo.promote(MODEL, "2", "production", actor="alice"),
            expect="blocked",
        )
        try:
            s.run(
                "waiver grant credit-default approval_rate_parity ... --as dave",
                lambda: ws.waivers.grant(
                    MODEL,
                    "approval_rate_parity",
                    until=clock.now() + dt.timedelta(days=7),
                    justification="x",
                    controls=["y"],
                    actor="dave",
                ),
            )
            raise DemoFailed("a waiver on a not-waivable gate was granted")
        except ClearanceError as exc:
            s.out.say("  [bold red]refused[/]: {exc}", exc=exc)
        w = s.run(
            "waiver grant credit-default auc_vs_champion --version 2 --until +14d "
            '--justification "leaner model, no bureau lookups" --control "weekly AUC '
            'monitoring" --as dave',
            lambda: ws.waivers.grant(
                MODEL,
                "auc_vs_champion",
                version="2",
                until=clock.now() + dt.timedelta(days=14),
                justification="leaner model without bureau lookups; AUC loss accepted "
                "while v4 retrains",
                controls=["weekly AUC monitoring on matured loans", "manual review of declines"],
                actor="dave",
            ),
        )
        s.say(f"  waiver {w.label} expires {w.expires_at:%Y-%m-%d %H:%M} UTC")
        s.request(
            f"request reevaluate {r.request.id}",
            lambda: promo.reevaluate(r.request.id, actor="alice"),
            expect="blocked",
            show=True,
        )
        s.say("The waiver covers auc_vs_champion only; the fairness gate still blocks version 2.")
        later(days=8)
        tick()
        later(days=7)
        backlog = ws.waivers.backlog(model=MODEL)
        _waiver_table(s, backlog)

        s.chapter("5. An emergency hotfix, and the review it owes")
        r = s.request(
            f"promote {MODEL} 3 --to production --change-type emergency --as alice",
            lambda: promo.promote(
                MODEL,
                "3",
                "production",
                actor="alice",
                change_type="emergency",
                reason="scoring bug in v1 (INC-2301)",
            ),
            expect="pending",
        )
        s.request(
            f"approve {r.request.id} --as frank",
            lambda: promo.approve(r.request.id, actor="frank"),
            expect="executed",
        )
        s.say("No canary, no comparison with the champion (bypassed) — and a review is owed.")
        later(days=6)
        tick()
        tick()
        status = ws.views.status(MODEL)[0]
        for issue in status.non_compliant:
            s.out.say("  [bold red]NON-COMPLIANT[/]: {issue}", issue=issue)
        if not status.non_compliant:
            raise DemoFailed("an overdue review did not make the model non-compliant")
        s.run(
            f'review record {r.request.id} --summary "..." --actions "..." --as frank',
            lambda: ws.governance.record_review(
                r.request.id,
                actor="frank",
                summary="v1 mis-scored thin-file applicants after a feature pipeline change",
                actions=["pin feature pipeline version in lineage", "add thin-file test"],
            ),
        )
        s.say(f"  non-compliance now: {ws.views.status(MODEL)[0].non_compliant or 'none'}")

        s.chapter("6. What the risk team's webhook received")
        tick()
        table = Table("event", "severity", "summary")
        for alert in receiver.received:
            table.add_row(alert["event"], alert["severity"], alert["summary"])
        s.out.print(table)
        s.say(
            f"  {len(receiver.received)} alerts, every signature verified "
            f"({receiver.bad_signatures} rejected)"
        )
        if receiver.bad_signatures or not receiver.received:
            raise DemoFailed("the webhook did not receive correctly signed alerts")
        report = ws.auditing.verify()
        s.say(f"  audit chain OK: {report.events} events" if report.ok else "  AUDIT BROKEN")
        if not report.ok:
            raise DemoFailed(f"audit chain broken: {report.fault}")
    finally:
        receiver.close()


def _to_staging(s: Story, version: str) -> None:
    promo = s.ws.promotions
    r = promo.promote(MODEL, version, "staging", actor="alice")
    promo.approve(r.request.id, actor="bob")
    s.say(f"  ({MODEL} {version} promoted to staging with bob's sign-off)")


def _observe(s: Story, readings: dict[str, tuple[float, float | None]]) -> Any:
    args = " ".join(
        f"--kpi {k}={v[0]}" + (f" --control {k}={v[1]}" if v[1] is not None else "")
        for k, v in readings.items()
    )
    rollout, verdict = s.run(
        f"rollout observe {MODEL} {args}",
        lambda: s.ws.rollouts.observe(MODEL, readings, actor="frank"),
    )
    s.out.print(
        f"  → {verdict.action}: {verdict.reason} (traffic {rollout.traffic:.0%})", highlight=False
    )
    return rollout, verdict


def _waiver_table(s: Story, backlog: WaiverBacklog) -> None:
    s.run("waiver list", lambda: None)
    table = Table("id", "gate", "version", "state", "expires (UTC)", "controls")
    for w in backlog.waivers:
        table.add_row(
            w.id,
            w.gate,
            w.version or "all",
            w.state,
            w.expires_at[:16],
            "; ".join(w.controls),
        )
    s.out.print(table)
    s.say(f"  counts: {backlog.counts.model_dump()}")
