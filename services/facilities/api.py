"""Thin HTTP layer of the facilities service: parse, authorise the caller, call a handler, shape output."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel, Field

from clustergrowth.auth import CurrentPrincipal, RuledRouter, allow
from clustergrowth.errors import problem_responses
from clustergrowth.leanroute import LeanRoute
from clustergrowth.paging import Page
from clustergrowth.problems import Forbidden
from clustergrowth.types import Instant
from services.facilities import commands as c
from services.facilities import handlers as h
from services.facilities import ical
from services.facilities import store as st
from services.facilities.domain.model import Booking, Resource, Site, iso
from services.facilities.handlers import waitlist as wl
from services.facilities.network.api import router as network_router
from services.facilities.series.api import router as series_router
from services.facilities.series.handlers import series_of

From = Annotated[Instant, Query(alias="from", description="window start, ISO 8601 with offset")]
To = Annotated[Instant, Query(alias="to", description="window end, ISO 8601 with offset")]
ICS = "text/calendar; charset=utf-8"


async def facilities(request: Request) -> h.Facilities:
    f: h.Facilities = request.app.state.facilities
    return f


Ctx = Annotated[h.Facilities, Depends(facilities)]


class SiteOut(BaseModel):
    id: str
    name: str
    kind: str
    region: str
    city: str
    address: str
    timezone: str
    opening_hours: dict[str, list[dict[str, str]]]
    organisation: str | None


class ResourceOut(BaseModel):
    id: str
    site_id: str
    name: str
    kind: str
    capacity: int
    region: str
    timezone: str
    organisation: str | None
    policy: dict[str, Any]


class BookingOut(BaseModel):
    id: str
    resource_id: str
    site_id: str
    resource_kind: str
    person: str
    organisation: str | None
    person_region: str
    region: str
    start: str
    end: str
    status: str
    created_at: str
    check_in_by: str | None = Field(None, description="where the resource asks for check-in: released unless by then")
    checked_in_at: str | None = None


class OfferOut(BaseModel):
    start: str
    end: str
    offered_at: str
    expires_at: str = Field(description="claim before this instant; the offer lapses at it")


class WaitEntryOut(BaseModel):
    id: str
    resource_id: str
    person: str
    start: str = Field(description="window start (ISO 8601 UTC)")
    end: str = Field(description="window end (ISO 8601 UTC)")
    joined_at: str
    status: str = Field(description="waiting, offered, claimed, lapsed or left")
    position: int | None = Field(
        description="while waiting: 1 + the people waiting who joined before for an overlapping time"
    )
    offer: OfferOut | None = Field(description="the slot held for the person while offered")
    booking_id: str | None = Field(description="the booking a claim made")


class NoShowOut(BaseModel):
    person: str
    site_id: str
    no_shows: int
    last_start: str = Field(description="start of the latest released booking")


class Slot(BaseModel):
    start: str
    end: str


class AvailabilityOut(BaseModel):
    resource_id: str
    timezone: str
    from_: str = Field(serialization_alias="from")
    to: str
    free: list[Slot]
    busy: list[Slot]


def site_out(s: Site) -> SiteOut:
    return SiteOut(**{**st.site_to_doc(s), "id": s.id})


def resource_out(r: Resource) -> ResourceOut:
    d = st.resource_to_doc(r)
    return ResourceOut(**{**d, "id": r.id})


def booking_out(b: Booking) -> BookingOut:
    return BookingOut(**st.booking_to_doc(b))


def entry_out(p: wl.Place) -> WaitEntryOut:
    e = p.entry
    offer = None
    if e.offer_start and e.offer_end and e.offered_at and e.expires_at:
        offer = OfferOut(
            start=iso(e.offer_start), end=iso(e.offer_end), offered_at=iso(e.offered_at), expires_at=iso(e.expires_at)
        )
    return WaitEntryOut(
        id=e.id,
        resource_id=e.resource_id,
        person=e.person,
        start=iso(e.start),
        end=iso(e.end),
        joined_at=iso(e.joined_at),
        status=e.status,
        position=p.position,
        offer=offer if e.status == "offered" else None,
        booking_id=e.booking_id,
    )


def _availability(d: dict[str, Any]) -> AvailabilityOut:
    return AvailabilityOut(
        resource_id=d["resource_id"],
        timezone=d["timezone"],
        from_=d["from"],
        to=d["to"],
        free=[Slot(**x) for x in d["free"]],
        busy=[Slot(**x) for x in d["busy"]],
    )


router = RuledRouter(responses=problem_responses(401, 403, 404, 422))


@router.get("/sites", **allow("any"), response_model=list[SiteOut], summary="List sites")
async def list_sites(who: CurrentPrincipal, f: Ctx, page: Page) -> list[SiteOut]:
    return [site_out(x) for x in await h.list_sites(f, page)]


@router.post(
    "/sites",
    **allow("facility_manager", "region_admin"),
    status_code=201,
    response_model=SiteOut,
    summary="Register a site (managers)",
)
async def create_site(who: CurrentPrincipal, f: Ctx, body: c.CreateSite) -> SiteOut:
    return site_out(await h.create_site(f, body, who))


@router.get("/sites/{site_id}", **allow("any"), response_model=SiteOut, summary="One site")
async def get_site(who: CurrentPrincipal, f: Ctx, site_id: str) -> SiteOut:
    return site_out(await h.get_site(f, site_id))


@router.get(
    "/sites/{site_id}/availability",
    **allow("any"),
    response_model=list[AvailabilityOut],
    summary="Free slots of every resource at a site",
)
async def site_availability(
    who: CurrentPrincipal,
    f: Ctx,
    site_id: str,
    start: From,
    end: To,
    page: Page,
    kind: str | None = None,
) -> list[AvailabilityOut]:
    await h.get_site(f, site_id)
    resources = await h.list_resources(f, kind, site_id, page, sort=[("_id", 1)])
    return [_availability(await h.availability(f, r, start, end)) for r in resources]


@router.get(
    "/sites/{site_id}/usage",
    **allow("facility_manager", "region_admin"),
    summary="Booked minutes per resource and day (managers)",
)
async def site_usage(who: CurrentPrincipal, f: Ctx, site_id: str, page: Page) -> list[dict[str, Any]]:
    who.require(*h.MANAGERS)
    site = await h.get_site(f, site_id)
    if not h.may_manage(who, site.organisation):
        raise Forbidden(f"only managers of {site.organisation} see this site's usage; use availability instead")
    docs = await page.query(f.store, st.USAGE, {"site_id": site_id}, [("day", 1), ("resource_id", 1)])
    return [{k: d[k] for k in ("resource_id", "day", "bookings", "booked_minutes")} for d in docs]


@router.get(
    "/sites/{site_id}/no-shows",
    **allow("facility_manager", "region_admin"),
    response_model=list[NoShowOut],
    summary="No-shows per person at a site (managers)",
)
async def site_no_shows(who: CurrentPrincipal, f: Ctx, site_id: str, page: Page) -> list[NoShowOut]:
    docs = await wl.no_shows(f, site_id, who, page)
    return [NoShowOut(**{k: d[k] for k in ("person", "site_id", "no_shows", "last_start")}) for d in docs]


@router.get("/resources", **allow("any"), response_model=list[ResourceOut], summary="List resources")
async def list_resources(
    who: CurrentPrincipal, f: Ctx, page: Page, kind: c.ResourceKind | None = None, site_id: str | None = None
) -> list[ResourceOut]:
    return [resource_out(r) for r in await h.list_resources(f, kind, site_id, page)]


@router.post(
    "/resources",
    **allow("facility_manager", "region_admin"),
    status_code=201,
    response_model=ResourceOut,
    summary="List a resource (managers)",
)
async def create_resource(who: CurrentPrincipal, f: Ctx, body: c.ListResource) -> ResourceOut:
    return resource_out(await h.list_resource(f, body, who))


@router.get("/resources/{resource_id}", **allow("any"), response_model=ResourceOut, summary="One resource")
async def get_resource(who: CurrentPrincipal, f: Ctx, resource_id: str) -> ResourceOut:
    return resource_out(await h.get_resource(f, resource_id))


@router.get(
    "/resources/{resource_id}/availability",
    **allow("any"),
    response_model=AvailabilityOut,
    summary="Free and busy slots of a resource in a window",
)
async def resource_availability(
    who: CurrentPrincipal, f: Ctx, resource_id: str, start: From, end: To
) -> AvailabilityOut:
    return _availability(await h.availability(f, await h.get_resource(f, resource_id), start, end))


@router.get(
    "/resources/{resource_id}/bookings",
    **allow("facility_manager", "region_admin"),
    response_model=list[BookingOut],
    summary="A resource's bookings (its managers)",
)
async def resource_bookings(who: CurrentPrincipal, f: Ctx, resource_id: str, page: Page) -> list[BookingOut]:
    return [booking_out(b) for b in await h.resource_bookings(f, resource_id, who, page)]


@router.get(
    "/resources/{resource_id}/calendar.ics",
    **allow("any"),
    response_class=Response,
    summary="iCalendar feed of a resource (busy times, no personal data)",
)
async def resource_calendar(who: CurrentPrincipal, f: Ctx, resource_id: str) -> Response:
    r = await h.get_resource(f, resource_id)
    docs = await f.store.find(st.SCHEDULES, {"resource_id": resource_id}, sort=[("day", 1)])
    bookings = [b for d in docs for b in st.schedule_from_doc(d).bookings if b.status != "rejected"]
    series = await series_of(f, {"resource_id": resource_id})
    return Response(ical.calendar(r.name, bookings, {r.id: r.name}, series), media_type=ICS)


_BOOKING_OUT = tuple(BookingOut.model_fields)


def booking_json(b: Booking) -> bytes:
    """A booking as ``BookingOut``'s JSON, written by orjson from the booking's stored fields: the same
    text as ``booking_out(b).model_dump_json()`` (``tests/unit/test_facilities_booking_json.py`` holds it
    to that) without making and validating the model, a tenth of what the booking route adds to FastAPI's
    own work in the bookings benchmark."""
    doc = st.booking_to_doc(b)
    return orjson.dumps({k: doc.get(k) for k in _BOOKING_OUT})


async def create_booking(who: CurrentPrincipal, request: Request, body: c.BookResource) -> Response:
    """The busiest route: the answer is ``booking_json``'s, so that FastAPI does not validate the model
    against ``response_model`` (which still documents it). The service's context is read from the app
    here, not taken as the ``Ctx`` dependency: the route is a ``LeanRoute`` (a well-formed request skips
    FastAPI's dependency solving), which takes only this shape."""
    b = await h.book(await facilities(request), body, who)
    location = {"Location": f"/api/v1/facilities/bookings/{b.id}"}
    return Response(booking_json(b), 201, location, media_type="application/json")


router.add_api_route(
    "/bookings",
    create_booking,
    methods=["POST"],
    route_class_override=LeanRoute,
    **allow("any"),
    status_code=201,
    response_model=BookingOut,
    responses={
        "409": {
            "description": "the slot is taken; names the conflicting slot",
            "content": {"application/problem+json": {}},
        }
    },
    summary="Book a resource",
)


@router.get("/bookings/mine", **allow("any"), response_model=list[BookingOut], summary="My bookings")
async def my_bookings(who: CurrentPrincipal, f: Ctx, page: Page) -> list[BookingOut]:
    return [booking_out(b) for b in await h.my_bookings_page(f, who, page)]


@router.get("/me/calendar.ics", **allow("any"), response_class=Response, summary="iCalendar feed of my bookings")
async def my_calendar(who: CurrentPrincipal, f: Ctx) -> Response:
    bookings = await h.my_bookings(f, who)
    names = {r.id: r.name for r in await h.list_resources(f, None, None)}
    series = await series_of(f, {"person": who.id})
    return Response(ical.calendar(f"Bookings of {who.sub}", bookings, names, series), media_type=ICS)


@router.get("/bookings/{booking_id}", **allow("any"), response_model=BookingOut, summary="One of my bookings")
async def get_booking(who: CurrentPrincipal, f: Ctx, booking_id: str) -> BookingOut:
    return booking_out(await h.get_booking(f, booking_id, who))


@router.post("/bookings/{booking_id}/cancel", **allow("any"), response_model=BookingOut, summary="Cancel a booking")
async def cancel_booking(who: CurrentPrincipal, f: Ctx, booking_id: str) -> BookingOut:
    return booking_out(await h.cancel(f, booking_id, who))


@router.post(
    "/bookings/{booking_id}/check-in",
    **allow("any"),
    response_model=BookingOut,
    responses={
        "409": {
            "description": "no check-in asked, before it opens (15 minutes before the start), after its deadline "
            "(start + the grace period), or released",
            "content": {"application/problem+json": {}},
        }
    },
    summary="Check in to a booking (its holder or a manager)",
)
async def check_in_booking(who: CurrentPrincipal, f: Ctx, booking_id: str) -> BookingOut:
    return booking_out(await wl.check_in(f, booking_id, who))


@router.post(
    "/waitlist",
    **allow("any"),
    status_code=201,
    response_model=WaitEntryOut,
    responses={
        "409": {
            "description": "the slot is free (book it), already in line or booked there, or the list is full",
            "content": {"application/problem+json": {}},
        }
    },
    summary="Join a resource's waitlist for a taken slot or a window of one day",
)
async def join_waitlist(who: CurrentPrincipal, f: Ctx, body: c.JoinWaitlist, response: Response) -> WaitEntryOut:
    p = await wl.join(f, body, who)
    response.headers["Location"] = f"/api/v1/facilities/waitlist/{p.entry.id}"
    return entry_out(p)


@router.get("/waitlist/mine", **allow("any"), response_model=list[WaitEntryOut], summary="My places in line")
async def my_waitlist(who: CurrentPrincipal, f: Ctx, page: Page) -> list[WaitEntryOut]:
    return [entry_out(p) for p in await wl.my_entries(f, who, page)]


@router.get("/waitlist/{entry_id}", **allow("any"), response_model=WaitEntryOut, summary="My place in line")
async def get_waitlist_entry(who: CurrentPrincipal, f: Ctx, entry_id: str) -> WaitEntryOut:
    return entry_out(await wl.get_entry(f, entry_id, who))


@router.post(
    "/waitlist/{entry_id}/claim",
    **allow("any"),
    status_code=201,
    response_model=BookingOut,
    responses={
        "409": {
            "description": "no offer, the offer lapsed, or the slot has no room",
            "content": {"application/problem+json": {}},
        }
    },
    summary="Claim my offer: book the offered slot",
)
async def claim_offer(who: CurrentPrincipal, f: Ctx, entry_id: str, response: Response) -> BookingOut:
    b = await wl.claim(f, entry_id, who)
    response.headers["Location"] = f"/api/v1/facilities/bookings/{b.id}"
    return booking_out(b)


@router.post(
    "/waitlist/{entry_id}/leave",
    **allow("any"),
    response_model=WaitEntryOut,
    responses={"409": {"description": "the entry is no longer in line", "content": {"application/problem+json": {}}}},
    summary="Leave the waitlist",
)
async def leave_waitlist(who: CurrentPrincipal, f: Ctx, entry_id: str) -> WaitEntryOut:
    return entry_out(await wl.leave(f, entry_id, who))


@router.post(
    "/bookings/{booking_id}/approve",
    **allow("facility_manager", "region_admin"),
    response_model=BookingOut,
    responses={
        "409": {
            "description": "not awaiting approval, or its holder no longer meets the resource's policy "
            "(names the rule; the request stays pending)",
            "content": {"application/problem+json": {}},
        }
    },
    summary="Approve (managers)",
)
async def approve_booking(who: CurrentPrincipal, f: Ctx, booking_id: str) -> BookingOut:
    return booking_out(await h.decide(f, booking_id, who, approve=True))


@router.post(
    "/bookings/{booking_id}/reject",
    **allow("facility_manager", "region_admin"),
    response_model=BookingOut,
    summary="Reject (managers)",
)
async def reject_booking(who: CurrentPrincipal, f: Ctx, booking_id: str) -> BookingOut:
    return booking_out(await h.decide(f, booking_id, who, approve=False))


@router.post(
    "/trainings",
    **allow("facility_manager", "region_admin"),
    status_code=201,
    summary="Record a person's training (managers)",
)
async def grant_training(who: CurrentPrincipal, f: Ctx, body: c.GrantTraining) -> dict[str, Any]:
    return await h.grant_training(f, body, who)


router.include_router(series_router)  # recurring bookings: /series...
router.include_router(network_router)  # partners' resources: /network/...
