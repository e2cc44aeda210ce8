"""JSON Schemas of event data, generated from the contract models, and the rule for changing them.

Compatible change: add an optional property. Anything else (removing or retyping a property, making
one required, narrowing an enum) breaks existing consumers and needs a new event version.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clustergrowth.events import EventData
from contracts import registry


def schema_of(model: type[EventData]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"urn:smeclustergrowth:event:{model.event_type()}"
    schema["title"] = model.event_type()
    return schema


def generated() -> dict[str, dict[str, Any]]:
    return {t: schema_of(m) for t, m in sorted(registry().items())}


def dump(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for t, s in generated().items():
        path = folder / f"{t}.json"
        path.write_text(dump(s))
        out.append(path)
    return out


def _prop_type(schema: dict[str, Any], prop: dict[str, Any]) -> Any:
    """A comparable description of a property's accepted values."""
    if "$ref" in prop:
        prop = schema.get("$defs", {}).get(prop["$ref"].split("/")[-1], prop)
    keys = ("type", "enum", "const", "anyOf", "format", "items")
    return {k: prop[k] for k in keys if k in prop}


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why ``new`` would break a consumer written for ``old`` ([] when it would not)."""
    problems = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, prop in old_props.items():
        if name not in new_props:
            problems.append(f"property {name!r} was removed")
        elif _prop_type(old, prop) != _prop_type(new, new_props[name]):
            problems.append(f"property {name!r} changed type")
    for name in set(new.get("required", [])) - set(old.get("required", [])):
        problems.append(f"property {name!r} became required")
    return problems
