"""Subscriptions of the facilities service and the projections they keep.

``usage``: booked minutes and bookings per resource and local day, fed by facilities.events; it is
what site managers' dashboards read. Each event changes it at most once (inbox in the document).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from clustergrowth.envelope import CloudEvent
from clustergrowth.inbox import apply_once
from clustergrowth.store.port import Doc, DocumentStore
from contracts import facilities as ev
from services.facilities import store as st
from services.facilities.domain.model import parse_iso

GROUP = "facilities.usage"
BOOKED = {ev.DeskBooked.event_type(), ev.FacilityBooked.event_type()}
CANCELLED = ev.BookingCancelled.event_type()


def usage_key(resource_id: str, day: date) -> str:
    return f"{resource_id}@{day.isoformat()}"


def _minutes(data: dict[str, Any]) -> int:
    return int((parse_iso(data["end"]) - parse_iso(data["start"])).total_seconds() // 60)


class UsageProjection:
    """Keeps the ``usage`` collection from booking events."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    async def handle(self, event: CloudEvent) -> None:
        if event.type in BOOKED:
            sign = 1
        elif event.type == CANCELLED and event.data.get("reason") == "cancelled":
            sign = -1
        else:
            return
        data = event.data
        day = parse_iso(data["start"]).date()
        key = usage_key(data["resource_id"], day)

        def mutate(doc: Doc) -> Doc:
            doc.setdefault("resource_id", data["resource_id"])
            doc.setdefault("site_id", data["site_id"])
            doc.setdefault("day", day.isoformat())
            doc["bookings"] = doc.get("bookings", 0) + sign
            doc["booked_minutes"] = doc.get("booked_minutes", 0) + sign * _minutes(data)
            return doc

        await apply_once(self.store, st.USAGE, key, event.id, mutate)
