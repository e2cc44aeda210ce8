"""Events published by the facilities service on topic ``facilities.events``."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from clustergrowth.events import EventData

TOPIC = "facilities.events"
ResourceKind = Literal["hot_desk", "meeting_room", "lab", "equipment", "university_access_point"]


class ResourceListed(EventData):
    """A bookable resource was listed at a site."""

    service: ClassVar[str] = "facilities"
    name: ClassVar[str] = "ResourceListed"
    resource_id: str = Field(description="id of the resource")
    site_id: str = Field(description="id of the site that holds it")
    resource_name: str = Field(description="display name", json_schema_extra={"x-pii": "free-text"})
    kind: ResourceKind = Field(description="what can be booked")
    capacity: int = Field(description="how many bookings may overlap")
    region: str = Field(description="NUTS-2 code of the site's region")
    timezone: str = Field(description="IANA time zone of the site")
    policy: dict[str, Any] | None = Field(
        None,
        description="who may book and how, as the owning region enforces it: max_duration_minutes, max_days_ahead, "
        "eligible_regions, eligible_roles, requires_approval, required_training, member_of_councils "
        "(and check_in_grace_minutes where check-in is asked); partners' catalogues show it",
    )


class _Booked(EventData):
    service: ClassVar[str] = "facilities"
    booking_id: str = Field(description="id of the booking")
    resource_id: str = Field(description="the booked resource")
    site_id: str = Field(description="site of the resource")
    resource_kind: ResourceKind = Field(description="kind of the booked resource")
    person: str = Field(description="subject (sub) of the person who booked")
    organisation: str | None = Field(description="organisation of the person, if known")
    person_region: str = Field(description="NUTS-2 region of the person's home issuer")
    region: str = Field(description="NUTS-2 region of the facility")
    start: str = Field(description="start, ISO 8601 UTC")
    end: str = Field(description="end, ISO 8601 UTC")


class DeskBooked(_Booked):
    """A hot desk was booked (confirmed)."""

    name: ClassVar[str] = "DeskBooked"


class FacilityBooked(_Booked):
    """A resource other than a hot desk was booked (confirmed)."""

    name: ClassVar[str] = "FacilityBooked"


class BookingCancelled(EventData):
    """A booking was cancelled by its holder or a manager, or an approval was refused, or the platform
    withdrew it because the council membership its resource's policy requires ended (``cause``)."""

    service: ClassVar[str] = "facilities"
    name: ClassVar[str] = "BookingCancelled"
    booking_id: str = Field(description="id of the booking")
    resource_id: str = Field(description="the resource")
    site_id: str = Field(description="site of the resource")
    person: str = Field(description="holder of the booking")
    region: str = Field(description="NUTS-2 region of the facility")
    start: str = Field(description="start, ISO 8601 UTC")
    end: str = Field(description="end, ISO 8601 UTC")
    cancelled_by: str = Field(description="subject who cancelled")
    reason: Literal["cancelled", "rejected"] = Field(
        description="cancelled: a confirmed booking was withdrawn; rejected: a request that awaited approval "
        "ended unconfirmed (refused by a manager, or withdrawn by the platform: see cause)"
    )
    cause: str | None = Field(
        None,
        description="why the platform itself withdrew the booking: membership_ended (the council membership "
        "the resource's policy requires ended); absent or null when its holder or a manager did",
    )


class _Entry(EventData):
    service: ClassVar[str] = "facilities"
    entry_id: str = Field(description="id of the waitlist entry")
    resource_id: str = Field(description="the resource")
    site_id: str = Field(description="site of the resource")
    person: str = Field(description="person id of the person in line")
    region: str = Field(description="NUTS-2 region of the facility")


class WaitlistJoined(_Entry):
    """A person joined a resource's waitlist for any slot freed within a window of one day (the exact
    slot of a taken booking is the narrowest window)."""

    name: ClassVar[str] = "WaitlistJoined"
    start: str = Field(description="window start, ISO 8601 UTC")
    end: str = Field(description="window end, ISO 8601 UTC")


class WaitlistLeft(_Entry):
    """A person left the waitlist (an offer they held passed on to the next in line)."""

    name: ClassVar[str] = "WaitlistLeft"
    by_manager: bool = Field(description="true when a manager removed the entry, false when the person left")


class SlotOffered(_Entry):
    """A freed slot was offered to the first person in line whose window holds it; the slot is held for
    them until ``expires_at`` (exclusive)."""

    name: ClassVar[str] = "SlotOffered"
    start: str = Field(description="start of the offered slot, ISO 8601 UTC")
    end: str = Field(description="end of the offered slot, ISO 8601 UTC")
    expires_at: str = Field(description="the offer lapses at this instant, ISO 8601 UTC")
    freed_booking_id: str | None = Field(description="the cancelled, rejected or released booking that freed it")


