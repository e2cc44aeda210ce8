"""Events published by the facilities service on topic ``facilities.events``."""

from __future__ import annotations

from typing import ClassVar, Literal

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
    resource_name: str = Field(description="display name")
    kind: ResourceKind = Field(description="what can be booked")
    capacity: int = Field(description="how many bookings may overlap")
    region: str = Field(description="NUTS-2 code of the site's region")
    timezone: str = Field(description="IANA time zone of the site")


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


ALL: list[type[EventData]] = [ResourceListed, DeskBooked, FacilityBooked, BookingCancelled]
