"""The matching service's handler context, and who reads and coordinates."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from clustergrowth.context import Context
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import EventData

COORDINATOR = ("region_admin",)
READERS = ("region_admin", "analyst")


@dataclass
class Matching(Context):
    """The matching service's handler context, with its proposal lifetime and draft threshold."""

    service: str = "matching"
    proposal_ttl_hours: float = 7 * 24
    draft_need_below: float = 2.5

    def events(self, data: Iterable[EventData], key: str) -> list[CloudEvent]:
        """The domain's event data as this service's events about aggregate ``key``."""
        return [self.event(d, key=key) for d in data]
