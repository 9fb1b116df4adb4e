"""The Decision as JSON: the complete record, for machines and for replay."""

from __future__ import annotations

import json

from clearance.core.results import Decision
from clearance.terminal import json_for_terminal


def render_json(decision: Decision) -> str:
    data = decision.model_dump(mode="json")
    data["exit_code"] = decision.exit_code
    text = json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False)
    return json_for_terminal(text) + "\n"  # the same JSON, with nothing a terminal obeys
