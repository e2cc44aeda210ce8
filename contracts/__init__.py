"""Event contracts: the data of every published event type, as pydantic models, one module per producing
service (``contracts/<service>.py`` with its ``TOPIC`` and ``ALL`` types). Contracts carry no behaviour;
the committed JSON Schemas under ``schemas/events/`` are generated from them (``make schemas``). A new
service's module is found by ``registry()`` without being named here.
"""

from __future__ import annotations

import importlib
import pkgutil

from clustergrowth.events import EventData


def modules() -> list[str]:
    """The producing services: every module of this package but the schema tooling."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "schemas")


def registry() -> dict[str, type[EventData]]:
    """Every known event type, by its full versioned type name."""
    out: dict[str, type[EventData]] = {}
    for name in modules():
        for model in importlib.import_module(f"{__name__}.{name}").ALL:
            out[model.event_type()] = model
    return out


def topics() -> list[str]:
    """The logical topic of every producing service."""
    return sorted(importlib.import_module(f"{__name__}.{name}").TOPIC for name in modules())


def resolve_type(name_or_type: str) -> set[str]:
    """Full type names matching a short name (``DeskBooked``) or a full versioned type."""
    reg = registry()
    if name_or_type in reg:
        return {name_or_type}
    return {t for t, m in reg.items() if m.name == name_or_type}
