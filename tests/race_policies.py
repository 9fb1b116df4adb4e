"""The policies and the audit-chain check the concurrency tests share (CLI and server).

``race-model`` moves staging -> production as soon as its gate passes; ``gated-model`` waits
for sign-offs by distinct people, so racing approvals can be counted.
"""

from __future__ import annotations

from clearance.core.audit import AuditEvent

FREE_POLICY = """\
apiVersion: clearance/v1
kind: Policy
metadata: {name: race, version: 1.0.0, owner: platform@example.org}
selector: {models: [race-model]}
workflow:
  stages: [draft, staging, production, deprecated, archived]
  transitions:
    - {from: draft, to: staging, gates: [auc_floor]}
    - {from: staging, to: production, gates: [auc_floor]}
    - {from: production, to: deprecated}
gates:
  - {id: auc_floor, type: metric_threshold, metric: auc, min: 0.7}
"""


def gated_policy(model_owners: int = 1) -> str:
    """``gated-model`` needs ``model_owners`` model owners and a risk officer."""
    return f"""\
apiVersion: clearance/v1
kind: Policy
metadata: {{name: gated, version: 1.0.0, owner: platform@example.org}}
selector: {{models: [gated-model]}}
workflow:
  stages: [draft, staging, production, deprecated, archived]
  transitions:
    - {{from: draft, to: staging, gates: [auc_floor]}}
    - from: staging
      to: production
      gates: [auc_floor]
      approvals: [{{role: model_owner, count: {model_owners}}}, {{role: risk_officer}}]
gates:
  - {{id: auc_floor, type: metric_threshold, metric: auc, min: 0.7}}
"""


def replayed_stages(events: list[AuditEvent]) -> dict[str, str]:
    """The stage of every version, as told by the audit chain alone."""
    stages: dict[str, str] = {}
    for e in events:
        version = e.subject.rsplit("version:", 1)[-1]
        if e.action == "version.registered":
            stages[version] = e.payload["stage"]
        elif e.action == "version.stage_changed":
            assert stages[version] == e.payload["from"], e
            stages[version] = e.payload["to"]
    return stages
