"""The SME's growth-needs assessment: register the SME, take the assessment (the instrument's latest
version, as the API serves it in the page's language), see the results with a chart and the history of
assessments (dimension names in the page's language, from the same instrument)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from web.app import Page, Web
from web.charts import chart_style
from web.checks import email_ok
from web.platform import Problem

MAX_LIST = 200
SME_FIELDS = (
    "legal_name",
    "nuts3",
    "nace_primary",
    "headcount",
    "turnover_eur",
    "balance_sheet_eur",
    "founded",
    "contact.name",
    "contact.email",
)
NUMBERS = {"headcount": int, "founded": int, "turnover_eur": float, "balance_sheet_eur": float}


def sme_body(form: dict[str, str], region: str, _: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The API's RegisterSME from the form; numbers the form cannot read are named with a reason here."""
    body: dict[str, Any] = {
        "legal_name": form.get("legal_name", "").strip(),
        "country": region[:2],
        "region": region,
        "nuts3": form.get("nuts3", "").strip().upper(),
        "nace_primary": form.get("nace_primary", "").strip().upper(),
        "contact": {"name": form.get("contact.name", "").strip(), "email": form.get("contact.email", "").strip()},
        "consent": {"lawful_basis": "consent", "note": "given in the web client's registration form"},
    }
    errors: dict[str, str] = {}
    for name, kind in NUMBERS.items():
        raw = form.get(name, "").strip().replace(" ", "").replace("\u202f", "")
        try:
            body[name] = kind(raw)
        except ValueError:
            errors[name] = _("Enter a whole number.") if kind is int else _("Enter a number.")
    if not email_ok(body["contact"]["email"]):
        errors["contact.email"] = _("Enter an email address such as name@example.org.")
    if form.get("consent") != "yes":
        errors["consent"] = _("The SME's consent is needed to hold its data.")
    return body, errors


def chart(
    assessment: dict[str, Any], names: dict[str, str], title: str, number: Callable[[float], str] = "{:.1f}".format
) -> str:
    """The scores (1-5) as horizontal bars from 1 on a fixed 1-5 axis, each with its value (pygal), the
    numbers written by ``number`` (the page's locale: a decimal comma in es, it, fr, tr)."""
    import pygal  # here, not at import: pygal installs an import hook without find_spec (ImportWarning later)

    style = chart_style(("#0b4f8a",), major_label_font_size=13, value_font_size=13)
    bars = pygal.HorizontalBar(
        style=style,
        range=(1, 5),
        zero=1,  # bars start at the scale's bottom (1), not at 0
        show_legend=False,
        title=title,
        width=720,
        height=60 + 40 * len(assessment["scores"]),
        js=[],
        print_values=True,
        value_formatter=number,
        y_labels=[1, 2, 3, 4, 5],
        explicit_size=True,
    )
    dims = list(assessment["scores"].items())[::-1]
    bars.x_labels = [names.get(d, d) for d, _ in dims]
    bars.add("", [round(v, 2) for _, v in dims])
    return str(bars.render(is_unicode=True))


def routes(web: Web) -> list[Route]:
    async def smes(page: Page) -> Response:
        found = await page.api.get("/mapping/smes", {"limit": MAX_LIST})
        return page.render("assessment/smes.html", smes=found, registered=page.request.query_params.get("registered"))

    async def register_page(
        page: Page,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problem: Problem | None = None,
        status: int = 200,
    ) -> Response:
        return page.render(
            "assessment/register.html",
            status,
            form=form or {},
            errors=errors or {},
            problem=problem,
            here="/assessment/register",
        )

    async def register_form(page: Page) -> Response:
        return await register_page(page)

    async def register(page: Page) -> Response:
        form = await page.form()
        region = str(page.session.who.get("region") or web.settings.region)
        body, errors = sme_body(form, region, page._)
        if errors:
            return await register_page(page, form, errors, status=422)
        try:
            sme = await page.api.post("/mapping/smes", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            return await register_page(page, form, p.fields, p, status=p.status)
        return page.redirect(f"/assessment/smes/{sme['id']}?registered=1")

    async def instrument(page: Page) -> dict[str, Any]:
        versions = await page.api.get("/mapping/instruments")
        return dict(await page.api.get(f"/mapping/instruments/{versions['latest']}", {"lang": page.lang}))

    async def sme_page(page: Page) -> Response:
        sme_id = page.request.path_params["sme_id"]
        sme = await page.api.get(f"/mapping/smes/{sme_id}")
        history = await page.api.get(f"/mapping/smes/{sme_id}/assessments")
        history.sort(key=lambda a: a["assessed_at"], reverse=True)
        inst = await instrument(page)
        names = {d["id"]: d["name"] for d in inst["dimensions"]}
        return page.render(
            "assessment/sme.html",
            sme=sme,
            history=history,
            latest=history[0] if history else None,
            names=names,
            registered=page.request.query_params.get("registered"),
            assessed=page.request.query_params.get("assessed"),
        )

    async def sme_chart(page: Page) -> Response:
        sme_id = page.request.path_params["sme_id"]
        history = await page.api.get(f"/mapping/smes/{sme_id}/assessments")
        if not history:
            return Response(status_code=404)
        latest = max(history, key=lambda a: a["assessed_at"])
        names = {d["id"]: d["name"] for d in (await instrument(page))["dimensions"]}
        title = page._("Maturity by dimension (1 = not at all, 5 = fully)")
        svg = chart(latest, names, title, lambda v: page.fmt.number(v, 1))
        return Response(
            svg,
            media_type="image/svg+xml",
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
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
        return page.render(
            "assessment/take.html",
            status,
            sme=sme,
            instrument=await instrument(page),
            answers=answers or {},
            errors=errors or {},
            problem=problem,
            here=f"/assessment/smes/{sme_id}/take",
        )

    async def take_form(page: Page) -> Response:
        return await take_page(page)

    async def take(page: Page) -> Response:
        form = await page.form()
        sme_id = page.request.path_params["sme_id"]
        answers = {k.removeprefix("answers."): v for k, v in form.items() if k.startswith("answers.")}
        body = {
            "instrument_version": form.get("instrument_version", ""),
            "answers": {k: int(v) if v.isdigit() else v for k, v in answers.items()},
        }
        try:
            await page.api.post(f"/mapping/smes/{sme_id}/assessments", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            return await take_page(page, answers, p.fields, p, status=p.status)
        return page.redirect(f"/assessment/smes/{sme_id}?assessed=1")

    return [
        Route("/assessment", web.page(smes)),
        Route("/assessment/register", web.page(register_form)),
        Route("/assessment/register", web.page(register), methods=["POST"]),
        Route("/assessment/smes/{sme_id}", web.page(sme_page)),
        Route("/assessment/smes/{sme_id}/chart.svg", web.page(sme_chart)),
        Route("/assessment/smes/{sme_id}/take", web.page(take_form)),
        Route("/assessment/smes/{sme_id}/take", web.page(take), methods=["POST"]),
    ]
