"""Mobility placements: a person applies (one application each), an organisation's member offers it as a
host, the region's coordinators screen applicants and hosts, ask the allocation engine for suggestions
and propose a placement (objectives, activity plan, 1-4 dated parts); each of the four parties sees its
placements and accepts the current revision of the terms; the applicant and the host report while the
placement is active. Every API problem is shown next to the field it names (``parts.0.weeks``), and a
refusal about the agreement's state is said in words."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from web.app import Page, Web
from web.platform import Problem
from web.settings import LANGUAGES

STAFF = ("region_admin", "council_secretary")  # the region's intermediaries
HOST_MEMBERS = ("sme_member", "facility_manager")
MAX_LIST = 200
MAX_TOPICS = 20
MAX_OBJECTIVES = 10
MAX_PARTS = 4
MAX_TEXT = 4000
MAX_NOTE = 1000
MAX_NAME = 100  # an applicant's name (the API's bound)
TOPIC = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
PARTIES = ("applicant", "host", "sending_intermediary", "host_intermediary")


def party_names(page: Page) -> dict[str, str]:
    _ = page._
    return {
        "applicant": _("Applicant"),
        "host": _("Host organisation"),
        "sending_intermediary": _("Sending intermediary"),
        "host_intermediary": _("Host intermediary"),
    }


def screening_names(page: Page) -> dict[str, str]:
    _ = page._
    return {"submitted": _("Waiting for screening"), "accepted": _("Accepted"), "rejected": _("Not accepted")}


def placement_names(page: Page) -> dict[str, str]:
    _ = page._
    return {
        "proposed": _("Proposed"),
        "agreed": _("Agreed"),
        "active": _("Active"),
        "completed": _("Completed"),
        "ended_early": _("Ended early"),
    }


SIDES = ("", "host", "applicant")  # both, our organisations host, our people are placed


def side_names(page: Page) -> dict[str, str]:
    _ = page._
    return {
        "": _("Both"),
        "host": _("Hosted by this region's organisations"),
        "applicant": _("Taken by this region's people"),
    }


def kind_names(page: Page) -> dict[str, str]:
    _ = page._
    return {
        "sme_staff": _("Working in an SME"),
        "new_entrepreneur": _("New entrepreneur"),
        "sme": _("SME"),
        "institution": _("Institution"),
    }


def topics(raw: str) -> list[str] | None:
    """Topics as written ("lean, export markets") in the API's form (``lean``, ``export_markets``); None when
    one cannot be (a letter first, then letters, digits or _, 40 at most)."""
    out: list[str] = []
    for part in raw.split(","):
        word = "_".join(part.strip().lower().split())
        if not word:
            continue
        if not TOPIC.match(word):
            return None
        if word not in out:
            out.append(word)
    return out


def first_field(p: Problem, known: set[str]) -> dict[str, str]:
    """The API's reasons under the form's fields: ``offers.2`` is the offers field; unknown fields go to the
    problem box only."""
    out: dict[str, str] = {}
    for name, reason in p.fields.items():
        head = name.split(".")[0]
        if head in known:
            out.setdefault(head, reason)
    return out


def routes(web: Web) -> list[Route]:
    def who(page: Page) -> tuple[str, str]:
        return str(page.session.who.get("region") or ""), str(page.session.who.get("org") or "")

    async def many(page: Page, name: str, limit: int) -> list[str]:
        return page.form_values(name)[:limit]

    async def mine(page: Page, path: str) -> dict[str, Any] | None:
        try:
            return dict(await page.api.get(path))
        except Problem as p:
            if p.status == 404:
                return None
            raise

    async def my_host(page: Page) -> dict[str, Any] | None:
        """The host entry of the person's organisation (one per organisation), if any."""
        region, org = who(page)
        if not org or not page.session.has(*HOST_MEMBERS):
            return None
        mine = f"{region}:{org}"
        for status in ("submitted", "accepted", "rejected"):
            params = {"status": status, "limit": MAX_LIST, **({"region": region} if status == "accepted" else {})}
            for h in await page.api.get("/training/hosts", params):
                if h["organisation"] == mine:
                    return dict(h)
        return None

    async def overview(page: Page) -> Response:
        application = await mine(page, "/training/applicants/mine")
        placements = await page.api.get("/training/placements", {"limit": MAX_LIST})
        hosts = await page.api.get("/training/hosts", {"limit": MAX_LIST})
        names = {h["id"]: h["name"] for h in hosts}
        return page.render(
            "training/placements/overview.html",
            application=application,
            host=await my_host(page),
            may_host=page.session.has(*HOST_MEMBERS) and bool(who(page)[1]),
            placements=placements,
            hosts=hosts,
            host_names=names,
            screening=screening_names(page),
            statuses=placement_names(page),
            parties=party_names(page),
            kinds=kind_names(page),
            notice=page.request.query_params.get("done", ""),
            here="/placements",
        )

    def profile(form: dict[str, str], languages: list[str], errors: dict[str, str], page: Page) -> dict[str, Any]:
        """What applicants and hosts both give: topics offered and sought, languages, a statement."""
        _ = page._
        body: dict[str, Any] = {}
        for name in ("offers", "seeks"):
            found = topics(form.get(name, "")[:2000])
            if found is None:
                errors[name] = _("Write topics as words separated by commas, e.g. lean, export markets.")
            elif len(found) > MAX_TOPICS:
                errors[name] = _("Name at most 20 topics.")
            else:
                body[name] = found
        if "seeks" in body and not body["seeks"]:
            errors["seeks"] = _("Name at least one topic.")
        if not languages:
            errors["languages"] = _("Choose at least one language.")
        body["languages"] = [lang for lang in languages if lang in LANGUAGES]
        statement = form.get("statement", "").strip()
        if len(statement) > MAX_TEXT:
            errors["statement"] = _("Write at most 4,000 characters.")
        body["statement"] = statement
        return body

    async def apply_page(
        page: Page, form: dict[str, str], errors: dict[str, str], problem: Problem | None = None, status: int = 200
    ) -> Response:
        return page.render(
            "training/placements/apply.html",
            status,
            form=form,
            chosen=set(form.get("languages", "").split()),
            errors=errors,
            problem=problem,
            kinds=kind_names(page),
            application=await mine(page, "/training/applicants/mine"),
            here="/placements/apply",
        )

    async def apply_form(page: Page) -> Response:
        signed_in_as = str(page.session.who.get("name") or "")[:MAX_NAME]  # offered, the person may change it
        return await apply_page(page, {"languages": page.lang, "name": signed_in_as}, {})

    async def apply(page: Page) -> Response:
        form = await page.form()
        languages = await many(page, "languages", 6)
        form["languages"] = " ".join(languages)
        _ = page._
        errors: dict[str, str] = {}
        body = profile(form, languages, errors, page)
        if form.get("kind") not in ("sme_staff", "new_entrepreneur"):
            errors["kind"] = _("Choose what describes you.")
        body["kind"] = form.get("kind")
        name = form.get("name", "").strip()
        if len(name) > MAX_NAME:
            errors["name"] = _("A name is at most 100 characters.")
        elif name:
            body["name"] = name
        if form.get("business_started"):
            try:
                body["business_started"] = date.fromisoformat(form["business_started"]).isoformat()
            except ValueError:
                errors["business_started"] = _("Enter a date.")
        if errors:
            return await apply_page(page, form, errors, status=422)
        try:
            await page.api.post("/training/applicants", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            if p.status == 409:
                p.detail = _("You have applied already: one application each.")
            known = {"kind", "name", "business_started", "offers", "seeks", "languages", "statement"}
            return await apply_page(page, form, first_field(p, known), p, p.status)
        return page.redirect("/placements?done=applied")

    async def host_page(
        page: Page, form: dict[str, str], errors: dict[str, str], problem: Problem | None = None, status: int = 200
    ) -> Response:
        return page.render(
            "training/placements/host.html",
            status,
            form=form,
            chosen=set(form.get("languages", "").split()),
            errors=errors,
            problem=problem,
            kinds=kind_names(page),
            may_host=page.session.has(*HOST_MEMBERS) and bool(who(page)[1]),
            host=await my_host(page),
            here="/placements/host",
        )

    async def host_form(page: Page) -> Response:
        return await host_page(page, {"languages": page.lang, "name": who(page)[1], "places": "1"}, {})

    async def register_host(page: Page) -> Response:
        form = await page.form()
        languages = await many(page, "languages", 6)
        form["languages"] = " ".join(languages)
        _ = page._
        errors: dict[str, str] = {}
        body = profile(form, languages, errors, page)
        name = form.get("name", "").strip()
        if not name:
            errors["name"] = _("Give the organisation's name.")
        body["name"] = name[:200]
        if form.get("kind") not in ("sme", "institution"):
            errors["kind"] = _("Choose what kind of organisation it is.")
        body["kind"] = form.get("kind")
        for field in ("years_running", "places"):
            try:
                body[field] = int(form.get(field, "").strip())
            except ValueError:
                errors[field] = _("Enter a whole number.")
        if errors:
            return await host_page(page, form, errors, status=422)
        try:
            await page.api.post("/training/hosts", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            if p.status == 409:
                p.detail = _("Your organisation is registered as a host already.")
            known = {"name", "kind", "years_running", "places", "offers", "seeks", "languages", "statement"}
            return await host_page(page, form, first_field(p, known), p, p.status)
        return page.redirect("/placements?done=host")

    # The coordinators' side ------------------------------------------------------------------------
    def refused(page: Page) -> Response | None:
        if page.session.has(*STAFF):
            return None
        return page.render("error.html", 403, message=page._("These pages are for the region's intermediaries."))

    # The network's placements ------------------------------------------------------------------------------
    async def network_view(page: Page) -> Response:
        """The region's cross-border counts (its intermediaries and analysts) and, for its intermediaries,
        the placements partner regions hold that this region's organisations host or its people take."""
        _ = page._
        if not page.session.has(*STAFF, "analyst"):
            return page.render(
                "error.html", 403, message=_("These pages are for the region's intermediaries and analysts.")
            )
        side = page.request.query_params.get("side", "")
        errors: dict[str, str] = {}
        if side not in SIDES:
            errors["side"] = _("Choose which placements to show.")
        counts = await page.api.get("/training/placements/cross-border")
        partners: list[dict[str, Any]] | None = None
        if page.session.has(*STAFF) and not errors:
            partners = await page.api.get(
                "/training/network/placements", {"limit": MAX_LIST, **({"side": side} if side else {})}
            )
            region = who(page)[0]  # this region's accepted hosts, by name (a partner's are known by id only)
            hosts = await page.api.get("/training/hosts", {"region": region, "limit": MAX_LIST}) if region else []
            ours = {h["id"]: h["name"] for h in hosts}
            for x in partners:
                x["host_name"] = ours.get(x["host_id"]) if x["host_region"] == region else None
        return page.render(
            "training/placements/network.html",
            422 if errors else 200,
            counts=counts,
            rows=[(s, counts[s]) for s in ("proposed", "agreed", "completed", "ended_early")],
            partners=partners,
            side=side if side in SIDES else "",
            sides=side_names(page),
            errors=errors,
            statuses=placement_names(page),
            here="/placements/network",
        )

    async def coordinate_page(
        page: Page,
        suggestions: dict[str, Any] | None = None,
        problem: Problem | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
        mode: str = "stable",
    ) -> Response:
        region, _org = who(page)
        applicants = await page.api.get("/training/applicants", {"limit": MAX_LIST})
        hosts = []
        for state in ("submitted", "accepted", "rejected"):
            params = {"status": state, "limit": MAX_LIST, **({"region": region} if state == "accepted" else {})}
            hosts += await page.api.get("/training/hosts", params)
        names = {h["id"]: h["name"] for h in await page.api.get("/training/hosts", {"limit": MAX_LIST})}
        return page.render(
            "training/placements/coordinate.html",
            status,
            applicants=applicants,
            applicants_by_id={a["id"]: a for a in applicants},
            hosts=hosts,
            host_names=names,
            suggestions=suggestions,
            mode=mode,
            screening=screening_names(page),
            kinds=kind_names(page),
            problem=problem,
            errors=errors or {},
            notice=page.request.query_params.get("done", ""),
            here="/placements/coordinate",
        )

    async def coordinate(page: Page) -> Response:
        if no := refused(page):
            return no
        return await coordinate_page(page)

    async def suggest(page: Page) -> Response:
        if no := refused(page):
            return no
        form = await page.form()
        mode = form.get("mode", "")
        if mode not in ("stable", "optimal"):
            return await coordinate_page(page, errors={"mode": page._("Choose how to match.")}, status=422)
        found = await page.api.post("/training/placements/suggestions", {"mode": mode})
        return await coordinate_page(page, suggestions=found, mode=mode)

    async def screen(page: Page) -> Response:
        if no := refused(page):
            return no
        form = await page.form()
        kind, oid = page.request.path_params["kind"], page.request.path_params["oid"]
        if kind not in ("applicants", "hosts"):
            return page.render("error.html", 404, message=page._("Page not found."))
        note = form.get("note", "").strip()
        if form.get("decision") not in ("accepted", "rejected"):
            return await coordinate_page(page, errors={f"note.{oid}": page._("Choose to accept or not.")}, status=422)
        if len(note) > MAX_NOTE:
            errors = {f"note.{oid}": page._("A note is at most 1,000 characters.")}
            return await coordinate_page(page, errors=errors, status=422)
        try:
            await page.api.post(f"/training/{kind}/{oid}/screening", {"decision": form["decision"], "note": note})
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            return await coordinate_page(page, problem=p, errors={f"note.{oid}": p.detail}, status=p.status)
        return page.redirect(f"/placements/coordinate?done={form['decision']}")

    async def propose_page(
        page: Page, form: dict[str, str], errors: dict[str, str], problem: Problem | None = None, status: int = 200
    ) -> Response:
        applicants = await page.api.get("/training/applicants", {"status": "accepted", "limit": MAX_LIST})
        hosts = await page.api.get("/training/hosts", {"limit": MAX_LIST})
        return page.render(
            "training/placements/propose.html",
            status,
            form=form,
            errors=errors,
            problem=problem,
            applicants=applicants,
            hosts=hosts,
            max_parts=MAX_PARTS,
            here="/placements/propose",
        )

    async def propose_form(page: Page) -> Response:
        if no := refused(page):
            return no
        q = page.request.query_params
        form = {"applicant_id": q.get("applicant_id", "")[:80], "host_id": q.get("host_id", "")[:80]}
        return await propose_page(page, form, {})

    async def propose(page: Page) -> Response:
        if no := refused(page):
            return no
        form = await page.form()
        _ = page._
        errors: dict[str, str] = {}
        for name, said in (("applicant_id", _("Choose the applicant.")), ("host_id", _("Choose the host."))):
            if not form.get(name):
                errors[name] = said
        terms, at_row = read_terms(form, errors, _)
        if errors:
            return await propose_page(page, form, errors, status=422)
        body = {"applicant_id": form["applicant_id"], "host_id": form["host_id"], **terms}
        try:
            made = await page.api.post("/training/placements", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            return await propose_page(page, form, part_fields(p, at_row), p, p.status)
        return page.redirect(f"/placements/{made['id']}?done=proposed")

    # One placement -----------------------------------------------------------------------------------
    async def placement_page(
        page: Page,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problem: Problem | None = None,
        status: int = 200,
    ) -> Response:
        pid = page.request.path_params["placement_id"]
        placement = await page.api.get(f"/training/placements/{pid}")
        applicant = await mine(page, f"/training/applicants/{placement['applicant_id']}")
        host = await mine(page, f"/training/hosts/{placement['host_id']}")
        given = placement["acceptances"]
        mine_open = [p for p in placement["my_parties"] if given.get(p) is None]
        intermediary = bool({"sending_intermediary", "host_intermediary"} & set(placement["my_parties"]))
        may_revise = intermediary and placement["status"] == "proposed"
        if form is None and may_revise:
            form = terms_form(placement["terms"])
        return page.render(
            "training/placements/placement.html",
            status,
            placement=placement,
            applicant=applicant,
            host=host,
            to_accept=mine_open if placement["status"] == "proposed" else [],
            may_report=placement["status"] == "active" and bool({"applicant", "host"} & set(placement["my_parties"])),
            may_revise=may_revise,
            may_close=intermediary and placement["status"] in ("agreed", "active"),
            max_parts=MAX_PARTS,
            form=form or {},
            errors=errors or {},
            problem=problem,
            parties=party_names(page),
            statuses=placement_names(page),
            kinds=kind_names(page),
            notice=page.request.query_params.get("done", ""),
            here=f"/placements/{pid}",
        )

    async def placement_view(page: Page) -> Response:
        return await placement_page(page)

    async def accept(page: Page) -> Response:
        form = await page.form()
        pid = page.request.path_params["placement_id"]
        _ = page._
        party = form.get("party", "")
        try:
            revision = int(form.get("revision", ""))
        except ValueError:
            revision = 0
        if party not in PARTIES or revision < 1:
            return await placement_page(page, errors={"accept": _("Choose the party you accept for.")}, status=422)
        try:
            await page.api.post(f"/training/placements/{pid}/acceptances", {"party": party, "revision": revision})
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            if p.status == 409 and "revision" in p.extra:
                said = _("The terms changed meanwhile (now revision %(n)s): read them again before accepting.") % {
                    "n": p.extra["revision"]
                }
            elif p.status == 409 and "another party" in p.detail:
                said = _("You accepted for another party already: each party accepts through its own person.")
            elif p.status == 409 and "accepted already" in p.detail:
                said = _("This party has accepted already.")
            elif p.status == 409:
                said = _("The placement is no longer waiting for acceptances.")
            elif p.status == 403:
                said = _("You cannot accept for this party.")
            else:
                raise
            p.detail = said
            return await placement_page(page, errors={f"accept.{party}": said}, problem=p, status=p.status)
        return page.redirect(f"/placements/{pid}?done=accepted")

    async def report(page: Page) -> Response:
        form = await page.form()
        pid = page.request.path_params["placement_id"]
        _ = page._
        errors: dict[str, str] = {}
        if form.get("kind") not in ("progress", "final"):
            errors["kind"] = _("Choose the kind of report.")
        text = form.get("text", "").strip()
        if not text:
            errors["text"] = _("Write the report.")
        elif len(text) > MAX_TEXT:
            errors["text"] = _("Write at most 4,000 characters.")
        if errors:
            return await placement_page(page, form, errors, status=422)
        try:
            await page.api.post(f"/training/placements/{pid}/reports", {"kind": form["kind"], "text": text})
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            if p.status == 409:
                p.detail = _("Reports are sent while the placement is active.")
            return await placement_page(page, form, first_field(p, {"kind", "text"}) or {"text": p.detail}, p, p.status)
        return page.redirect(f"/placements/{pid}?done=reported")

    async def revise(page: Page) -> Response:
        form = await page.form()
        pid = page.request.path_params["placement_id"]
        _ = page._
        errors: dict[str, str] = {}
        terms, at_row = read_terms(form, errors, _)
        try:
            revision = int(form.get("revision", ""))
        except ValueError:
            revision = 0
        if errors or revision < 1:
            return await placement_page(page, form, errors, status=422)
        try:
            await page.api.put(f"/training/placements/{pid}/terms", {**terms, "revision": revision})
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            if p.status == 409 and "revision" in p.extra:
                p.detail = _("The terms changed meanwhile (now revision %(n)s): your changes are not saved.") % {
                    "n": p.extra["revision"]
                }
                return await placement_page(page, None, {}, p, p.status)
            if p.status == 409:
                p.detail = _("The terms change only while the placement is proposed.")
            elif p.status == 403:
                p.detail = _("Only the placement's intermediaries change its terms.")
            return await placement_page(page, form, part_fields(p, at_row), p, p.status)
        return page.redirect(f"/placements/{pid}?done=revised")

    async def close(page: Page) -> Response:
        """An intermediary completes the placement (after its last day, both final reports in) or ends it
        early with a reason."""
        form = await page.form()
        pid, action = page.request.path_params["placement_id"], page.request.path_params["action"]
        _ = page._
        if action not in ("complete", "end"):
            return page.render("error.html", 404, message=_("Page not found."))
        reason = form.get("reason", "").strip()
        if action == "end" and not reason:
            return await placement_page(page, form, {"reason": _("Say why the placement ends early.")}, status=422)
        if len(reason) > MAX_NOTE:
            return await placement_page(page, form, {"reason": _("A reason is at most 1,000 characters.")}, status=422)
        try:
            await page.api.post(f"/training/placements/{pid}/{action}", {"reason": reason} if action == "end" else None)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            if p.status == 409 and p.extra.get("missing"):
                names = party_names(page)
                sides = ", ".join(names.get(x, str(x)) for x in p.extra["missing"][:2])
                p.detail = _("A final report is still missing from: %(sides)s.") % {"sides": sides}
            elif p.status == 409 and action == "complete" and "runs until" in p.detail:
                placement = await page.api.get(f"/training/placements/{pid}")
                p.detail = _("The placement runs until %(day)s: it is completed from its last day on.") % {
                    "day": page.fmt.date(placement["terms"]["end"] + "T00:00:00+00:00")
                }
            elif p.status == 409:
                p.detail = _("Only an agreed placement is completed or ended.")
            field = "reason" if action == "end" else "complete"
            return await placement_page(page, form, {field: p.detail}, p, p.status)
        return page.redirect(f"/placements/{pid}?done={'completed' if action == 'complete' else 'ended'}")

    return [
        Route("/placements", web.page(overview)),
        Route("/placements/apply", web.page(apply_form)),
        Route("/placements/apply", web.page(apply), methods=["POST"]),
        Route("/placements/host", web.page(host_form)),
        Route("/placements/host", web.page(register_host), methods=["POST"]),
        Route("/placements/coordinate", web.page(coordinate)),
        Route("/placements/coordinate/suggestions", web.page(suggest), methods=["POST"]),
        Route("/placements/coordinate/{kind}/{oid}/screening", web.page(screen), methods=["POST"]),
        Route("/placements/propose", web.page(propose_form)),
        Route("/placements/propose", web.page(propose), methods=["POST"]),
        Route("/placements/network", web.page(network_view)),
        Route("/placements/{placement_id}", web.page(placement_view)),
        Route("/placements/{placement_id}/accept", web.page(accept), methods=["POST"]),
        Route("/placements/{placement_id}/reports", web.page(report), methods=["POST"]),
        Route("/placements/{placement_id}/terms", web.page(revise), methods=["POST"]),
        Route("/placements/{placement_id}/{action}", web.page(close), methods=["POST"]),
    ]


def read_terms(form: dict[str, str], errors: dict[str, str], _: Any) -> tuple[dict[str, Any], list[int]]:
    """The form's objectives (one a line), activity plan and filled part rows as the API takes them, and the
    form row of each part sent; the reasons per field go into ``errors``."""
    objectives = [line.strip()[:300] for line in form.get("objectives", "")[:5000].splitlines() if line.strip()]
    if not objectives:
        errors["objectives"] = _("Write at least one objective, one a line.")
    elif len(objectives) > MAX_OBJECTIVES:
        errors["objectives"] = _("Write at most 10 objectives.")
    plan = form.get("activity_plan", "").strip()
    if not plan:
        errors["activity_plan"] = _("Describe the activities.")
    elif len(plan) > MAX_TEXT:
        errors["activity_plan"] = _("Write at most 4,000 characters.")
    parts: list[dict[str, Any]] = []
    at_row: list[int] = []
    for i in range(MAX_PARTS):
        start, weeks = form.get(f"parts.{i}.start", "").strip(), form.get(f"parts.{i}.weeks", "").strip()
        if not start and not weeks:
            continue
        part: dict[str, Any] = {}
        try:
            part["start"] = date.fromisoformat(start).isoformat()
        except ValueError:
            errors[f"parts.{i}.start"] = _("Enter a date.")
        try:
            part["weeks"] = int(weeks)
        except ValueError:
            errors[f"parts.{i}.weeks"] = _("Enter a whole number.")
        parts.append(part)
        at_row.append(i)
    if not parts:
        errors["parts"] = _("Give at least one part: its first day and its weeks.")
    return {"objectives": objectives, "activity_plan": plan, "parts": parts}, at_row


def terms_form(terms: dict[str, Any]) -> dict[str, str]:
    """A placement's terms as the form's fields."""
    form = {"objectives": "\n".join(terms["objectives"]), "activity_plan": terms["activity_plan"]}
    for i, part in enumerate(terms["parts"]):
        form |= {f"parts.{i}.start": part["start"], f"parts.{i}.weeks": str(part["weeks"])}
    return form


def part_fields(p: Problem, at_row: list[int]) -> dict[str, str]:
    """The API's reasons under the proposal form's fields: ``parts.1.weeks`` is the part sent second, i.e.
    the form row it came from; ``parts`` (the parts together) at the parts' fieldset."""
    out: dict[str, str] = {}
    for name, reason in p.fields.items():
        bits = name.split(".")
        if bits[0] == "parts" and len(bits) > 1 and bits[1].isdigit() and int(bits[1]) < len(at_row):
            sub = bits[2] if len(bits) > 2 and bits[2] in ("start", "weeks") else "start"
            out.setdefault(f"parts.{at_row[int(bits[1])]}.{sub}", reason)
        elif bits[0] in ("applicant_id", "host_id", "objectives", "activity_plan", "parts"):
            out.setdefault(bits[0], reason)
    return out
