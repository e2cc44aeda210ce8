"""Event contracts: the data of every published event type, as pydantic models.

Contracts are shared so that consumers can read them; they carry no behaviour. The committed JSON
Schemas under ``schemas/events/`` are generated from these models (``make schemas``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from clustergrowth.envelope import CloudEvent

TYPE_PREFIX = "eu.smeclustergrowth"


class EventData(BaseModel):
    """Base of every event's data; ``event_type`` is the versioned CloudEvents type."""

    model_config = ConfigDict(extra="allow", frozen=True)
    service: ClassVar[str]
    name: ClassVar[str]
    version: ClassVar[int] = 1

    @classmethod
    def event_type(cls) -> str:
        return f"{TYPE_PREFIX}.{cls.service}.{cls.name}.v{cls.version}"

    def to_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=False)


def registry() -> dict[str, type[EventData]]:
    """Every known event type, by its full versioned type name."""
    from clustergrowth.contracts import facilities, mapping, matching

    return {m.event_type(): m for m in [*facilities.ALL, *mapping.ALL, *matching.ALL]}


def resolve_type(name_or_type: str) -> set[str]:
    """Full type names matching a short name (``DeskBooked``) or a full versioned type."""
    reg = registry()
    if name_or_type in reg:
        return {name_or_type}
    return {t for t, m in reg.items() if m.name == name_or_type}


def make_event(data: EventData, *, key: str, region: str, source: str, subject: str | None = None) -> CloudEvent:
    """Wrap contract data in a CloudEvent keyed by its aggregate id, carrying the request id."""
    from clustergrowth import logs

    return CloudEvent(
        type=data.event_type(),
        source=source,
        data=data.to_data(),
        region=region,
        partitionkey=key,
        subject=subject,
        requestid=logs.request_id.get(),
    )
