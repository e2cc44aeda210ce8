"""The training service's handler context, who is a coordinator here, and the modules hook."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from clustergrowth.context import Context
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import EventData
from clustergrowth.store.port import DocumentStore

COORDINATORS = ("region_admin", "council_secretary")  # the region's aggregates
ANALYSTS = ("analyst", *COORDINATORS)  # benchmark statistics that pass disclosure control
ModulesFor = Callable[[DocumentStore, list[str]], Awaitable[list[str]]]


async def no_modules(store: DocumentStore, practices: list[str]) -> list[str]:
    """Default of the hook: no catalogue of modules attached (the modules part sets its own)."""
    return []


@dataclass
class Training(Context):
    """The training service's handler context. ``modules_for(store, practice ids)`` suggests module ids
    for a plan's practices: the modules part, once attached, replaces it with a catalogue query."""

    service: str = "training"
    modules_for: ModulesFor = field(default=no_modules)

    def today(self) -> date:
        return self.clock().date()

    def events(self, data: Iterable[EventData], key: str, subject: str | None = None) -> list[CloudEvent]:
        """The domain's event data as this service's events about aggregate ``key``."""
        return [self.event(d, key=key, subject=subject) for d in data]
