"""Managing facilities (facility managers, the region's administrators): the sites of the manager's
organisation with their resources; register a site (kind, address, time zone, opening hours per
weekday), list a resource at one (kind, name, capacity and its booking policy), record a person's
training for training-gated equipment; a site's usage (booked hours per resource and day, a pygal
chart and the same figures as a table) and its released no-shows. Every API problem is shown next to
the field it names."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import Response
from starlette.routing import Route

from web.app import Page, Web
from web.charts import chart_style
from web.pages.facilities import KINDS, MAX_LIST, kind_names, weekday_names
from web.platform import Problem

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SITE_KINDS = ("science_park", "university", "business_organisation")
ROLES = ("sme_member", "student", "academic", "facility_manager", "council_secretary", "region_admin", "analyst")
MAX_USAGE = 1000  # usage documents read for a site's page (5 pages of the API's 200)
USAGE_DAYS = 31  # days shown in the chart and its table: the latest with bookings
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'"
# The API names a field by its last segment (``body.policy.max_days_ahead`` -> ``max_days_ahead``); the
# forms' fields carry a prefix so that the three forms on one page never share an id.
SITE_FIELDS = ("name", "kind", "city", "address", "timezone", "organisation")
RESOURCE_FIELDS = (
    "site_id",
    "name",
    "kind",
    "capacity",
    "max_duration_minutes",
    "max_days_ahead",
    "eligible_regions",
    "eligible_roles",
    "requires_approval",
    "required_training",
    "member_of_councils",
    "check_in_grace_minutes",
)
TRAINING_FIELDS = ("person", "training", "valid_until")


def site_kind_names(page: Page) -> dict[str, str]:
    _ = page._
    return {
        "science_park": _("Science park"),
        "university": _("University"),
        "business_organisation": _("Business organisation"),
    }


def split_list(text: str, limit: int) -> list[str]:
    """A comma-separated field as a list (blank parts dropped), at most ``limit`` items."""
    return [p.strip() for p in text.split(",") if p.strip()][:limit]


def opening_hours(
    form: dict[str, str], _: Callable[[str], str]
) -> tuple[dict[str, list[dict[str, str]]], dict[str, str]]:
    """The site form's one window per weekday (both times blank: closed that day), or the reasons per field."""
    hours: dict[str, list[dict[str, str]]] = {}
    errors: dict[str, str] = {}
    for d in WEEKDAYS:
        opens, closes = form.get(f"site_{d}_open", "").strip(), form.get(f"site_{d}_close", "").strip()
        if not opens and not closes:
            continue
        times: dict[str, time] = {}
        for name, value in (("open", opens), ("close", closes)):
            try:
                times[name] = time.fromisoformat(value)
            except ValueError:
                errors[f"site_{d}_{name}"] = _("Enter a time as hours and minutes, or leave both times empty.")
        if len(times) == 2:
            if times["close"] <= times["open"]:
                errors[f"site_{d}_close"] = _("Enter a closing time after the opening time.")
            else:
                hours[d] = [{"open": opens, "close": closes}]
    return hours, errors


def whole_number(form: dict[str, str], name: str, low: int, high: int, _: Callable[[str], str]) -> int | str:
    """A whole number from ``low`` to ``high``, or the reason it is not one."""
    try:
        n = int(form.get(name, "").strip())
    except ValueError:
        n = low - 1
    if not low <= n <= high:
        return _("Enter a whole number from %(low)s to %(high)s.") % {"low": low, "high": high}
    return n


def usage_table(
    docs: list[dict[str, Any]], days: int
) -> tuple[list[str], list[str], dict[tuple[str, str], dict[str, int]]]:
    """The latest ``days`` days with bookings, the resources booked on them, and per (day, resource) the
    bookings and booked minutes."""
    shown = sorted({d["day"] for d in docs})[-days:]
    cells = {(d["day"], d["resource_id"]): d for d in docs if d["day"] in shown}
    resources = sorted({r for _day, r in cells})
    return shown, resources, cells


def usage_chart(
    shown: list[str],
    labels: list[str],
    resources: list[str],
    cells: dict[tuple[str, str], dict[str, int]],
    names: dict[str, str],
    title: str,
) -> str:
    """Booked hours per day, one stacked series per resource, with a legend (pygal)."""
    import pygal  # here, not at import: pygal installs an import hook without find_spec (ImportWarning later)

    style = chart_style(
        ("#0b4f8a", "#b35806", "#1b7837", "#762a83", "#8c510a", "#01665e", "#c51b7d", "#4d4d4d"),
        label_font_size=12,
        major_label_font_size=12,
        legend_font_size=13,
    )
    chart = pygal.StackedBar(
        style=style,
        title=title,
        width=760,
        height=420,
        js=[],
        x_label_rotation=45,
        legend_at_bottom=True,
        value_formatter=lambda v: f"{v:.1f}",
        explicit_size=True,
    )
    chart.x_labels = labels
    for r in resources:
        chart.add(
            names.get(r, r),
            [round(cells[(d, r)]["booked_minutes"] / 60, 2) if (d, r) in cells else None for d in shown],
        )
    return str(chart.render(is_unicode=True))


