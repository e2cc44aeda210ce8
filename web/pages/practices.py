"""Training for an SME: the management-practice self-assessment (the training API's ``wms`` instrument,
18 practices answered 1-5), its results with a chart, the peer benchmark under the API's disclosure
control (a group passed over says why, a withheld statistic says why), the growth action plan (made from
a baseline, viewed, edited with the plan's ETag) and the re-assessment against its baseline. The
instrument's texts (areas, practices, anchors) are the API's in the page's language."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from web.app import Page, Web
from web.charts import chart_style
from web.pages.assessment import chart
from web.platform import Problem

INSTRUMENT = "wms"
MAX_LIST = 200


def level_names(page: Page) -> dict[str, str]:
    return {
        "division_region_size": page._("SMEs of the same NACE division, region and size"),
        "section_region_size": page._("SMEs of the same NACE section, region and size"),
        "section_country_size": page._("SMEs of the same NACE section, country and size"),
        "council": page._("SMEs of the same council"),
        "network": page._("Every SME of the network"),
    }


def why_words(page: Page, why: str) -> tuple[str, bool]:
    """The API's reason for withholding, in the person's language when it is one of the reasons the
    disclosure rules give (with its number), else the API's own words; and whether it was translated."""
    n = re.search(r"\d+", why)
    k = n.group(0) if n else ""
    patterns = (
        (r"^no release yet", page._("no figures released yet (contributions of %(n)s organisations make one)")),
        (r"^fewer than \d+ firms$", page._("fewer than %(n)s firms")),
        (r"^fewer than \d+ organisations$", page._("fewer than %(n)s organisations")),
        (r"^fewer than \d+ peers$", page._("fewer than %(n)s peers once your own organisation is left out")),
        (r"^fewer than \d+ organisations among the peers$", page._("fewer than %(n)s organisations among the peers")),
        (r"more than half", page._("one organisation has more than half of its firms")),
        (r"differencing", page._("showing it would let its firms be worked out from other groups (differencing)")),
        (r"no statistic is shown$", page._("fewer than %(n)s peers or their organisations: no statistic is shown")),
        (r"no quartiles", page._("fewer than %(n)s peers or their organisations: no quartiles")),
    )
    for pattern, words in patterns:
        if re.search(pattern, why):
            return words.replace("%(n)s", k), True
    return why, False


def comparison_chart(
    comparison: dict[str, Any], names: dict[str, str], words: dict[str, str], number: Callable[[float], str]
) -> str:
    """A re-assessment against its baseline as grouped horizontal bars on the fixed 1-5 axis (pygal): per
    practice, named in the page's language, the baseline, now and the plan's target (where it set one),
    with a legend; ``words`` are the page's title and series names, ``number`` writes the page's numbers."""
    import pygal  # here, not at import (see web.pages.assessment.chart)

    style = chart_style(
        ("#767676", "#0b4f8a", "#b35900"), major_label_font_size=13, legend_font_size=13, value_font_size=12
    )
    rows = comparison["practices"][::-1]
    bars = pygal.HorizontalBar(
        style=style,
        range=(1, 5),
        zero=1,
        title=words["title"],
        legend_at_bottom=True,
        width=720,
        height=120 + 66 * len(rows),
        js=[],
        print_values=True,
        value_formatter=number,
        y_labels=[1, 2, 3, 4, 5],
        explicit_size=True,
    )
    bars.x_labels = [names.get(r["practice"], r["practice"]) for r in rows]
    bars.add(words["baseline"], [r["baseline"] for r in rows])
    bars.add(words["now"], [r["current"] for r in rows])
    bars.add(words["target"], [r["target"] for r in rows])  # None: no target, no bar
    return str(bars.render(is_unicode=True))


