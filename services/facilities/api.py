"""Thin HTTP layer of the facilities service: parse, authorise the caller, call a handler, shape output."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from clustergrowth.auth import CurrentPrincipal, allow
from clustergrowth.errors import problem_responses
from clustergrowth.paging import Page
from clustergrowth.problems import Forbidden
from clustergrowth.types import Instant
from services.facilities import commands as c
from services.facilities import handlers as h
from services.facilities import ical
from services.facilities import store as st
from services.facilities.domain.model import Booking, Resource, Site
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


def _availability(d: dict[str, Any]) -> AvailabilityOut:
    return AvailabilityOut(
        resource_id=d["resource_id"],
        timezone=d["timezone"],
        from_=d["from"],
        to=d["to"],
        free=[Slot(**x) for x in d["free"]],
        busy=[Slot(**x) for x in d["busy"]],
    )


router = APIRouter(responses=problem_responses(401, 403, 404, 422))


@router.get("/sites", **allow("any"), response_model=list[SiteOut], summary="List sites")
async def list_sites(f: Ctx, who: CurrentPrincipal, page: Page) -> list[SiteOut]:
    return [site_out(x) for x in await h.list_sites(f, page)]


@router.post(
    "/sites",
    **allow("facility_manager", "region_admin"),
    status_code=201,
    response_model=SiteOut,
    summary="Register a site (managers)",
)
async def create_site(f: Ctx, who: CurrentPrincipal, body: c.CreateSite) -> SiteOut:
    return site_out(await h.create_site(f, body, who))


@router.get("/sites/{site_id}", **allow("any"), response_model=SiteOut, summary="One site")
async def get_site(f: Ctx, who: CurrentPrincipal, site_id: str) -> SiteOut:
    return site_out(await h.get_site(f, site_id))


@router.get(
    "/sites/{site_id}/availability",
    **allow("any"),
    response_model=list[AvailabilityOut],
    summary="Free slots of every resource at a site",
)
async def site_availability(
    f: Ctx,
    who: CurrentPrincipal,
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
async def site_usage(f: Ctx, who: CurrentPrincipal, site_id: str, page: Page) -> list[dict[str, Any]]:
    who.require(*h.MANAGERS)
    site = await h.get_site(f, site_id)
    if not h.may_manage(who, site.organisation):
        raise Forbidden(f"only managers of {site.organisation} see this site's usage; use availability instead")
    docs = await page.query(f.store, st.USAGE, {"site_id": site_id}, [("day", 1), ("resource_id", 1)])
    return [{k: d[k] for k in ("resource_id", "day", "bookings", "booked_minutes")} for d in docs]


@router.get("/resources", **allow("any"), response_model=list[ResourceOut], summary="List resources")
async def list_resources(
    f: Ctx, who: CurrentPrincipal, page: Page, kind: c.ResourceKind | None = None, site_id: str | None = None
) -> list[ResourceOut]:
    return [resource_out(r) for r in await h.list_resources(f, kind, site_id, page)]


@router.post(
    "/resources",
    **allow("facility_manager", "region_admin"),
    status_code=201,
    response_model=ResourceOut,
    summary="List a resource (managers)",
)
async def create_resource(f: Ctx, who: CurrentPrincipal, body: c.ListResource) -> ResourceOut:
    return resource_out(await h.list_resource(f, body, who))


@router.get("/resources/{resource_id}", **allow("any"), response_model=ResourceOut, summary="One resource")
async def get_resource(f: Ctx, who: CurrentPrincipal, resource_id: str) -> ResourceOut:
    return resource_out(await h.get_resource(f, resource_id))


@router.get(
    "/resources/{resource_id}/availability",
    **allow("any"),
    response_model=AvailabilityOut,
    summary="Free and busy slots of a resource in a window",
)
async def resource_availability(
    f: Ctx, who: CurrentPrincipal, resource_id: str, start: From, end: To
) -> AvailabilityOut:
    return _availability(await h.availability(f, await h.get_resource(f, resource_id), start, end))


@router.get(
    "/resources/{resource_id}/bookings",
    **allow("facility_manager", "region_admin"),
    response_model=list[BookingOut],
    summary="A resource's bookings (its managers)",
)
async def resource_bookings(f: Ctx, who: CurrentPrincipal, resource_id: str, page: Page) -> list[BookingOut]:
    return [booking_out(b) for b in await h.resource_bookings(f, resource_id, who, page)]


@router.get(
    "/resources/{resource_id}/calendar.ics",
    **allow("any"),
    response_class=Response,
    summary="iCalendar feed of a resource (busy times, no personal data)",
)
async def resource_calendar(f: Ctx, who: CurrentPrincipal, resource_id: str) -> Response:
    r = await h.get_resource(f, resource_id)
    docs = await f.store.find(st.SCHEDULES, {"resource_id": resource_id}, sort=[("day", 1)])
    bookings = [b for d in docs for b in st.schedule_from_doc(d).bookings if b.status != "rejected"]
    series = await series_of(f, {"resource_id": resource_id})
    return Response(ical.calendar(r.name, bookings, {r.id: r.name}, series), media_type=ICS)


@router.post(
    "/bookings",
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
async def create_booking(f: Ctx, who: CurrentPrincipal, body: c.BookResource, response: Response) -> BookingOut:
    b = await h.book(f, body, who)
    response.headers["Location"] = f"/api/v1/facilities/bookings/{b.id}"
    return booking_out(b)


@router.get("/bookings/mine", **allow("any"), response_model=list[BookingOut], summary="My bookings")
async def my_bookings(f: Ctx, who: CurrentPrincipal, page: Page) -> list[BookingOut]:
    return [booking_out(b) for b in await h.my_bookings_page(f, who, page)]


@router.get("/me/calendar.ics", **allow("any"), response_class=Response, summary="iCalendar feed of my bookings")
async def my_calendar(f: Ctx, who: CurrentPrincipal) -> Response:
    bookings = await h.my_bookings(f, who)
    names = {r.id: r.name for r in await h.list_resources(f, None, None)}
    series = await series_of(f, {"person": who.id})
    return Response(ical.calendar(f"Bookings of {who.sub}", bookings, names, series), media_type=ICS)


@router.get("/bookings/{booking_id}", **allow("any"), response_model=BookingOut, summary="One of my bookings")
async def get_booking(f: Ctx, who: CurrentPrincipal, booking_id: str) -> BookingOut:
    return booking_out(await h.get_booking(f, booking_id, who))


@router.post("/bookings/{booking_id}/cancel", **allow("any"), response_model=BookingOut, summary="Cancel a booking")
async def cancel_booking(f: Ctx, who: CurrentPrincipal, booking_id: str) -> BookingOut:
    return booking_out(await h.cancel(f, booking_id, who))


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
async def approve_booking(f: Ctx, who: CurrentPrincipal, booking_id: str) -> BookingOut:
    return booking_out(await h.decide(f, booking_id, who, approve=True))


@router.post(
    "/bookings/{booking_id}/reject",
    **allow("facility_manager", "region_admin"),
    response_model=BookingOut,
    summary="Reject (managers)",
)
async def reject_booking(f: Ctx, who: CurrentPrincipal, booking_id: str) -> BookingOut:
    return booking_out(await h.decide(f, booking_id, who, approve=False))


@router.post(
    "/trainings",
    **allow("facility_manager", "region_admin"),
    status_code=201,
    summary="Record a person's training (managers)",
)
async def grant_training(f: Ctx, who: CurrentPrincipal, body: c.GrantTraining) -> dict[str, Any]:
    return await h.grant_training(f, body, who)


router.include_router(series_router)  # recurring bookings: /series...
