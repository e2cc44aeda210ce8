"""Event schemas: committed files match the models, and a breaking change is caught."""

from __future__ import annotations

import copy
import importlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from contracts.schemas import breaking_changes, dump, generated
from instance.registry import specs
from services.councils.dashboard.reads import READS as DASHBOARD_READS
from services.facilities.reads import MembershipEnded, MembershipStarted
from services.matching.reads import Assessed

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


def _types(prop: dict[str, Any]) -> set[str]:
    """The JSON types a property schema admits (top level), e.g. {"string", "null"}."""
    if "anyOf" in prop:
        return set().union(*(_types(p) for p in prop["anyOf"]))
    t = prop.get("type")
    return {t} if isinstance(t, str) else set(t or [])


def reader_problems(model: type[BaseModel], producer: dict[str, Any]) -> list[str]:
    """Why a consumer's narrow model could fail on events the producer's schema allows."""
    mine = model.model_json_schema()
    theirs, required = producer.get("properties", {}), set(producer.get("required", []))
    problems = []
    for name, prop in mine.get("properties", {}).items():
        if name not in theirs:
            problems.append(f"reads '{name}', which the producer does not publish")
        elif name in mine.get("required", []) and name not in required:
            problems.append(f"requires '{name}', which the producer may leave out")
        elif not _types(theirs[name]) <= _types(prop):
            problems.append(f"reads '{name}' as {sorted(_types(prop))}, published as {sorted(_types(theirs[name]))}")
    return problems


def readers() -> list[tuple[str, str, type[BaseModel]]]:
    """Every registered service's narrow models of what it reads (``consumers.READS``)."""
    out = []
    for spec in specs():
        module = importlib.import_module(spec.component.__module__.rsplit(".", 1)[0] + ".consumers")
        out += [(spec.name, t, m) for t, m in getattr(module, "READS", {}).items()]
    return out


def test_every_consumers_narrow_model_fits_the_producers_committed_schema() -> None:
    found = readers()
    assert ("matching", "eu.smeclustergrowth.mapping.SMEAssessed.v1", Assessed) in found
    assert ("facilities", "eu.smeclustergrowth.councils.MemberJoined.v1", MembershipStarted) in found
    assert ("facilities", "eu.smeclustergrowth.councils.MemberLeft.v1", MembershipEnded) in found
    for service, event_type, model in found:
        committed = json.loads((COMMITTED / f"{event_type}.json").read_text())
        assert reader_problems(model, committed) == [], (service, event_type)


def test_the_council_dashboards_narrow_models_fit_the_producers_committed_schemas() -> None:
    """Listed here until the councils service is registered (its consumers are then found above too)."""
    assert len(DASHBOARD_READS) == 15
    for event_type, model in DASHBOARD_READS.items():
        committed = json.loads((COMMITTED / f"{event_type}.json").read_text())
        assert reader_problems(model, committed) == [], event_type


def test_a_reader_that_wants_more_than_the_producer_publishes_is_caught() -> None:
    committed = json.loads((COMMITTED / "eu.smeclustergrowth.mapping.SMEAssessed.v1.json").read_text())

    class Greedy(Assessed):
        contact_email: str  # mapping publishes no personal data

    class Strict(Assessed):
        organisation: str  # type: ignore[assignment]  # optional in the producer

    class Narrow(Assessed):
        headcount: str  # an integer in the producer

    assert reader_problems(Greedy, committed) == ["reads 'contact_email', which the producer does not publish"]
    assert reader_problems(Strict, committed) == ["requires 'organisation', which the producer may leave out"]
    assert reader_problems(Narrow, committed) == ["reads 'headcount' as ['string'], published as ['integer']"]
