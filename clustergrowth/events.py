"""Domain events as data: the base of every event contract and the way a service wraps one in a CloudEvent.

The contracts themselves (one module per producing service) live in the ``contracts`` package, a floor
above this runtime; this module names no service.
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
