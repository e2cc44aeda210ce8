"""A council's work: its decisions (a member votes with a reason while one is open; its managers open
one), its dashboard (the four success factors per quarter with their inputs, each a pygal
chart with a table beside it, and the council's activity) and proposing an initiative (with co-sponsoring
councils of this or partner regions, and the growth needs it addresses). Managers close an open decision
(statement, outcome, review date). The council's spotlight: its SMEs' growth needs ranked against the
network's, a pygal chart on the 1-5 scale with its legend and sample sizes, the same figures as a table,
the cells where a need stands out (small cells flagged), and the API's CSV. A meeting's page and what
managers do there are in ``web/pages/council_manage.py``."""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from web.app import Page, Web
from web.charts import chart_style
from web.pages.councils import constituency_names
from web.pages.explorer import FEW_SMES, need_names, spotlight_chart
from web.platform import Problem

INDICATORS = ("sme_university", "cluster_cluster", "cluster_specific", "national_impact")
MAX_LIST = 200
TITLE_MAX = 200
SUMMARY_MAX = 4000


def indicator_words(page: Page) -> dict[str, dict[str, str]]:
    """Each success factor's title, unit and definition in the person's language."""
    _ = page._
    return {
        "sme_university": {
            "title": _("SME ↔ university interactions"),
            "unit": _("interactions per quarter"),
            "definition": _(
                "Engagements completed in the region, bookings by SMEs' people at the region's university "
                "sites, and council meetings attended by both SMEs and universities."
            ),
        },
        "cluster_cluster": {
            "title": _("Cluster ↔ cluster interactions"),
            "unit": _("interactions per quarter"),
            "definition": _(
                "Cross-border initiatives the council launched or co-sponsors (a co-sponsorship once confirmed), "
                "bookings at the region's facilities by people from other regions, and engagements of "
                "candidates from other regions."
            ),
        },
        "cluster_specific": {
            "title": _("Cluster-specific: the region's top needs addressed"),
            "unit": _("challenges per quarter"),
            "definition": _(
                "Challenges posted in the region that an assessment suggested, whose greatest need is one of "
                "the region's three top needs in that quarter."
            ),
        },
        "national_impact": {
            "title": _("National impact (what the platform can see of it)"),
            "unit": _("events per quarter"),
            "definition": _("Initiatives the council completed and council meetings attended by government."),
        },
    }


def input_words(page: Page) -> dict[str, str]:
    """The inputs each success factor adds up, in the person's language."""
    _ = page._
    return {
        "engagements_completed": _("Engagements completed"),
        "sme_bookings_at_university_sites": _("SMEs' bookings at university sites"),
        "meetings_attended_by_smes_and_universities": _("Meetings attended by SMEs and universities"),
        "cross_border_initiatives_launched": _("Cross-border initiatives"),
        "bookings_by_people_from_other_regions": _("Bookings by people from other regions"),
        "engagements_of_candidates_from_other_regions": _("Engagements of candidates from other regions"),
        "challenges_on_top_needs": _("Challenges on the region's top needs"),
        "initiatives_completed": _("Initiatives completed"),
        "meetings_attended_by_government": _("Meetings attended by government"),
    }


def dashboard_chart(indicator: dict[str, Any], words: dict[str, str], inputs: dict[str, str], quarter: str) -> str:
    """One success factor per quarter as stacked bars of its inputs from 0, with a legend (pygal)."""
    import pygal  # here, not at import: pygal installs an import hook without find_spec (ImportWarning later)

    style = chart_style(("#0b4f8a", "#8a5a00", "#1d6b2c"), major_label_font_size=13, legend_font_size=13)
    rows = indicator["by_quarter"]
    most = max((r["value"] for r in rows), default=0)
    bars = pygal.StackedBar(
        style=style,
        title=words["title"],
        x_title=quarter,
        y_title=words["unit"],
        width=720,
        height=380,
        js=[],
        legend_at_bottom=True,
        legend_at_bottom_columns=1,
        truncate_legend=-1,
        range=(0, max(most, 1)),
        min_scale=1,
        max_scale=max(most, 1) if most <= 10 else 10,
        explicit_size=True,
    )
    bars.x_labels = [r["quarter"] for r in rows]
    keys = list(rows[0]["inputs"]) if rows else []
    for key in keys:
        bars.add(inputs.get(key, key), [r["inputs"][key] for r in rows])
    return str(bars.render(is_unicode=True))


