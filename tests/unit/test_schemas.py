"""Event schemas: committed files match the models, and a breaking change is caught."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from clustergrowth.contracts.schemas import breaking_changes, dump, generated

COMMITTED = Path(__file__).resolve().parents[2] / "schemas" / "events"


def test_every_event_type_has_a_committed_schema_and_none_breaks_it() -> None:
    for event_type, schema in generated().items():
        path = COMMITTED / f"{event_type}.json"
        assert path.exists(), f"{path.name} missing: run `make schemas`"
        committed = json.loads(path.read_text())
        problems = breaking_changes(committed, schema)
        assert not problems, f"{event_type} breaks consumers: {problems}; publish a new version instead"


def test_committed_schemas_are_up_to_date() -> None:
    stale = [t for t, s in generated().items() if (COMMITTED / f"{t}.json").read_text() != dump(s)]
    assert not stale, f"regenerate with `make schemas`: {stale}"


def test_adding_an_optional_property_is_compatible_but_removing_or_retyping_is_not() -> None:
    old = generated()["eu.smeclustergrowth.facilities.DeskBooked.v1"]
    added = copy.deepcopy(old)
    added["properties"]["note"] = {"type": "string"}
    assert breaking_changes(old, added) == []
    removed = copy.deepcopy(old)
    del removed["properties"]["person"]
    assert breaking_changes(old, removed) == ["property 'person' was removed"]
    retyped = copy.deepcopy(old)
    retyped["properties"]["start"] = {"type": "integer"}
    assert breaking_changes(old, retyped) == ["property 'start' changed type"]
    required = copy.deepcopy(added)
    required["required"] = [*old.get("required", []), "note"]
    assert breaking_changes(old, required) == ["property 'note' became required"]