def routes(web: Web) -> list[Route]:
    async def instrument(page: Page) -> dict[str, Any]:
        listed = await page.api.get("/training/instruments")
        latest = next(i for i in listed if i["id"] == INSTRUMENT)["versions"][-1]
        return dict(await page.api.get(f"/training/instruments/{INSTRUMENT}/{latest}", {"lang": page.lang}))

    async def instrument_of(page: Page, thing: dict[str, Any]) -> dict[str, Any]:
        """The instrument version an assessment or a plan was made with."""
        path = f"/training/instruments/{thing['instrument']}/{thing['instrument_version']}"
        return dict(await page.api.get(path, {"lang": page.lang}))

    def practice_names(inst: dict[str, Any]) -> dict[str, str]:
        return {p["id"]: p["name"] for a in inst["areas"] for p in a["practices"]}

    async def overview(page: Page) -> Response:
        smes = await page.api.get("/mapping/smes", {"limit": MAX_LIST})
        done = await page.api.get("/training/assessments", {"limit": MAX_LIST})
        plans = await page.api.get("/training/plans", {"limit": MAX_LIST})
        by_sme: dict[str, list[dict[str, Any]]] = {}
        for a in sorted(done, key=lambda a: a["assessed_at"], reverse=True):
            by_sme.setdefault(a["sme_id"], []).append(a)
        return page.render(
            "training/practices.html",
            smes=smes,
            by_sme=by_sme,
            plans=plans,
            here="/training/practices",
        )

    async def take_page(
        page: Page,
        answers: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problem: Problem | None = None,
        status: int = 200,
    ) -> Response:
        sme_id = page.request.path_params["sme_id"]
        sme = await page.api.get(f"/mapping/smes/{sme_id}")
        previous = page.request.query_params.get("previous", "")[:80]
        return page.render(
            "training/practice_take.html",
            status,
            sme=sme,
            instrument=await instrument(page),
            previous=previous,
            answers=answers or {},
            errors=errors or {},
            problem=problem,
            here=f"/training/practices/{sme_id}/take",
        )

    async def take_form(page: Page) -> Response:
        return await take_page(page)

    async def take(page: Page) -> Response:
        form = await page.form()
        sme_id = page.request.path_params["sme_id"]
        answers = {k.removeprefix("answers."): v for k, v in form.items() if k.startswith("answers.")}
        body: dict[str, Any] = {
            "sme_id": sme_id,
            "instrument": INSTRUMENT,
            "instrument_version": form.get("instrument_version", "") or None,
            "answers": {k: int(v) if v.isdigit() else v for k, v in answers.items()},
        }
        if form.get("previous"):
            body["previous_assessment_id"] = form["previous"]
        try:
            made = await page.api.post("/training/assessments", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            return await take_page(page, answers, p.fields, p, status=p.status)
        return page.redirect(f"/training/practices/assessments/{made['id']}?done=assessed")

    async def result(page: Page, problem: Problem | None = None, status: int = 200) -> Response:
        aid = page.request.path_params["assessment_id"]
        assessment = await page.api.get(f"/training/assessments/{aid}")
        inst = await instrument_of(page, assessment)
        bench = await page.api.get(f"/training/assessments/{aid}/benchmark")
        comparison = None
        if assessment["previous_assessment_id"]:
            comparison = await page.api.get(f"/training/assessments/{aid}/comparison")
        plans = await page.api.get("/training/plans", {"sme_id": assessment["sme_id"], "limit": MAX_LIST})
        plan = next((p for p in plans if p["assessment_id"] == aid), None)
        names = level_names(page)
        passed_over = [
            (names.get(t["level"], t["level"]), t["n"], *why_words(page, t["why_not"]))
            for t in bench.get("passed_over", [])
        ]
        withheld = {}
        for key, stat in [("overall", bench.get("overall") or {}), *(bench.get("practices") or {}).items()]:
            if stat.get("withheld"):
                withheld[key] = why_words(page, stat["withheld"])
        return page.render(
            "training/practice_result.html",
            status,
            assessment=assessment,
            instrument=inst,
            names=practice_names(inst),
            bench=bench,
            group=names.get((bench.get("group") or {}).get("level", ""), ""),
            passed_over=passed_over,
            withheld=withheld,
            bands={
                "below Q1": page._("below the lower quartile"),
                "Q1 to median": page._("between the lower quartile and the median"),
                "median to Q3": page._("between the median and the upper quartile"),
                "Q3 and above": page._("in the upper quartile"),
            },
            comparison=comparison,
            plan=plan,
            problem=problem,
            notice=page.request.query_params.get("done", ""),
            here=f"/training/practices/assessments/{aid}",
        )

    async def result_page(page: Page) -> Response:
        return await result(page)

    async def result_chart(page: Page) -> Response:
        aid = page.request.path_params["assessment_id"]
        assessment = await page.api.get(f"/training/assessments/{aid}")
        inst = await instrument_of(page, assessment)
        title = page._("Management practices (1 = weakest, 5 = best practice)")
        svg = chart(assessment, practice_names(inst), title, lambda v: page.fmt.number(v, 1))
        return Response(
            svg,
            media_type="image/svg+xml",
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
        )

    async def comparison_svg(page: Page) -> Response:
        """The re-assessment's comparison drawn here, its practices named from the translated instrument (the
        API's comparison.svg names them by id, in English)."""
        aid = page.request.path_params["assessment_id"]
        assessment = await page.api.get(f"/training/assessments/{aid}")
        inst = await instrument_of(page, assessment)
        comparison = await page.api.get(f"/training/assessments/{aid}/comparison")
        words = {
            "title": page._("Against the baseline"),
            "baseline": page._("Baseline"),
            "now": page._("Now"),
            "target": page._("Target"),
        }
        svg = comparison_chart(comparison, practice_names(inst), words, lambda v: page.fmt.number(v, 1))
        return Response(
            svg,
            media_type="image/svg+xml",
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
        )

    async def make_plan(page: Page) -> Response:
        await page.form()
        aid = page.request.path_params["assessment_id"]
        try:
            plan = await page.api.post("/training/plans", {"assessment_id": aid})
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            return await result(page, p, p.status)
        return page.redirect(f"/training/plans/{plan['id']}?done=created")

    async def plan_page(
        page: Page,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problem: Problem | None = None,
        status: int = 200,
    ) -> Response:
        pid = page.request.path_params["plan_id"]
        plan, etag = await page.api.get_tagged(f"/training/plans/{pid}")
        inst = await instrument_of(page, plan)
        if form is None:
            form = {"due": plan["due"], "etag": etag}
            for i, f in enumerate(plan["focus_areas"]):
                form |= {f"focus_areas.{i}.practice": f["practice"], f"focus_areas.{i}.target": str(f["target"])}
                form[f"focus_areas.{i}.due"] = f["due"]
        return page.render(
            "training/plan.html",
            status,
            plan=plan,
            names=practice_names(inst),
            names_lang=inst["lang"],
            form=form,
            errors=errors or {},
            problem=problem,
            notice=page.request.query_params.get("done", ""),
            here=f"/training/plans/{pid}",
        )

    async def plan_view(page: Page) -> Response:
        return await plan_page(page)

    async def plan_edit(page: Page) -> Response:
        form = await page.form()
        pid = page.request.path_params["plan_id"]
        areas: list[dict[str, Any]] = []
        errors: dict[str, str] = {}
        for i in range(3):
            practice = form.get(f"focus_areas.{i}.practice", "")
            if not practice:
                continue
            area: dict[str, Any] = {"practice": practice}
            raw = form.get(f"focus_areas.{i}.target", "").strip().replace(",", ".")
            try:
                area["target"] = float(raw)
            except ValueError:
                errors[f"focus_areas.{i}.target"] = page._("Enter a number.")
            if form.get(f"focus_areas.{i}.due"):
                area["due"] = form[f"focus_areas.{i}.due"]
            areas.append(area)
        if not areas:
            errors["focus_areas.0.practice"] = page._("Choose at least one practice to work on.")
        if errors:
            return await plan_page(page, form, errors, status=422)
        body: dict[str, Any] = {"focus_areas": areas}
        if form.get("due"):
            body["due"] = form["due"]
        try:
            await page.api.patch(f"/training/plans/{pid}", body, form.get("etag", ""))
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            if p.status in (409, 412, 428):  # changed meanwhile: the page shows the plan as it is now
                return await plan_page(page, None, {}, p, status=p.status)
            return await plan_page(page, form, p.fields, p, status=p.status)
        return page.redirect(f"/training/plans/{pid}?done=saved")

    return [
        Route("/training/practices", web.page(overview)),
        Route("/training/practices/{sme_id}/take", web.page(take_form)),
        Route("/training/practices/{sme_id}/take", web.page(take), methods=["POST"]),
        Route("/training/practices/assessments/{assessment_id}", web.page(result_page)),
        Route("/training/practices/assessments/{assessment_id}/chart.svg", web.page(result_chart)),
        Route("/training/practices/assessments/{assessment_id}/comparison.svg", web.page(comparison_svg)),
        Route("/training/practices/assessments/{assessment_id}/plan", web.page(make_plan), methods=["POST"]),
        Route("/training/plans/{plan_id}", web.page(plan_view)),
        Route("/training/plans/{plan_id}", web.page(plan_edit), methods=["POST"]),
    ]
