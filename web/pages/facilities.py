"""Facilities: search sites and resources, a site's availability by day, book (or join the waiting list
for a taken slot), book a weekly series (``on_conflict`` fail or skip, each refused date said why), my
bookings (cancel, check in, the iCalendar file) and my places in line (claim an offer, leave), and, for
managers, the requests waiting for approval and the no-shows per person."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import Response
from starlette.routing import Route

from web.app import Page, Web
from web.platform import Problem, partner_page

KINDS = ("hot_desk", "meeting_room", "lab", "equipment", "university_access_point")
MAX_LIST = 200
MAX_WEEKS = 52


DAYS_SHOWN = 3660  # a day or week asked for more than ten years from today is shown as today


def parse_day(value: str | None, today: date) -> date:
    try:
        day = date.fromisoformat(value) if value else today
    except ValueError:
        return today
    return day if abs((day - today).days) <= DAYS_SHOWN else today


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
        "released": _("Released: not checked in"),
    }


def refusal_names(page: Page) -> dict[str, str]:
    """Why an occurrence of a series was not booked (the API's reason keys)."""
    _ = page._
    return {
        "taken": _("already booked"),
        "closed": _("the site is closed that day"),
        "outside_opening_hours": _("outside the opening hours"),
        "policy": _("the resource's rules do not allow it"),
    }


def line_names(page: Page) -> dict[str, str]:
    """A place in line's status."""
    _ = page._
    return {
        "waiting": _("Waiting"),
        "offered": _("Offered to you"),
        "claimed": _("Claimed"),
        "lapsed": _("Offer lapsed"),
        "left": _("Left the line"),
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


def weekday_names(page: Page) -> dict[str, str]:
    _ = page._
    return {
        "mon": _("Monday"),
        "tue": _("Tuesday"),
        "wed": _("Wednesday"),
        "thu": _("Thursday"),
        "fri": _("Friday"),
        "sat": _("Saturday"),
        "sun": _("Sunday"),
    }


def rule_words(page: Page, rrule: str) -> str:
    """A series' rule in words where it is a plain daily or weekly one with a count (as the site page
    makes them), else the rule itself."""
    parts = dict(p.split("=", 1) for p in rrule.split(";") if "=" in p)
    freq = {"DAILY": page._("Every day"), "WEEKLY": page._("Every week")}.get(parts.get("FREQ", ""))
    if freq is None or set(parts) - {"FREQ", "COUNT"} or not parts.get("COUNT", "").isdigit():
        return rrule
    dates = page.ngettext("%(n)s date", "%(n)s dates", int(parts["COUNT"]))
    return f"{freq}, {dates}"


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_hours(opening_hours: dict[str, list[dict[str, str]]]) -> range:
    """The hours a week view shows: from the earliest opening to the latest closing of any weekday (whole
    hours, a closing at 17:30 shows the 17:00 row), 8 to 20 when the site gives no hours."""
    windows = [w for ws in opening_hours.values() for w in ws]
    if not windows:
        return range(8, 20)
    first = min(time.fromisoformat(w["open"]).hour for w in windows)
    last = max(time.fromisoformat(w["close"]) for w in windows)
    return range(first, last.hour + (1 if last.minute else 0))


def hour_cell(
    free: list[tuple[datetime, datetime]], busy: list[tuple[datetime, datetime]], start: datetime, now: datetime
) -> dict[str, Any]:
    """One hour of one resource in the week view: ``free`` (wholly; links to book it), ``partly`` (some of
    it free: the first free part), ``busy`` (taken, nothing free), ``closed`` (neither: outside the
    opening hours) or ``past``."""
    end = start + timedelta(hours=1)
    if end <= now:
        return {"state": "past"}
    parts = [(max(a, start), min(b, end)) for a, b in free if a < end and start < b]
    if any(a <= start and end <= b for a, b in free):
        return {"state": "free", "start": start, "end": end}
    if parts:
        a, b = min(parts)
        return {"state": "partly", "start": a, "end": b}
    if any(a < end and start < b for a, b in busy):
        return {"state": "busy"}
    return {"state": "closed"}


def week_grid(
    slots: dict[str, Any], monday: date, hours: range, tz: str, now: datetime
) -> list[tuple[int, list[dict[str, Any]]]]:
    """A resource's week as rows of hours, each with its seven days' cells (the site's local time)."""
    zone = ZoneInfo(tz)
    free = [(datetime.fromisoformat(x["start"]), datetime.fromisoformat(x["end"])) for x in slots.get("free", [])]
    busy = [(datetime.fromisoformat(x["start"]), datetime.fromisoformat(x["end"])) for x in slots.get("busy", [])]
    days = [monday + timedelta(days=n) for n in range(7)]
    rows = []
    for h in hours:
        cells = []
        for d in days:
            cell = hour_cell(free, busy, datetime.combine(d, time(h), zone), now)
            if "start" in cell:  # the booking form's times, in the site's local time
                cell["from"], cell["until"] = (cell[k].astimezone(zone).strftime("%H:%M") for k in ("start", "end"))
            cells.append({"day": d, **cell})
        rows.append((h, cells))
    return rows


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
        network = await page.api.get(
            "/facilities/network/resources", {"limit": MAX_LIST, **({"kind": kind} if kind else {})}
        )
        partners = [
            r | {"book_page": r["book_at"] and partner_page(r["api_base"], f"/facilities/sites/{r['site_id']}")}
            for r in network
            if not text
            or text in f"{r.get('site_name') or ''} {r.get('city') or ''} {r['region']} {r['name']}".casefold()
        ]
        return page.render(
            "facilities/search.html",
            sites=found,
            counts=counts,
            partners=partners,
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
        refused: list[dict[str, Any]] | None = None,
        series_problem: Problem | None = None,
    ) -> Response:
        site_id = page.request.path_params["site_id"]
        site = await page.api.get(f"/facilities/sites/{site_id}")
        tz = site["timezone"]
        q = page.request.query_params
        today = datetime.now(ZoneInfo(tz)).date()
        day = parse_day((form or {}).get("day") or q.get("day"), today)
        start = datetime.combine(day, time(0), ZoneInfo(tz))
        end = start + timedelta(days=1)
        resources = await page.api.get("/facilities/resources", {"site_id": site_id, "limit": MAX_LIST})
        free = await page.api.get(
            f"/facilities/sites/{site_id}/availability", {"from": start.isoformat(), "to": end.isoformat()}
        )
        by_resource = {a["resource_id"]: a for a in free}
        monday = monday_of(parse_day(q.get("week"), day))
        week_start = datetime.combine(monday, time(0), ZoneInfo(tz))
        week_end = datetime.combine(monday + timedelta(days=7), time(0), ZoneInfo(tz))
        week = await page.api.get(
            f"/facilities/sites/{site_id}/availability", {"from": week_start.isoformat(), "to": week_end.isoformat()}
        )
        hours = week_hours(site["opening_hours"])
        now = datetime.now(ZoneInfo(tz))
        ids = [r["id"] for r in resources]
        chosen = next((x for x in (q.get("resource"), q.get("resource_id")) if x in ids), ids[0] if ids else "")
        grid = next((week_grid(a, monday, hours, tz, now) for a in week if a["resource_id"] == chosen), [])
        prefill = {k: q.get(k, "")[:80] for k in ("resource_id", "start", "end") if q.get(k)}
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
            form=form or {"day": day.isoformat(), "series_day": day.isoformat(), "series_weeks": "4", **prefill},
            monday=monday,
            weekdays=[monday + timedelta(days=n) for n in range(7)],
            previous_week=(monday - timedelta(days=7)).isoformat(),
            next_week=(monday + timedelta(days=7)).isoformat(),
            chosen=next((r for r in resources if r["id"] == chosen), None),
            grid=grid,
            hour_names={h: page.fmt.time(datetime.combine(monday, time(h), ZoneInfo(tz)), tz) for h in hours},
            day_names=list(weekday_names(page).values()),
            errors=errors or {},
            problem=problem,
            refused=refused or [],
            series_problem=series_problem,
            reasons=refusal_names(page),
            max_weeks=MAX_WEEKS,
            here=f"/facilities/sites/{site_id}?day={day.isoformat()}&week={monday.isoformat()}",
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

    async def mine_page(page: Page, problem: Problem | None = None, status: int = 200) -> Response:
        bookings = await page.api.get("/facilities/bookings/mine", {"limit": MAX_LIST})
        resources = {r["id"]: r for r in await page.api.get("/facilities/resources", {"limit": MAX_LIST})}
        line = await page.api.get("/facilities/waitlist/mine", {"limit": MAX_LIST})
        series = await page.api.get("/facilities/series/mine", {"limit": MAX_LIST})
        bookings.sort(key=lambda b: b["start"])
        line.sort(key=lambda e: (e["status"] not in ("offered", "waiting"), e["start"]))
        q = page.request.query_params
        return page.render(
            "facilities/mine.html",
            status,
            bookings=bookings,
            resources=resources,
            line=line,
            statuses=status_names(page),
            line_statuses=line_names(page),
            series=series,
            rules={x["id"]: rule_words(page, x["rrule"]) for x in series},
            series_statuses={
                "booking": page._("Being booked"),
                "active": page._("Active"),
                "failed": page._("Nothing booked"),
                "cancelled": page._("Cancelled"),
            },
            booked=q.get("booked"),
            cancelled=q.get("cancelled"),
            joined=q.get("joined"),
            left=q.get("left"),
            checked_in=q.get("checked_in"),
            problem=problem,
            here="/facilities/bookings",
        )

    async def mine(page: Page) -> Response:
        return await mine_page(page)

    async def cancel(page: Page) -> Response:
        await page.form()
        booking_id = page.request.path_params["booking_id"]
        await page.api.post(f"/facilities/bookings/{booking_id}/cancel")
        return page.redirect(f"/facilities/bookings?cancelled={booking_id}")

    async def calendar(page: Page) -> Response:
        r = await page.api.call("GET", "/facilities/me/calendar.ics")
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
        no_shows = []
        for s in mine:
            for n in await page.api.get(f"/facilities/sites/{s['id']}/no-shows", {"limit": MAX_LIST}):
                no_shows.append({**n, "site": s})
        no_shows.sort(key=lambda n: (-n["no_shows"], n["last_start"]))
        return page.render(
            "facilities/manage.html",
            sites=mine,
            waiting=waiting,
            no_shows=no_shows,
            decided=page.request.query_params.get("decided"),
            problem=None,
        )

    async def join_line(page: Page) -> Response:
        """The booking form's second button: join the waiting list for the slot instead of booking it."""
        form = await page.form()
        site = await page.api.get(f"/facilities/sites/{page.request.path_params['site_id']}")
        window, errors = booking_window(form, site["timezone"], page._)
        if not form.get("resource_id"):
            errors["resource_id"] = page._("Choose what to book.")
        if errors:
            return await site_page(page, form, errors, status=422)
        try:
            entry = await page.api.post("/facilities/waitlist", {"resource_id": form["resource_id"], **window})
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            fields = {k if k in ("start", "end") else "resource_id": v for k, v in p.fields.items()}
            return await site_page(page, form, fields, problem=p, status=p.status)
        return page.redirect(f"/facilities/bookings?joined={entry['id']}")

    async def book_series(page: Page) -> Response:
        form = await page.form()
        site = await page.api.get(f"/facilities/sites/{page.request.path_params['site_id']}")
        first = {k: form.get(f"series_{k}", "") for k in ("day", "start", "end")}
        window, found = booking_window(first, site["timezone"], page._)
        errors = {f"series_{k}": v for k, v in found.items()}
        if not form.get("series_resource_id"):
            errors["series_resource_id"] = page._("Choose what to book.")
        try:
            weeks = int(form.get("series_weeks", ""))
        except ValueError:
            weeks = 0
        if not 2 <= weeks <= MAX_WEEKS:
            errors["series_weeks"] = page._("Enter a whole number of weeks from 2 to %(n)s.") % {"n": MAX_WEEKS}
        if form.get("series_on_conflict") not in ("fail", "skip"):
            errors["series_on_conflict"] = page._("Choose what to do with dates already taken.")
        if errors:
            return await site_page(page, form, errors, status=422)
        body = {
            "resource_id": form["series_resource_id"],
            **window,
            "rrule": f"FREQ=WEEKLY;COUNT={weeks}",
            "on_conflict": form["series_on_conflict"],
        }
        try:
            made = await page.api.post("/facilities/series", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            names = {"start": "series_start", "end": "series_end", "rrule": "series_weeks"}
            fields = {names.get(k, "series_resource_id"): v for k, v in p.fields.items()}
            refused = [c for c in p.extra.get("conflicts") or [] if isinstance(c, dict)][:MAX_WEEKS]
            return await site_page(page, form, fields, status=p.status, refused=refused, series_problem=p)
        return page.redirect(f"/facilities/series/{made['id']}?done=booked")

    async def series(page: Page) -> Response:
        found = await page.api.get(f"/facilities/series/{page.request.path_params['series_id']}")
        if not isinstance(found, dict):  # /series/mine is the API's list of them, not a series
            raise Problem(404, "Not found", "no such series")
        resource = await page.api.get(f"/facilities/resources/{found['resource_id']}")
        return page.render(
            "facilities/series.html",
            series=found,
            resource=resource,
            reasons=refusal_names(page),
            occurrence_names={
                "planned": page._("Planned"),
                "booked": page._("Booked"),
                "skipped": page._("Not booked"),
                "cancelled": page._("Cancelled"),
            },
            notice=page.request.query_params.get("done", ""),
        )

    async def claim(page: Page) -> Response:
        await page.form()
        entry, action = page.request.path_params["entry_id"], page.request.path_params["action"]
        if action not in ("claim", "leave"):
            return page.render("error.html", 404, message=page._("Page not found."))
        try:
            answer = await page.api.post(f"/facilities/waitlist/{entry}/{action}")
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            return await mine_page(page, p, p.status)
        if action == "claim":
            return page.redirect(f"/facilities/bookings?booked={(answer or {}).get('id', '')}")
        return page.redirect("/facilities/bookings?left=1")

    async def check_in(page: Page) -> Response:
        await page.form()
        booking_id = page.request.path_params["booking_id"]
        try:
            await page.api.post(f"/facilities/bookings/{booking_id}/check-in")
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            return await mine_page(page, p, p.status)
        return page.redirect(f"/facilities/bookings?checked_in={booking_id}")

    async def decide(page: Page) -> Response:
        await page.form()
        booking_id, action = page.request.path_params["booking_id"], page.request.path_params["action"]
        if action not in ("approve", "reject"):
            return page.render("error.html", 404, message=page._("Page not found."))
        await page.api.post(f"/facilities/bookings/{booking_id}/{action}")
        return page.redirect(f"/facilities/manage?decided={action}")

    from web.pages import facilities_manage  # here: it imports this module's names

    return [
        *facilities_manage.routes(web),  # the managers' sites and resources (registered with these)
        Route("/facilities", web.page(search)),
        Route("/facilities/sites/{site_id}", web.page(site)),
        Route("/facilities/sites/{site_id}/book", web.page(book), methods=["POST"]),
        Route("/facilities/sites/{site_id}/waitlist", web.page(join_line), methods=["POST"]),
        Route("/facilities/sites/{site_id}/series", web.page(book_series), methods=["POST"]),
        Route("/facilities/series/{series_id}", web.page(series)),
        Route("/facilities/waitlist/{entry_id}/{action}", web.page(claim), methods=["POST"]),
        Route("/facilities/bookings/{booking_id}/check-in", web.page(check_in), methods=["POST"]),
        Route("/facilities/bookings", web.page(mine)),
        Route("/facilities/bookings/{booking_id}/cancel", web.page(cancel), methods=["POST"]),
        Route("/facilities/calendar.ics", web.page(calendar)),
        Route("/facilities/manage", web.page(manage)),
        Route("/facilities/manage/{booking_id}/{action}", web.page(decide), methods=["POST"]),
    ]
