"""JSON Schema for policy files, including each registered gate type's parameters.

Editors (VS Code's YAML extension, JetBrains) complete and validate a policy from this
schema; the gate items are one alternative per gate type, keyed by ``type``, so parameters
are checked per type just as the loader checks them.
"""

from __future__ import annotations

import copy
from typing import Any

from clearance.core.gates.registry import GateRegistry, default_registry
from clearance.core.policy import GATE_FIELDS, GateSpec, Policy

DEFS = "#/$defs/{model}"


def policy_schema(registry: GateRegistry | None = None) -> dict[str, Any]:
    registry = registry or default_registry()
    schema = Policy.model_json_schema(by_alias=True, ref_template=DEFS)
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    common = GateSpec.model_json_schema(ref_template=DEFS)
    common_props = {k: v for k, v in common["properties"].items() if k in GATE_FIELDS}
    variants = []
    for name, gate_type in registry:
        params = gate_type.Params.model_json_schema(ref_template=DEFS)
        defs.update(params.pop("$defs", {}))
        props = copy.deepcopy(common_props)
        props["type"] = {"const": name, "description": gate_type.summary}
        props.update(params.get("properties", {}))
        props["params"] = {**params, "description": "The parameters, if not written inline."}
        variants.append({
            "type": "object",
            "title": f"{name} gate",
            "description": gate_type.summary,
            "properties": props,
            "required": ["id", "type"],
            "anyOf": [{"required": params.get("required", [])}, {"required": ["params"]}],
            "additionalProperties": False,
        })  # fmt: skip
    defs["GateSpec"] = {"oneOf": variants} if variants else common
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://clearance.dev/schema/policy-v1.json"
    schema["title"] = "clearance Policy (clearance/v1)"
    return schema
