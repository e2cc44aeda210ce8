"""The events of the waitlist and of check-in, built from the domain's objects (one place for both the
booking handlers, whose cancellations make offers, and the waitlist handlers)."""

from __future__ import annotations

from clustergrowth.envelope import CloudEvent
from contracts import facilities as ev
from services.facilities.domain.model import Booking, Resource, WaitEntry, iso
from services.facilities.handlers.context import Facilities


def _entry(e: WaitEntry, resource: Resource) -> dict[str, str]:
    return {
        "entry_id": e.id,
        "resource_id": e.resource_id,
        "site_id": resource.site_id,
        "person": e.person,
        "region": resource.region,
    }


def joined(f: Facilities, e: WaitEntry, resource: Resource) -> CloudEvent:
    data = ev.WaitlistJoined(**_entry(e, resource), start=iso(e.start), end=iso(e.end))
    return f.event(data, key=e.resource_id, subject=e.id)


def left(f: Facilities, e: WaitEntry, resource: Resource, by: str) -> CloudEvent:
    data = ev.WaitlistLeft(**_entry(e, resource), by_manager=by != e.person)
    return f.event(data, key=e.resource_id, subject=e.id)


def offered(f: Facilities, e: WaitEntry, resource: Resource) -> CloudEvent:
    assert e.offer_start and e.offer_end and e.expires_at, "an offered entry has its offer"
    data = ev.SlotOffered(
        **_entry(e, resource),
        start=iso(e.offer_start),
        end=iso(e.offer_end),
        expires_at=iso(e.expires_at),
        freed_booking_id=e.freed_booking,
    )
    return f.event(data, key=e.resource_id, subject=e.id)


def lapsed(f: Facilities, e: WaitEntry, resource: Resource) -> CloudEvent:
    assert e.offer_start and e.offer_end and e.expires_at, "a lapsed entry had an offer"
    data = ev.OfferLapsed(
        **_entry(e, resource), start=iso(e.offer_start), end=iso(e.offer_end), expired_at=iso(e.expires_at)
    )
    return f.event(data, key=e.resource_id, subject=e.id)


def claimed(f: Facilities, e: WaitEntry, b: Booking, resource: Resource) -> CloudEvent:
    data = ev.OfferClaimed(**_entry(e, resource), booking_id=b.id, start=iso(b.start), end=iso(b.end))
    return f.event(data, key=e.resource_id, subject=e.id)


def entry_events(f: Facilities, entries: list[WaitEntry], resource: Resource) -> list[CloudEvent]:
    """SlotOffered or OfferLapsed for each entry a domain step changed (by its status now)."""
    return [offered(f, e, resource) if e.status == "offered" else lapsed(f, e, resource) for e in entries]


def released(f: Facilities, b: Booking) -> CloudEvent:
    assert b.check_in_by is not None, "only a booking with a check-in deadline is released"
    data = ev.BookingReleased(
        booking_id=b.id,
        resource_id=b.resource_id,
        site_id=b.site_id,
        person=b.person,
        region=b.region,
        start=iso(b.start),
        end=iso(b.end),
        check_in_by=iso(b.check_in_by),
        reason="no_show",
    )
    return f.event(data, key=b.resource_id, subject=b.id)


def checked_in(f: Facilities, b: Booking, by: str) -> CloudEvent:
    data = ev.BookingCheckedIn(
        booking_id=b.id,
        resource_id=b.resource_id,
        site_id=b.site_id,
        person=b.person,
        region=b.region,
        start=iso(b.start),
        end=iso(b.end),
        by_manager=by != b.person,
    )
    return f.event(data, key=b.resource_id, subject=b.id)