def routes(web: Web) -> list[Route]:
    async def my_sites(page: Page) -> list[dict[str, Any]]:
        """The sites this manager may manage: their organisation's (the region's administrators: all)."""
        org, region = page.session.who.get("org"), page.session.who.get("region")
        sites = await page.api.get("/facilities/sites", {"limit": MAX_LIST})
        if page.session.has("region_admin"):
            return [s for s in sites if s["region"] == region]
        return [s for s in sites if s["organisation"] == f"{region}:{org}"]

    async def resources_page(
        page: Page,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problems: dict[str, Problem] | None = None,
        status: int = 200,
    ) -> Response:
        if not page.session.has("facility_manager", "region_admin"):
            return page.render("error.html", 403, message=page._("This page is for facility managers."))
        sites = await my_sites(page)
        listed = {
            s["id"]: await page.api.get("/facilities/resources", {"site_id": s["id"], "limit": MAX_LIST}) for s in sites
        }
        q = page.request.query_params
        defaults = {"site_timezone": "Europe/Dublin", "res_capacity": "1", "res_max_duration_minutes": "480"}
        defaults |= {"res_max_days_ahead": "30", "site_kind": "science_park", "res_kind": "hot_desk"}
        return page.render(
            "facilities/resources.html",
            status,
            sites=sites,
            listed=listed,
            form=form or defaults,
            errors=errors or {},
            problems=problems or {},
            kinds=kind_names(page),
            site_kinds=site_kind_names(page),
            weekdays=weekday_names(page),
            roles={r: page.role_name(r) for r in ROLES},
            is_admin=page.session.has("region_admin"),
            done=q.get("done", ""),
            made=q.get("made", ""),
            here="/facilities/manage/resources",
        )

    async def resources(page: Page) -> Response:
        return await resources_page(page)

    def fields_of(p: Problem, prefix: str, known: tuple[str, ...], fallback: str) -> dict[str, str]:
        """The API's reasons by this form's field names (a field it does not show: ``fallback``)."""
        out: dict[str, str] = {}
        for k, v in p.fields.items():
            parts = k.split(".")  # e.g. ``policy.eligible_regions``, ``opening_hours.tue.0``
            named = [x for x in parts if x in known]
            days = [x for x in parts if x in WEEKDAYS]
            if named:
                name = f"{prefix}{named[-1]}"
            elif "opening_hours" in parts and days:
                name = f"site_{days[0]}_close"
            else:
                name = fallback
            out.setdefault(name, v)
        return out

    async def create_site(page: Page) -> Response:
        form = await page.form()
        hours, errors = opening_hours(form, page._)
        for name in ("name", "city", "address", "timezone"):
            if not form.get(f"site_{name}", "").strip():
                errors[f"site_{name}"] = page._("Enter this.")
        if form.get("site_kind") not in SITE_KINDS:
            errors["site_kind"] = page._("Choose a kind of site.")
        if not hours and not errors:
            errors["site_mon_open"] = page._("Enter the opening hours of at least one day.")
        if errors:
            return await resources_page(page, form, errors, status=422)
        body: dict[str, Any] = {k: form[f"site_{k}"].strip() for k in ("name", "kind", "city", "address", "timezone")}
        body["opening_hours"] = hours
        if page.session.has("region_admin") and form.get("site_organisation", "").strip():
            body["organisation"] = form["site_organisation"].strip()
        try:
            made = await page.api.post("/facilities/sites", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            fields = fields_of(p, "site_", SITE_FIELDS, "site_mon_open")
            return await resources_page(page, form, fields, {"site": p}, p.status)
        return page.redirect(f"/facilities/manage/resources?done=site&made={made['id']}")

    async def create_resource(page: Page) -> Response:
        form = await page.form()
        _ = page._
        errors: dict[str, str] = {}
        numbers: dict[str, int] = {}
        bounds = {"capacity": (1, 500), "max_duration_minutes": (15, 7 * 24 * 60), "max_days_ahead": (0, 365)}
        for name, (low, high) in bounds.items():
            n = whole_number(form, f"res_{name}", low, high, _)
            if isinstance(n, str):
                errors[f"res_{name}"] = n
            else:
                numbers[name] = n
        grace: int | None = None
        if form.get("res_check_in_grace_minutes", "").strip():
            g = whole_number(form, "res_check_in_grace_minutes", 1, 240, _)
            if isinstance(g, str):
                errors["res_check_in_grace_minutes"] = g
            else:
                grace = g
        if not form.get("res_site_id"):
            errors["res_site_id"] = _("Choose a site.")
        if not form.get("res_name", "").strip():
            errors["res_name"] = _("Enter this.")
        if form.get("res_kind") not in KINDS:
            errors["res_kind"] = _("Choose a kind of resource.")
        if errors:
            return await resources_page(page, form, errors, status=422)
        policy: dict[str, Any] = {
            "max_duration_minutes": numbers["max_duration_minutes"],
            "max_days_ahead": numbers["max_days_ahead"],
            "eligible_regions": split_list(form.get("res_eligible_regions", "").upper(), 101),
            "eligible_roles": [r for r in ROLES if form.get(f"res_role_{r}") == "yes"],
            "requires_approval": form.get("res_requires_approval") == "yes",
            "required_training": form.get("res_required_training", "").strip() or None,
            "member_of_councils": split_list(form.get("res_member_of_councils", ""), 21),
            "check_in_grace_minutes": grace,
        }
        body = {
            "site_id": form["res_site_id"],
            "name": form["res_name"].strip(),
            "kind": form["res_kind"],
            "capacity": numbers["capacity"],
            "policy": policy,
        }
        try:
            made = await page.api.post("/facilities/resources", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            fields = fields_of(p, "res_", RESOURCE_FIELDS, "res_site_id")
            return await resources_page(page, form, fields, {"resource": p}, p.status)
        return page.redirect(f"/facilities/manage/resources?done=resource&made={made['id']}")

    async def grant_training(page: Page) -> Response:
        form = await page.form()
        _ = page._
        errors: dict[str, str] = {}
        try:
            until = date.fromisoformat(form.get("tr_valid_until", ""))
        except ValueError:
            until = None
            errors["tr_valid_until"] = _("Enter a date.")
        for name in ("person", "training"):
            if not form.get(f"tr_{name}", "").strip():
                errors[f"tr_{name}"] = _("Enter this.")
        if errors or until is None:
            return await resources_page(page, form, errors, status=422)
        sites = await my_sites(page)
        zone = ZoneInfo(sites[0]["timezone"] if sites else "UTC")
        body = {
            "person": form["tr_person"].strip(),
            "training": form["tr_training"].strip(),
            "valid_until": datetime.combine(until, time(23, 59), zone).isoformat(),
        }
        try:
            await page.api.post("/facilities/trainings", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            fields = fields_of(p, "tr_", TRAINING_FIELDS, "tr_person")
            return await resources_page(page, form, fields, {"training": p}, p.status)
        return page.redirect("/facilities/manage/resources?done=training")

    async def usage_docs(page: Page, site_id: str) -> list[dict[str, Any]]:
        """The site's usage documents, page by page along the API's ``Link: rel=next`` (at most MAX_USAGE)."""
        docs: list[dict[str, Any]] = []
        url: str | None = f"/api/v1/facilities/sites/{site_id}/usage?limit={MAX_LIST}"
        while url and len(docs) < MAX_USAGE:
            r = await page.api.call("GET", url)
            docs += r.json()
            url = r.links.get("next", {}).get("url")
            if url and not url.startswith(f"/api/v1/facilities/sites/{site_id}/usage?"):
                url = None  # not this list's next page: stop rather than follow it
        return docs[:MAX_USAGE]

    async def site_usage(page: Page) -> Response:
        site_id = page.request.path_params["site_id"]
        site = await page.api.get(f"/facilities/sites/{site_id}")
        docs = await usage_docs(page, site_id)
        shown, booked, cells = usage_table(docs, USAGE_DAYS)
        listed = await page.api.get("/facilities/resources", {"site_id": site_id, "limit": MAX_LIST})
        names = {r["id"]: r["name"] for r in listed}
        no_shows = await page.api.get(f"/facilities/sites/{site_id}/no-shows", {"limit": MAX_LIST})
        no_shows.sort(key=lambda n: (-n["no_shows"], n["last_start"]))
        return page.render(
            "facilities/usage.html",
            site=site,
            days=shown,
            booked=booked,
            cells=cells,
            names=names,
            no_shows=no_shows,
            max_days=USAGE_DAYS,
        )

    async def usage_svg(page: Page) -> Response:
        site_id = page.request.path_params["site_id"]
        site = await page.api.get(f"/facilities/sites/{site_id}")
        shown, booked, cells = usage_table(await usage_docs(page, site_id), USAGE_DAYS)
        listed = await page.api.get("/facilities/resources", {"site_id": site_id, "limit": MAX_LIST})
        title = page._("Hours booked per day at %(site)s") % {"site": site["name"]}
        labels = [page.fmt.date(f"{d}T12:00:00+00:00", "UTC", "medium") for d in shown]  # the table's words
        body = usage_chart(shown, labels, booked, cells, {r["id"]: r["name"] for r in listed}, title)
        return Response(body, media_type="image/svg+xml", headers={"Content-Security-Policy": SVG_CSP})

    return [
        Route("/facilities/manage/resources", web.page(resources)),
        Route("/facilities/manage/sites", web.page(create_site), methods=["POST"]),
        Route("/facilities/manage/resources", web.page(create_resource), methods=["POST"]),
        Route("/facilities/manage/trainings", web.page(grant_training), methods=["POST"]),
        Route("/facilities/manage/sites/{site_id}", web.page(site_usage)),
        Route("/facilities/manage/sites/{site_id}/usage.svg", web.page(usage_svg)),
    ]
