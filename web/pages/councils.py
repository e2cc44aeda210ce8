"""Councils: the councils' public pages (purpose, themes, meetings, initiatives, the iCalendar feed),
applying to join, a secretary deciding the applications and inviting a person, and a member registering
for a meeting."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from web.app import Page, Web
from web.checks import email_ok
from web.pages.explorer import need_names
from web.platform import Problem

CONSTITUENCIES = ("sme", "university", "government", "intermediary", "investor")


def constituency_names(page: Page) -> dict[str, str]:
    _ = page._
    return {
        "sme": _("SMEs"),
        "university": _("Universities"),
        "government": _("Government"),
        "intermediary": _("Intermediaries"),
        "investor": _("Investors"),
    }


def position_names(page: Page) -> dict[str, str]:
    _ = page._
    return {
        "member": _("member"),
        "chair": _("chair"),
        "vice_chair": _("vice-chair"),
        "secretary": _("secretary"),
        "observer": _("observer"),
    }


def routes(web: Web) -> list[Route]:
    async def councils(page: Page) -> Response:
        found = await page.api.get("/councils/councils", {"limit": 200})
        found.sort(key=lambda c: (c["region"] != page.session.who.get("region"), c["region"], c["name"]))
        return page.render("councils/list.html", councils=found)

    async def council_page(
        page: Page,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problem: Problem | None = None,
        status: int = 200,
    ) -> Response:
        cid = page.request.path_params["council_id"]
        council = await page.api.get(f"/councils/councils/{cid}")
        meetings = await page.api.get(f"/councils/councils/{cid}/meetings")
        meetings.sort(key=lambda m: m["start"], reverse=True)
        initiatives = await page.api.get(f"/councils/councils/{cid}/initiatives")
        mine = [r for r in await page.api.get("/councils/requests/mine") if r.get("council_id") == cid]
        pending: list[dict[str, Any]] = []
        manager = page.session.has("council_secretary", "region_admin") and council["region"] == page.session.who.get(
            "region"
        )
        if manager:
            pending = await page.api.get(f"/councils/councils/{cid}/requests", {"status": "pending"})
        q = page.request.query_params
        return page.render(
            "councils/council.html",
            status,
            council=council,
            meetings=meetings,
            initiatives=initiatives,
            mine=mine,
            pending=pending,
            manager=manager,
            constituencies=constituency_names(page),
            positions=position_names(page),
            needs=need_names(page),
            statuses={"held": page._("held"), "cancelled": page._("cancelled")},
            request_statuses={
                "pending": page._("waiting for a decision"),
                "approved": page._("approved: you are a member"),
                "rejected": page._("not approved"),
                "withdrawn": page._("withdrawn"),
                "accepted": page._("accepted: you are a member"),
                "declined": page._("declined"),
                "expired": page._("expired"),
            },
            form=form or {"display_name": page.session.who.get("name", "")},
            errors=errors or {},
            problem=problem,
            notice=q.get("done", ""),
            here=f"/councils/{cid}",
        )

    async def council(page: Page) -> Response:
        return await council_page(page)

    async def apply(page: Page) -> Response:
        form = await page.form()
        cid = page.request.path_params["council_id"]
        errors: dict[str, str] = {}
        if form.get("constituency") not in CONSTITUENCIES:
            errors["constituency"] = page._("Choose the constituency you would represent.")
        if form.get("email", "").strip() and not email_ok(form["email"].strip()):
            errors["email"] = page._("Enter an email address such as name@example.org.")
        if errors:
            return await council_page(page, form, errors, status=422)
        body = {
            "council_id": cid,
            "constituency": form["constituency"],
            "display_name": form.get("display_name", "").strip(),
            "email": form.get("email", "").strip() or None,
            "motivation": form.get("motivation", "").strip() or None,
        }
        try:
            await page.api.post("/councils/applications", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            return await council_page(page, form, p.fields, p, status=p.status)
        return page.redirect(f"/councils/{cid}?done=applied")

    async def invite(page: Page) -> Response:
        """A manager invites a person by platform id; the fields are ``invite.*`` on the council's page."""
        form = await page.form()
        cid = page.request.path_params["council_id"]
        errors: dict[str, str] = {}
        if not form.get("invite.person", "").strip():
            errors["invite.person"] = page._("Enter the person's platform id, such as p-3f2a….")
        if not form.get("invite.display_name", "").strip():
            errors["invite.display_name"] = page._("Enter the name the council shows.")
        if form.get("invite.constituency") not in CONSTITUENCIES:
            errors["invite.constituency"] = page._("Choose the constituency the person would represent.")
        email = form.get("invite.email", "").strip()
        if email and not email_ok(email):
            errors["invite.email"] = page._("Enter an email address such as name@example.org.")
        if errors:
            return await council_page(page, form, errors, status=422)
        body = {
            "person": form["invite.person"].strip(),
            "display_name": form["invite.display_name"].strip(),
            "constituency": form["invite.constituency"],
            "position": form.get("invite.position") or "member",
            "email": email or None,
        }
        try:
            await page.api.post(f"/councils/councils/{cid}/invitations", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            return await council_page(page, form, {f"invite.{k}": v for k, v in p.fields.items()}, p, p.status)
        return page.redirect(f"/councils/{cid}?done=invited#invite-title")

    async def decide(page: Page) -> Response:
        await page.form()
        cid, rid, action = (page.request.path_params[k] for k in ("council_id", "request_id", "action"))
        if action not in ("approve", "reject"):
            return page.render("error.html", 404, message=page._("Page not found."))
        await page.api.post(f"/councils/councils/{cid}/requests/{rid}/{action}", {})
        return page.redirect(f"/councils/{cid}?done={action}")

    async def register(page: Page) -> Response:
        await page.form()
        cid, mid = page.request.path_params["council_id"], page.request.path_params["meeting_id"]
        try:
            answer = await page.api.post(f"/councils/councils/{cid}/meetings/{mid}/registrations")
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            return await council_page(page, problem=p, status=p.status)
        status = answer.get("registration", {}).get("status")
        return page.redirect(f"/councils/{cid}?done={'waitlisted' if status == 'waitlisted' else 'registered'}")

    async def calendar(page: Page) -> Response:
        cid = page.request.path_params["council_id"]
        r = await page.api.call("GET", f"/councils/councils/{cid}/calendar.ics")
        return Response(
            r.content,
            media_type="text/calendar",
            headers={"Content-Disposition": f'attachment; filename="{cid}.ics"'},
        )

    return [
        Route("/councils", web.page(councils)),
        Route("/councils/{council_id}", web.page(council)),
        Route("/councils/{council_id}/apply", web.page(apply), methods=["POST"]),
        Route("/councils/{council_id}/invite", web.page(invite), methods=["POST"]),
        Route("/councils/{council_id}/calendar.ics", web.page(calendar)),
        Route("/councils/{council_id}/requests/{request_id}/{action}", web.page(decide), methods=["POST"]),
        Route("/councils/{council_id}/meetings/{meeting_id}/register", web.page(register), methods=["POST"]),
    ]
