"""The Decision as JSON: the complete record, for machines and for replay."""

from __future__ import annotations

import json

from clearance.core.results import Decision


def render_json(decision: Decision) -> str:
    data = decision.model_dump(mode="json")
    data["exit_code"] = decision.exit_code
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
