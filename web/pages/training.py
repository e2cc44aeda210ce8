"""Training: the region's module catalogue (sessions, free places), enrolling (a place or the waiting
list), my enrolments (cancel), my credentials, and checking any credential (the public verifier)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from web.app import Page, Web
from web.platform import Problem

MAX_CREDENTIAL = 20_000  # the verifier's own bound
MAX_NAME = 100  # the API's bound on a roster name


def routes(web: Web) -> list[Route]:
    async def catalogue(page: Page, problem: Problem | None = None, status: int = 200) -> Response:
        modules = await page.api.get("/training/modules", {"limit": 200})
        modules.sort(key=lambda m: m["starts"])
        mine = await page.api.get("/training/enrolments/mine", {"limit": 200})
        credentials = await page.api.get("/training/credentials/mine", {"limit": 200})
        statuses = {
            "confirmed": page._("Confirmed"),
            "waitlisted": page._("On the waiting list"),
            "cancelled": page._("Cancelled"),
            "completed": page._("Completed"),
        }
        held = {e["module_id"] for e in mine if e["status"] in ("confirmed", "waitlisted")}
        return page.render(
            "training/catalogue.html",
            status,
            modules=modules,
            mine=mine,
            held=held,
            credentials=credentials,
            statuses=statuses,
            formats={"in_person": page._("In person"), "online": page._("Online"), "blended": page._("Blended")},
            problem=problem,
            notice=page.request.query_params.get("done", ""),
            here="/training",
        )

    async def training(page: Page) -> Response:
        return await catalogue(page)

    async def enrol(page: Page) -> Response:
        form = await page.form()
        name = form.get("display_name", "").strip()[:MAX_NAME]  # the name signed in with, as the page said
        path = f"/training/modules/{page.request.path_params['module_id']}/enrolments"
        try:
            try:
                answer = await page.api.post(path, {"display_name": name} if name else None)
            except Problem as p:  # a name the API refuses (the issuer's, not typed here): enrolled by id
                if p.status != 422 or "display_name" not in p.fields:
                    raise
                answer = await page.api.post(path)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            return await catalogue(page, p, p.status)
        return page.redirect(f"/training?done={answer['status']}")

    async def cancel(page: Page) -> Response:
        await page.form()
        await page.api.post(f"/training/enrolments/{page.request.path_params['enrolment_id']}/cancel")
        return page.redirect("/training?done=cancelled")

    async def verify_page(page: Page) -> Response:
        return page.render("training/verify.html", result=None, form={}, errors={}, here="/training/verify")

    async def verify(page: Page) -> Response:
        form = await page.form()
        text = form.get("credential", "").strip()
        errors: dict[str, str] = {}
        if not text:
            errors["credential"] = page._("Paste the credential (a long text in three parts separated by dots).")
        elif len(text) > MAX_CREDENTIAL:
            errors["credential"] = page._("A credential is at most 20,000 characters.")
        result = None
        if not errors:
            try:
                result = await page.api.post("/training/credentials/verify", {"credential": text})
            except Problem as p:
                if p.status == 401 or p.status >= 500:
                    raise
                errors = p.fields or {"credential": p.detail}
        checks = {
            "signature": page._("Signature"),
            "issuer": page._("Issuer"),
            "type": page._("Type"),
            "expiry": page._("Validity dates"),
            "revocation": page._("Not revoked"),
        }
        return page.render(
            "training/verify.html",
            422 if errors else 200,
            result=result,
            checks=checks,
            form=form,
            errors=errors,
            here="/training/verify",
        )

    return [
        Route("/training", web.page(training)),
        Route("/training/modules/{module_id}/enrol", web.page(enrol), methods=["POST"]),
        Route("/training/enrolments/{enrolment_id}/cancel", web.page(cancel), methods=["POST"]),
        Route("/training/verify", web.page(verify_page)),
        Route("/training/verify", web.page(verify), methods=["POST"]),
    ]
