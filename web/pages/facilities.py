"""Facilities: search sites and resources, a site's availability by day, book, my bookings (cancel, the
iCalendar file) and, for managers, the requests waiting for approval."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import Response
from starlette.routing import Route

from web.app import Page, Web
from web.platform import Problem

KINDS = ("hot_desk", "meeting_room", "lab", "equipment", "university_access_point")
MAX_LIST = 200


def parse_day(value: str | None, today: date) -> date:
    try:
        return date.fromisoformat(value) if value else today
    except ValueError:
        return today


def kind_names(page: Page) -> dict[str, str]:
    _ = page._
    return {
        "hot_desk": _("Hot desk"),
        "meeting_room": _("Meeting room"),
        "lab": _("Laboratory"),
        "equipment": _("Equipment"),
        "university_access_point": _("University access point"),
    }


def status_names(page: Page) -> dict[str, str]:
    _ = page._
    return {
        "confirmed": _("Confirmed"),
        "pending_approval": _("Waiting for approval"),
        "cancelled": _("Cancelled"),
        "rejected": _("Rejected"),
    }


def booking_window(form: dict[str, str], tz: str, _: Any) -> tuple[dict[str, str], dict[str, str]]:
    """The form's day and times as ISO instants in the site's time zone; or the reasons per field."""
    errors: dict[str, str] = {}
    try:
        day = date.fromisoformat(form.get("day", ""))
    except ValueError:
        day = None
        errors["day"] = _("Enter a date.")
    times: dict[str, time] = {}
    for name in ("start", "end"):
        try:
            times[name] = time.fromisoformat(form.get(name, ""))
        except ValueError:
            errors[name] = _("Enter a time as hours and minutes.")
    if errors or day is None:
        return {}, errors
    zone = ZoneInfo(tz)
    return {n: datetime.combine(day, t, zone).isoformat() for n, t in times.items()}, {}


def routes(web: Web) -> list[Route]:
    async def search(page: Page) -> Response:
        q = page.request.query_params
        kind = q.get("kind", "") if q.get("kind", "") in KINDS else ""
        text = q.get("q", "")[:100].strip().casefold()
        sites = await page.api.get("/facilities/sites", {"limit": MAX_LIST})
        resources = await page.api.get("/facilities/resources", {"limit": MAX_LIST, **({"kind": kind} if kind else {})})
        counts: dict[str, int] = {}
        for r in resources:
            counts[r["site_id"]] = counts.get(r["site_id"], 0) + 1
        found = [
            s
            for s in sites
            if counts.get(s["id"]) and (not text or text in f"{s['name']} {s['city']} {s['region']}".casefold())
        ]
        return page.render(
            "facilities/search.html",
            sites=found,
            counts=counts,
            kind=kind,
            q=q.get("q", "")[:100],
            kinds=kind_names(page),
        )

    async def site_page(
        page: Page,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problem: Problem | None = None,
        status: int = 200,
    ) -> Response:
        site_id = page.request.path_params["site_id"]
        site = await page.api.get(f"/facilities/sites/{site_id}")
        tz = site["timezone"]
        today = datetime.now(ZoneInfo(tz)).date()
        day = parse_day((form or {}).get("day") or page.request.query_params.get("day"), today)
        start = datetime.combine(day, time(0), ZoneInfo(tz))
        end = start + timedelta(days=1)
        resources = await page.api.get("/facilities/resources", {"site_id": site_id, "limit": MAX_LIST})
        free = await page.api.get(
            f"/facilities/sites/{site_id}/availability", {"from": start.isoformat(), "to": end.isoformat()}
        )
        by_resource = {a["resource_id"]: a for a in free}
        return page.render(
            "facilities/site.html",
            status,
            site=site,
            tz=tz,
            day=day,
            previous=(day - timedelta(days=1)).isoformat(),
            following=(day + timedelta(days=1)).isoformat(),
            resources=resources,
            availability=by_resource,
            kinds=kind_names(page),
            form=form or {"day": day.isoformat()},
            errors=errors or {},
            problem=problem,
            here=f"/facilities/sites/{site_id}?day={day.isoformat()}",
        )

    async def site(page: Page) -> Response:
        return await site_page(page)

    async def book(page: Page) -> Response:
        form = await page.form()
        site = await page.api.get(f"/facilities/sites/{page.request.path_params['site_id']}")
        window, errors = booking_window(form, site["timezone"], page._)
        if not form.get("resource_id"):
            errors["resource_id"] = page._("Choose what to book.")
        if errors:
            return await site_page(page, form, errors, status=422)
        try:
            booking = await page.api.post("/facilities/bookings", {"resource_id": form["resource_id"], **window})
        except Problem as p:
            if p.status in (401,) or p.status >= 500:
                raise
            fields = {
                ("start" if k == "start" else "end" if k == "end" else "resource_id"): v for k, v in p.fields.items()
            }
            return await site_page(page, form, fields, problem=p, status=p.status)
        return page.redirect(f"/facilities/bookings?booked={booking['id']}")

    async def mine(page: Page) -> Response:
        bookings = await page.api.get("/facilities/bookings/mine", {"limit": MAX_LIST})
        resources = {r["id"]: r for r in await page.api.get("/facilities/resources", {"limit": MAX_LIST})}
        bookings.sort(key=lambda b: b["start"])
        return page.render(
            "facilities/mine.html",
            bookings=bookings,
            resources=resources,
            statuses=status_names(page),
            booked=page.request.query_params.get("booked"),
            cancelled=page.request.query_params.get("cancelled"),
        )

    async def cancel(page: Page) -> Response:
        await page.form()
        booking_id = page.request.path_params["booking_id"]
        await page.api.post(f"/facilities/bookings/{booking_id}/cancel")
        return page.redirect(f"/facilities/bookings?cancelled={booking_id}")

    async def calendar(page: Page) -> Response:
        r = await page.http.get("/api/v1/facilities/me/calendar.ics", headers=page.api._headers())
        if r.status_code >= 400:
            raise Problem.from_response(r)
        return Response(
            r.content,
            media_type="text/calendar",
            headers={"Content-Disposition": 'attachment; filename="my-bookings.ics"'},
        )

    async def manage(page: Page) -> Response:
        org = page.session.who.get("org")
        region = page.session.who.get("region")
        sites = await page.api.get("/facilities/sites", {"limit": MAX_LIST})
        mine = [
            s
            for s in sites
            if (page.session.has("region_admin") and s["region"] == region) or s["organisation"] == f"{region}:{org}"
        ]
        waiting = []
        for s in mine:
            for r in await page.api.get("/facilities/resources", {"site_id": s["id"], "limit": MAX_LIST}):
                for b in await page.api.get(f"/facilities/resources/{r['id']}/bookings", {"limit": MAX_LIST}):
                    if b["status"] == "pending_approval":
                        waiting.append({"booking": b, "resource": r, "site": s})
        waiting.sort(key=lambda w: w["booking"]["start"])
        return page.render(
            "facilities/manage.html",
            sites=mine,
            waiting=waiting,
            decided=page.request.query_params.get("decided"),
            problem=None,
        )

    async def decide(page: Page) -> Response:
        await page.form()
        booking_id, action = page.request.path_params["booking_id"], page.request.path_params["action"]
        if action not in ("approve", "reject"):
            return page.render("error.html", 404, message=page._("Page not found."))
        await page.api.post(f"/facilities/bookings/{booking_id}/{action}")
        return page.redirect(f"/facilities/manage?decided={action}")

    return [
        Route("/facilities", web.page(search)),
        Route("/facilities/sites/{site_id}", web.page(site)),
        Route("/facilities/sites/{site_id}/book", web.page(book), methods=["POST"]),
        Route("/facilities/bookings", web.page(mine)),
        Route("/facilities/bookings/{booking_id}/cancel", web.page(cancel), methods=["POST"]),
        Route("/facilities/calendar.ics", web.page(calendar)),
        Route("/facilities/manage", web.page(manage)),
        Route("/facilities/manage/{booking_id}/{action}", web.page(decide), methods=["POST"]),
    ]
