"""The councils service's handler context."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from clustergrowth.context import Context
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import EventData

EXPORTERS = ("region_admin", "council_secretary")  # export any member's data of this region's councils
ERASERS = ("region_admin",)  # erase any member's data


@dataclass
class Councils(Context):
    """The councils service's handler context."""

    service: str = "councils"

    def events(self, data: Iterable[EventData], key: str) -> list[CloudEvent]:
        """The domain's event data as this service's events about aggregate ``key``."""
        return [self.event(d, key=key) for d in data]
