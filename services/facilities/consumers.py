"""Subscriptions of the facilities service and the projections they keep.

``usage``: booked minutes and bookings per resource and local day, fed by facilities.events; it is
what site managers' dashboards read. Each event changes it at most once (inbox in the document).
``no_shows``: per site and person, how many of their bookings were released as no-shows, fed by
facilities.events (``BookingReleased``); what site managers read. Each event counts once (inbox).
``council_members``: each person's council memberships, fed by councils.events (``MemberJoined``,
``MemberLeft``); booking policies with ``member_of_councils`` read it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from clustergrowth.envelope import CloudEvent
from clustergrowth.inbox import apply_once
from clustergrowth.store.port import Doc, DocumentStore
from contracts import councils as cev
from contracts import facilities as ev
from services.facilities import store as st
from services.facilities.domain.model import parse_iso
from services.facilities.reads import MembershipEnded, MembershipStarted

GROUP = "facilities.usage"
MEMBERSHIP_GROUP = "facilities.council-members"
NO_SHOW_GROUP = "facilities.no-shows"
JOINED, LEFT = cev.MemberJoined.event_type(), cev.MemberLeft.event_type()
READS: dict[str, type[MembershipStarted | MembershipEnded]] = {
    JOINED: MembershipStarted,
    LEFT: MembershipEnded,
}  # checked against the producer's schemas
BOOKED = {ev.DeskBooked.event_type(), ev.FacilityBooked.event_type()}
CANCELLED = ev.BookingCancelled.event_type()
RELEASED = ev.BookingReleased.event_type()


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
        elif (event.type == CANCELLED and event.data.get("reason") == "cancelled") or event.type == RELEASED:
            sign = -1  # a released no-show gives its slot back as a cancellation does
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


def no_show_key(site_id: str, person: str) -> str:
    return f"{site_id}|{person}"


class NoShowProjection:
    """Keeps ``no_shows`` from ``BookingReleased``: per site and person, the count and the latest start."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    async def handle(self, event: CloudEvent) -> None:
        if event.type != RELEASED:
            return
        data = event.data

        def mutate(doc: Doc) -> Doc:
            doc.setdefault("site_id", data["site_id"])
            doc.setdefault("person", data["person"])
            doc["no_shows"] = doc.get("no_shows", 0) + 1
            doc["last_start"] = max(doc.get("last_start", ""), data["start"])
            return doc

        await apply_once(self.store, st.NO_SHOWS, no_show_key(data["site_id"], data["person"]), event.id, mutate)


def fold_membership(doc: Doc, event: CloudEvent) -> Doc:
    """One person's memberships after a MemberJoined or MemberLeft (pure). A membership that has ended
    stays ended whatever order the two arrive in, so replaying the log gives the same answer."""
    m: MembershipStarted | MembershipEnded = READS[event.type].model_validate(event.data)
    memberships = [dict(x) for x in doc.get("memberships", [])]
    mine = next((x for x in memberships if x["member_id"] == m.member_id), None)
    if mine is None:
        mine = {"member_id": m.member_id, "council_id": m.council_id, "active": True}
        memberships.append(mine)
    if event.type == LEFT:
        mine["active"] = False
    doc["person"] = m.person
    doc["memberships"] = sorted(memberships, key=lambda x: x["member_id"])
    return doc


def councils_of(doc: Doc | None) -> frozenset[str]:
    """The councils a person is a member of now, from their ``council_members`` document."""
    return frozenset(x["council_id"] for x in (doc or {}).get("memberships", []) if x["active"])


class MembershipProjection:
    """Keeps ``council_members`` (one document per person) from the councils service's events; after each
    ``MemberLeft``, ``on_left(person, council_id)`` (the withdrawal of her bookings) runs, on a redelivery
    too: it decides from the current state, so it is idempotent, and a crash between the two writes is
    mended by the redelivery."""

    def __init__(self, store: DocumentStore, on_left: Callable[[str, str], Awaitable[None]] | None = None) -> None:
        self.store = store
        self.on_left = on_left

    async def handle(self, event: CloudEvent) -> None:
        if event.type not in READS:
            return  # the councils service's other events say nothing about eligibility
        person = str(event.data["person"])
        await apply_once(self.store, st.COUNCIL_MEMBERS, person, event.id, lambda doc: fold_membership(doc, event))
        if event.type == LEFT and self.on_left is not None:
            await self.on_left(person, str(event.data["council_id"]))