async def council_spotlight(page: Page, council: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The mapping spotlight of a council's SMEs and the name they gave it. SMEs name their council in
    free text and the API matches it exactly: by its id first, else (none assessed) by its city, which is
    how the demo's SMEs name theirs; never both added up (an SME naming both would count twice)."""
    spot: dict[str, Any] = {}
    for key in (council["id"], council["city"]):
        spot = dict(await page.api.get("/mapping/spotlight", {"council": key}))
        if spot.get("assessed_smes"):
            return spot, key
    return spot, council["id"]


async def network_cells(page: Page) -> list[dict[str, Any]]:
    """The network's cells (this region's and the partners' as replicated here), each with its sample."""
    return list(await page.api.get("/mapping/cluster-map"))


def routes(web: Web) -> list[Route]:
    async def dashboard_of(page: Page) -> dict[str, Any] | None:
        cid = page.request.path_params["council_id"]
        try:
            return dict(await page.api.get(f"/councils/councils/{cid}/dashboard"))
        except Problem as p:
            if p.status != 404:
                raise
            return None

    async def dashboard(page: Page) -> Response:
        cid = page.request.path_params["council_id"]
        council = await page.api.get(f"/councils/councils/{cid}")
        found = await dashboard_of(page)
        return page.render(
            "councils/dashboard.html",
            council=council,
            d=found,
            words=indicator_words(page),
            inputs=input_words(page),
            constituencies=constituency_names(page),
            needs=need_names(page),
            order=INDICATORS,
            here=f"/councils/{cid}/dashboard",
        )

    async def dashboard_svg(page: Page) -> Response:
        indicator = page.request.path_params["indicator"]
        found = await dashboard_of(page) if indicator in INDICATORS else None
        if found is None:
            return page.render("error.html", 404, message=page._("Page not found."))
        svg = dashboard_chart(
            found["indicators"][indicator], indicator_words(page)[indicator], input_words(page), page._("Quarter")
        )
        return Response(
            svg,
            media_type="image/svg+xml",
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
        )

    async def partners(page: Page, cid: str) -> list[dict[str, str]]:
        """The councils that may co-sponsor: this region's others, and partner regions' (known here)."""
        own = await page.api.get("/councils/councils", {"limit": MAX_LIST})
        network = await page.api.get("/councils/network/councils", {"limit": MAX_LIST})
        out = [{"id": c["id"], "region": c["region"], "name": c["name"]} for c in own if c["id"] != cid]
        out += [
            {"id": c["council_id"], "region": c["region"], "name": c.get("city") or c["council_id"]} for c in network
        ]
        return sorted(out, key=lambda c: (c["region"], c["name"]))

    async def initiative_page(
        page: Page,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problem: Problem | None = None,
        status: int = 200,
    ) -> Response:
        cid = page.request.path_params["council_id"]
        council = await page.api.get(f"/councils/councils/{cid}")
        return page.render(
            "councils/initiative.html",
            status,
            council=council,
            partners=await partners(page, cid),
            needs=need_names(page),
            form=form or {},
            errors=errors or {},
            problem=problem,
            here=f"/councils/{cid}/initiatives/new",
        )

    async def propose(page: Page) -> Response:
        if page.request.method != "POST":
            return await initiative_page(page)
        form = await page.form()
        cid = page.request.path_params["council_id"]
        errors: dict[str, str] = {}
        if not form.get("title", "").strip():
            errors["title"] = page._("Enter a title.")
        if not form.get("summary", "").strip():
            errors["summary"] = page._("Say in a few sentences what the initiative will do.")
        if errors:
            return await initiative_page(page, form, errors, status=422)
        known = {f"{c['region']}|{c['id']}" for c in await partners(page, cid)}
        sponsors = [k for k in form if k.startswith("co_sponsor.") and form[k] == "yes" and k[11:] in known]
        body = {
            "title": form["title"].strip(),
            "summary": form["summary"].strip(),
            "co_sponsors": [
                {"council_id": k[11:].split("|", 1)[1], "region": k[11:].split("|", 1)[0]} for k in sponsors[:10]
            ],
            "needs": [n for n in need_names(page) if form.get(f"need.{n}") == "yes"],
        }
        try:
            made = await page.api.post(f"/councils/councils/{cid}/initiatives", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            fields = {k.split(".")[0]: v for k, v in p.fields.items()}  # co_sponsors.0.council_id -> co_sponsors
            return await initiative_page(page, form, fields, p, status=p.status)
        return page.redirect(f"/councils/{cid}?done=proposed#initiative-{made['id']}")

    async def decisions_page(
        page: Page,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problem: Problem | None = None,
        status: int = 200,
    ) -> Response:
        cid = page.request.path_params["council_id"]
        council = await page.api.get(f"/councils/councils/{cid}")
        found: list[dict[str, Any]] | None
        try:
            found = list(await page.api.get(f"/councils/councils/{cid}/decisions", {"lang": page.lang, "limit": 50}))
        except Problem as p:
            if p.status != 404:
                raise
            found = None  # the council's members and managers read its decisions
        manager = page.session.has("council_secretary", "region_admin") and council["region"] == page.session.who.get(
            "region"
        )
        return page.render(
            "councils/decisions.html",
            status,
            council=council,
            decisions=found,
            manager=manager,
            form=form or {},
            errors=errors or {},
            problem=problem,
            options={"endorse": page._("endorse"), "object": page._("object"), "abstain": page._("abstain")},
            methods={"endorsement": page._("endorsement"), "vote": page._("vote")},
            notice=page.request.query_params.get("done", ""),
            here=f"/councils/{cid}/decisions",
        )

    async def decisions(page: Page) -> Response:
        return await decisions_page(page)

    async def open_decision(page: Page) -> Response:
        form = await page.form()
        cid = page.request.path_params["council_id"]
        if not form.get("title", "").strip():
            return await decisions_page(page, form, {"title": page._("Enter a title.")}, status=422)
        body = {"title": form["title"].strip(), "method": "endorsement"}
        if form.get("description", "").strip():
            body["description"] = form["description"].strip()
        try:
            await page.api.post(f"/councils/councils/{cid}/decisions", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            return await decisions_page(page, form, dict(p.fields), p, p.status)
        return page.redirect(f"/councils/{cid}/decisions?done=opened")

    async def vote(page: Page) -> Response:
        form = await page.form()
        cid, did = page.request.path_params["council_id"], page.request.path_params["decision_id"]
        if not form.get("option"):
            errors = {f"option-{did}": page._("Choose your vote.")}
            return await decisions_page(page, form, errors, status=422)
        body = {"option": form["option"], "reason": form.get("reason", "").strip()[:2000] or None}
        try:
            await page.api.put(f"/councils/councils/{cid}/decisions/{did}/votes/mine", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            fields = {f"{k}-{did}": v for k, v in p.fields.items()}
            return await decisions_page(page, form, fields, p, p.status)
        return page.redirect(f"/councils/{cid}/decisions?done=voted")

    async def close_decision(page: Page) -> Response:
        form = await page.form()
        cid, did = page.request.path_params["council_id"], page.request.path_params["decision_id"]
        errors: dict[str, str] = {}
        if not form.get("statement", "").strip():
            errors[f"statement-{did}"] = page._("Say what the council decided.")
        if not form.get("chosen_option"):
            errors[f"chosen_option-{did}"] = page._("Choose the outcome.")
        review = form.get("review_on", "").strip()
        if review:
            try:
                date.fromisoformat(review)
            except ValueError:
                errors[f"review_on-{did}"] = page._("Enter a date.")
        if errors:
            return await decisions_page(page, form, errors, status=422)
        body = {"statement": form["statement"].strip(), "chosen_option": form["chosen_option"]}
        if review:
            body["review_on"] = review
        try:
            await page.api.post(f"/councils/councils/{cid}/decisions/{did}/close", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            fields = {f"{k}-{did}": v for k, v in p.fields.items()}
            return await decisions_page(page, form, fields, p, p.status)
        return page.redirect(f"/councils/{cid}/decisions?done=closed#d-{did}")

    async def spotlight(page: Page) -> Response:
        cid = page.request.path_params["council_id"]
        council = await page.api.get(f"/councils/councils/{cid}")
        spot, key = await council_spotlight(page, council)
        cells = await network_cells(page)
        sample = {(c["region"], c["sector"]): int(c.get("assessed_smes", 0)) for c in cells}
        return page.render(
            "councils/spotlight.html",
            council=council,
            spot=spot,
            key=key,
            network_n=sum(sample.values()),
            sample=sample,
            small=any(sample.get((c["region"], c["sector"]), 0) < FEW_SMES for c in spot.get("standouts", [])),
            few=FEW_SMES,
            needs=need_names(page),
            here=f"/councils/{cid}/spotlight",
        )

    async def spotlight_svg(page: Page) -> Response:
        cid = page.request.path_params["council_id"]
        council = await page.api.get(f"/councils/councils/{cid}")
        spot, _key = await council_spotlight(page, council)
        network_n = sum(int(c.get("assessed_smes", 0)) for c in await network_cells(page))
        rows = [n for n in spot["needs"] if n.get("mean_maturity") is not None]
        title = page._("Growth needs of %(name)s's SMEs: mean maturity (1-5) beside the network's") % {
            "name": council["name"]
        }
        series = (
            page._("%(name)s (n = %(n)s)") % {"name": council["name"], "n": spot.get("assessed_smes", 0)},
            page._("%(name)s (n = %(n)s)") % {"name": page._("Network"), "n": network_n},
        )
        return Response(
            spotlight_chart(rows, need_names(page), series, title, lambda v: page.fmt.number(v, 1), long_legend=True),
            media_type="image/svg+xml",
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
        )

    async def spotlight_csv(page: Page) -> Response:
        cid = page.request.path_params["council_id"]
        council = await page.api.get(f"/councils/councils/{cid}")
        _spot, key = await council_spotlight(page, council)
        r = await page.api.call("GET", "/mapping/spotlight", params={"council": key, "format": "csv"})
        return Response(
            r.content,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="spotlight-{cid}.csv"'},
        )

    return [
        Route("/councils/{council_id}/spotlight", web.page(spotlight)),
        Route("/councils/{council_id}/spotlight.svg", web.page(spotlight_svg)),
        Route("/councils/{council_id}/spotlight.csv", web.page(spotlight_csv)),
        Route("/councils/{council_id}/decisions", web.page(decisions)),
        Route("/councils/{council_id}/decisions/{decision_id}/close", web.page(close_decision), methods=["POST"]),
        Route("/councils/{council_id}/decisions/open", web.page(open_decision), methods=["POST"]),
        Route("/councils/{council_id}/decisions/{decision_id}/vote", web.page(vote), methods=["POST"]),
        Route("/councils/{council_id}/dashboard", web.page(dashboard)),
        Route("/councils/{council_id}/dashboard/{indicator}.svg", web.page(dashboard_svg)),
        Route("/councils/{council_id}/initiatives/new", web.page(propose), methods=["GET", "POST"]),
    ]