class OfferClaimed(_Entry):
    """An offer was claimed before it lapsed and became a booking (its DeskBooked or FacilityBooked, when
    confirmed, is published too)."""

    name: ClassVar[str] = "OfferClaimed"
    booking_id: str = Field(description="the booking the claim made")
    start: str = Field(description="start of the booking, ISO 8601 UTC")
    end: str = Field(description="end of the booking, ISO 8601 UTC")


class OfferLapsed(_Entry):
    """An offer was not claimed in time; the slot passes to the next in line, if any."""

    name: ClassVar[str] = "OfferLapsed"
    start: str = Field(description="start of the offered slot, ISO 8601 UTC")
    end: str = Field(description="end of the offered slot, ISO 8601 UTC")
    expired_at: str = Field(description="when the offer lapsed, ISO 8601 UTC")


class BookingReleased(EventData):
    """A confirmed booking at a resource that asks for check-in was released because nobody checked in
    by its deadline (start + the policy's grace period); its slot goes to the waitlist."""

    service: ClassVar[str] = "facilities"
    name: ClassVar[str] = "BookingReleased"
    booking_id: str = Field(description="id of the booking")
    resource_id: str = Field(description="the resource")
    site_id: str = Field(description="site of the resource")
    person: str = Field(description="holder of the booking")
    region: str = Field(description="NUTS-2 region of the facility")
    start: str = Field(description="start, ISO 8601 UTC")
    end: str = Field(description="end, ISO 8601 UTC")
    check_in_by: str = Field(description="the check-in deadline that passed, ISO 8601 UTC")
    reason: Literal["no_show"] = Field(description="no_show: not checked in within the grace period")


class BookingCheckedIn(EventData):
    """The holder (or a manager for them) checked in to a booking at a resource that asks for check-in."""

    service: ClassVar[str] = "facilities"
    name: ClassVar[str] = "BookingCheckedIn"
    booking_id: str = Field(description="id of the booking")
    resource_id: str = Field(description="the resource")
    site_id: str = Field(description="site of the resource")
    person: str = Field(description="holder of the booking")
    region: str = Field(description="NUTS-2 region of the facility")
    start: str = Field(description="start, ISO 8601 UTC")
    end: str = Field(description="end, ISO 8601 UTC")
    by_manager: bool = Field(description="true when a manager checked in for the holder")


ALL: list[type[EventData]] = [
    ResourceListed,
    DeskBooked,
    FacilityBooked,
    BookingCancelled,
    WaitlistJoined,
    WaitlistLeft,
    SlotOffered,
    OfferClaimed,
    OfferLapsed,
    BookingReleased,
    BookingCheckedIn,
]


# Recurring bookings (series). Each occurrence is also an ordinary booking with its own DeskBooked /
# FacilityBooked / BookingCancelled, which the usage projection and the dashboards already count; these
# events say what the series as a whole did.
Occurrence = dict[str, str | None]
OCCURRENCE = (
    "each {recurrence_id: the instant the rule put it at (RECURRENCE-ID), start, end (ISO 8601 UTC), "
    "booking_id (null when skipped), reason (why skipped: taken, closed, outside_opening_hours, policy; else null)}"
)


class _Series(EventData):
    service: ClassVar[str] = "facilities"
    series_id: str = Field(description="id of the series")
    resource_id: str = Field(description="the resource")
    site_id: str = Field(description="site of the resource")
    person: str = Field(description="holder of the series (platform person id)")
    region: str = Field(description="NUTS-2 region of the facility")


class SeriesBooked(_Series):
    """A recurring booking was made: the occurrences booked and, with on_conflict=skip, those skipped."""

    name: ClassVar[str] = "SeriesBooked"
    rrule: str = Field(description="the RFC 5545 RRULE (subset: FREQ=DAILY|WEEKLY, INTERVAL, BYDAY, COUNT|UNTIL)")
    timezone: str = Field(description="IANA time zone the rule is expanded in (the resource's)")
    on_conflict: Literal["fail", "skip"] = Field(description="what was asked for when an occurrence conflicts")
    booked: list[Occurrence] = Field(description=f"the occurrences booked; {OCCURRENCE}")
    skipped: list[Occurrence] = Field(description=f"the occurrences skipped; {OCCURRENCE}")


class SeriesChanged(_Series):
    """Occurrences of a series moved to another time of their day (one, this and following, or all)."""

    name: ClassVar[str] = "SeriesChanged"
    scope: Literal["one", "following", "all"] = Field(description="which occurrences the change was for")
    moved: list[Occurrence] = Field(description=f"the occurrences as they are now (new bookings); {OCCURRENCE}")


class SeriesCancelled(_Series):
    """Occurrences of a series were cancelled (one, this and following, or all: the series ended)."""

    name: ClassVar[str] = "SeriesCancelled"
    scope: Literal["one", "following", "all"] = Field(description="which occurrences were cancelled")
    cancelled: list[Occurrence] = Field(description=f"the occurrences cancelled; {OCCURRENCE}")
    cancelled_by: str = Field(description="subject who cancelled")


ALL += [SeriesBooked, SeriesChanged, SeriesCancelled]
