"""Routes of recurring bookings (attached to the facilities router)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel, Field

from clustergrowth.auth import CurrentPrincipal, RuledRouter, allow
from clustergrowth.errors import problem_responses
from clustergrowth.paging import Page
from services.facilities import handlers as h
from services.facilities.domain.model import iso, parse_iso
from services.facilities.series import commands as sc
from services.facilities.series import handlers as sh
from services.facilities.series import model as sm

router = RuledRouter(responses=problem_responses(401, 403, 404, 422))
CONFLICTS: dict[int | str, dict[str, Any]] = {
    "409": {
        "description": "occurrences cannot be booked or moved; ``conflicts`` names each (recurrence_id, start, "
        "end, reason: taken | closed | outside_opening_hours | policy, detail)",
        "content": {"application/problem+json": {}},
    }
}


class OccurrenceOut(BaseModel):
    recurrence_id: str
    start: str
    end: str
    status: str
    booking_id: str | None
    reason: str | None
    detail: str | None


class SeriesOut(BaseModel):
    id: str
    resource_id: str
    site_id: str
    person: str
    region: str
    timezone: str
    rrule: str
    start: str
    end: str
    on_conflict: str
    status: str
    created_at: str
    sequence: int
    occurrences: list[OccurrenceOut]
    booked: int
    skipped: list[OccurrenceOut]
    not_moved: list[dict[str, str]] = []


def series_out(s: sm.Series, not_moved: list[dict[str, str]] | None = None) -> SeriesOut:
    occ = [
        OccurrenceOut(
            recurrence_id=iso(o.rid),
            start=iso(o.start),
            end=iso(o.end),
            status=o.status,
            booking_id=o.booking_id,
            reason=o.reason,
            detail=o.detail,
        )
        for o in s.occurrences
    ]
    return SeriesOut(
        id=s.id,
        resource_id=s.resource_id,
        site_id=s.site_id,
        person=s.person,
        region=s.region,
        timezone=s.timezone,
        rrule=s.rrule,
        start=iso(s.start),
        end=iso(s.end),
        on_conflict=s.on_conflict,
        status=s.status,
        created_at=iso(s.created_at),
        sequence=s.sequence,
        occurrences=occ,
        booked=sum(o.status == "booked" for o in occ),
        skipped=[o for o in occ if o.status == "skipped"],
        not_moved=not_moved or [],
    )


class MySeriesOut(BaseModel):
    id: str
    resource_id: str
    resource_name: str
    site_id: str
    timezone: str
    rrule: str
    status: str = Field(description="booking, active, failed or cancelled")
    created_at: str
    next_occurrence: OccurrenceOut | None = Field(description="the first booked occurrence not ended yet")
    counts: dict[str, int] = Field(description="occurrences per status: planned, booked, skipped, cancelled")


def my_series_out(s: sm.Series, resource_name: str, now: datetime) -> MySeriesOut:
    full = series_out(s)
    upcoming = [o for o in full.occurrences if o.status == "booked" and parse_iso(o.end) > now]
    counts = dict.fromkeys(("planned", "booked", "skipped", "cancelled"), 0)
    for o in s.occurrences:
        counts[o.status] = counts.get(o.status, 0) + 1
    return MySeriesOut(
        id=s.id,
        resource_id=s.resource_id,
        resource_name=resource_name,
        site_id=s.site_id,
        timezone=s.timezone,
        rrule=s.rrule,
        status=s.status,
        created_at=iso(s.created_at),
        next_occurrence=min(upcoming, key=lambda o: o.start) if upcoming else None,
        counts=counts,
    )


def _ctx(request: Request) -> h.Facilities:
    f: h.Facilities = request.app.state.facilities
    return f


@router.post(
    "/series",
    **allow("any"),
    status_code=201,
    response_model=SeriesOut,
    responses=CONFLICTS,
    summary="Book a recurring slot (RRULE subset; on_conflict fail or skip)",
)
async def book_series(who: CurrentPrincipal, request: Request, body: sc.BookSeries, response: Response) -> SeriesOut:
    s = await sh.book_series(_ctx(request), body, who)
    response.headers["Location"] = f"/api/v1/facilities/series/{s.id}"
    return series_out(s)


@router.get("/series/mine", **allow("any"), response_model=list[MySeriesOut], summary="My series, newest first")
async def list_my_series(who: CurrentPrincipal, request: Request, page: Page) -> list[MySeriesOut]:
    f = _ctx(request)
    found = await sh.my_series(f, who, page)
    names = {r: (await h.get_resource(f, r)).name for r in {s.resource_id for s in found}}
    now = f.clock()
    return [my_series_out(s, names[s.resource_id], now) for s in found]


@router.get("/series/{series_id}", **allow("any"), response_model=SeriesOut, summary="One of my series")
async def get_series(who: CurrentPrincipal, request: Request, series_id: str) -> SeriesOut:
    return series_out(await sh.get_series(_ctx(request), series_id, who))


@router.post(
    "/series/{series_id}/cancel",
    **allow("any"),
    response_model=SeriesOut,
    summary="Cancel one occurrence, this and following, or all (holder or the resource's managers)",
)
async def cancel_series(who: CurrentPrincipal, request: Request, series_id: str, body: sc.SeriesTarget) -> SeriesOut:
    return series_out(await sh.cancel_series(_ctx(request), series_id, body, who))


@router.post(
    "/series/{series_id}/move",
    **allow("any"),
    response_model=SeriesOut,
    responses=CONFLICTS,
    summary="Move one occurrence, this and following, or all to another time of their day (holder)",
)
async def move_series(who: CurrentPrincipal, request: Request, series_id: str, body: sc.MoveSeries) -> SeriesOut:
    s, not_moved = await sh.move_series(_ctx(request), series_id, body, who)
    return series_out(s, not_moved)
