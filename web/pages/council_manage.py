"""A council's meetings as its managers run them (``council_secretary`` and ``region_admin`` of the council's
region): scheduling one (mode, place, IANA time zone, times in that zone, seats, agenda), and on a meeting's
page cancelling it with a reason, checking members in (from 60 minutes before the start), drafting the
minutes and closing it (minutes, decisions taken, action items with an owner among the active members and a
due date). The meeting's page itself (agenda, attendance and quorum, minutes and decisions, for everyone as
the API shows them) is here too. Each API problem is shown next to the field it names."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.responses import Response
from starlette.routing import Route

from web.app import Page, Web
from web.pages.councils import constituency_names
from web.pages.explorer import need_names
from web.platform import Problem

MODES = ("in_person", "online", "hybrid")
MAX_DECISIONS = 20  # decisions shown with a held meeting
MAX_AGENDA = 50  # the API's bound on agenda items
ACTION_ROWS = 3  # action-item rows on the closing form
CHECK_IN_FROM = timedelta(minutes=60)  # the API opens check-in this long before the start
MAX_LIST = 200
MILESTONE_ROWS = 2  # blank milestone rows on the progress form, after the initiative's own
KPI_ROWS = 1  # blank KPI rows likewise
MAX_MILESTONES, MAX_KPIS = 50, 30  # the API's bounds
AGAINST = ("object", "no")  # the options that count against a launch (the API's rule, said in words here)


def is_manager(page: Page, council: dict[str, Any]) -> bool:
    """The region's council secretaries and administrators manage every council of their region."""
    return page.session.has("council_secretary", "region_admin") and council["region"] == page.session.who.get("region")


def zone_of(name: str) -> ZoneInfo | None:
    """The IANA time zone of that name, or None when there is none."""
    if not name or len(name) > 64 or name.startswith("/") or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def meeting_fields(page: Page, form: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The scheduling form as the API's request (times in the meeting's zone, with their offset), or the
    reasons per field for what the API could not even be asked."""
    _ = page._
    errors: dict[str, str] = {}
    if not form.get("title", "").strip():
        errors["title"] = _("Enter a title.")
    if form.get("mode") not in MODES:
        errors["mode"] = _("Choose how the meeting is held.")
    zone = zone_of(form.get("timezone", "").strip())
    if zone is None:
        errors["timezone"] = _("Enter an IANA time zone such as Europe/Dublin.")
    day: date | None = None
    try:
        day = date.fromisoformat(form.get("day", ""))
    except ValueError:
        errors["day"] = _("Enter a date.")
    times: dict[str, time] = {}
    for name in ("start", "end"):
        try:
            times[name] = time.fromisoformat(form.get(name, ""))
        except ValueError:
            errors[name] = _("Enter a time as hours and minutes.")
    seats = form.get("seats", "").strip()
    if not (seats.isdigit() and len(seats) <= 4):
        errors["seats"] = _("Enter the number of seats as a whole number.")
    agenda = [line.strip() for line in form.get("agenda", "").splitlines() if line.strip()]
    if len(agenda) > MAX_AGENDA:
        errors["agenda"] = page.ngettext("At most %(n)s item.", "At most %(n)s items.", MAX_AGENDA)
    if errors or day is None or zone is None:
        return {}, errors
    body: dict[str, Any] = {
        "title": form["title"].strip(),
        "mode": form["mode"],
        "timezone": form["timezone"].strip(),
        "start": datetime.combine(day, times["start"], zone).isoformat(),
        "end": datetime.combine(day, times["end"], zone).isoformat(),
        "seats": int(seats),
        "agenda": [{"title": t} for t in agenda],
    }
    if form.get("place", "").strip():
        body["place"] = form["place"].strip()
    return body, {}


def api_fields(p: Problem) -> dict[str, str]:
    """The API's reasons keyed as the forms name their fields: an agenda item's reason goes to the agenda."""
    out: dict[str, str] = {}
    for k, v in p.fields.items():
        out.setdefault("agenda" if k.startswith("agenda.") else k, v)
    return out


def action_items(page: Page, form: dict[str, str]) -> tuple[list[dict[str, str]], list[int], dict[str, str]]:
    """The closing form's filled rows of action items, each row's index on the form, and the reasons for
    half-filled rows (an empty row is left out)."""
    _ = page._
    items: list[dict[str, str]] = []
    rows: list[int] = []
    errors: dict[str, str] = {}
    for i in range(ACTION_ROWS):
        title, owner = form.get(f"action_items.{i}.title", "").strip(), form.get(f"action_items.{i}.owner", "")
        due = form.get(f"action_items.{i}.due_on", "").strip()
        if not (title or owner or due):
            continue
        if not title:
            errors[f"action_items.{i}.title"] = _("Enter what is to be done.")
        if not owner:
            errors[f"action_items.{i}.owner"] = _("Choose who does it.")
        try:
            date.fromisoformat(due)
        except ValueError:
            errors[f"action_items.{i}.due_on"] = _("Enter a date.")
        items.append({"title": title, "owner": owner, "due_on": due})
        rows.append(i)
    return items, rows, errors


def launch_refusal(page: Page, decision: dict[str, Any]) -> str:
    """Why a closed decision's tally does not launch an initiative, in the person's words, from the
    decision's own tally and outcome."""
    tally: dict[str, int] = decision.get("tally") or {}
    if sum(tally.values()) == 0:
        return page._("The decision was closed without a single vote, so it cannot launch the initiative.")
    chosen = str((decision.get("outcome") or {}).get("chosen_option", ""))
    support, against = tally.get(chosen, 0), sum(n for o, n in tally.items() if o in AGAINST)
    return page._(
        "The decision's tally does not support the launch: %(support)s for, %(against)s against "
        "(it needs more votes for than against)."
    ) % {"support": support, "against": against}


def progress_body(page: Page, form: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The progress form as the API's request (filled rows only: a milestone needs its title and date, a
    KPI its key, unit and target), or the reasons per field."""
    _ = page._
    errors: dict[str, str] = {}
    raw = form.get("progress", "").strip()
    if not (raw.isdigit() and int(raw) <= 100):
        errors["progress"] = _("Enter a whole number from 0 to 100.")
    milestones: list[dict[str, Any]] = []
    for i in range(MAX_MILESTONES):
        title, due = form.get(f"milestones.{i}.title", "").strip(), form.get(f"milestones.{i}.due_on", "").strip()
        if f"milestones.{i}.title" not in form:
            break
        if not (title or due):
            continue
        if not title:
            errors[f"milestones.{i}.title"] = _("Enter a title.")
        try:
            date.fromisoformat(due)
        except ValueError:
            errors[f"milestones.{i}.due_on"] = _("Enter a date.")
        milestones.append({"title": title, "due_on": due, "done": form.get(f"milestones.{i}.done") == "yes"})
    kpis: list[dict[str, Any]] = []
    for i in range(MAX_KPIS):
        if f"kpis.{i}.key" not in form:
            break
        row = {k: form.get(f"kpis.{i}.{k}", "").strip() for k in ("key", "unit", "target", "value")}
        if not any(row.values()):
            continue
        for k in ("key", "unit"):
            if not row[k]:
                errors[f"kpis.{i}.{k}"] = (
                    _("Enter a short key such as jobs_created.") if k == "key" else _("Enter a unit.")
                )
        numbers: dict[str, float | None] = {}
        for k in ("target", "value"):
            try:
                numbers[k] = float(row[k].replace(",", ".")) if row[k] else None
            except ValueError:
                errors[f"kpis.{i}.{k}"] = _("Enter a number.")
        if numbers.get("target") is None and f"kpis.{i}.target" not in errors:
            errors[f"kpis.{i}.target"] = _("Enter a number.")
        kpis.append(
            {"key": row["key"], "unit": row["unit"], "target": numbers.get("target"), "value": numbers.get("value")}
        )
    if errors:
        return {}, errors
    return {"progress": int(raw), "milestones": milestones, "kpis": kpis}, {}


def routes(web: Web) -> list[Route]:
    async def members_of(page: Page, cid: str) -> list[dict[str, Any]]:
        found = await page.api.get(f"/councils/councils/{cid}/members", {"limit": MAX_LIST})
        return sorted(found, key=lambda x: ((x.get("display_name") or x["person"]).casefold(), x["person"]))

    async def meeting_page(
        page: Page,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problem: Problem | None = None,
        status: int = 200,
        said: str = "",
    ) -> Response:
        cid, mid = page.request.path_params["council_id"], page.request.path_params["meeting_id"]
        council = await page.api.get(f"/councils/councils/{cid}")
        m = await page.api.get(f"/councils/councils/{cid}/meetings/{mid}")
        decisions: list[dict[str, Any]] = []
        hidden = False
        for did in m["decisions"][:MAX_DECISIONS]:
            try:
                decisions.append(await page.api.get(f"/councils/councils/{cid}/decisions/{did}", {"lang": page.lang}))
            except Problem as p:
                if p.status != 404:
                    raise
                hidden = True  # the council's members and managers read its decisions
        manager = is_manager(page, council)
        members: list[dict[str, Any]] = []
        council_decisions: list[dict[str, Any]] = []
        if manager and m["status"] == "scheduled":
            members = await members_of(page, cid)
            council_decisions = await page.api.get(
                f"/councils/councils/{cid}/decisions", {"lang": page.lang, "limit": 50}
            )
        private = m.get("private") or {}
        attending = {a["person"] for a in private.get("attendance", [])}
        start = datetime.fromisoformat(m["start"].replace("Z", "+00:00"))
        defaults = {"minutes": private.get("draft_minutes") or ""}
        defaults |= {f"decision.{d['id']}": "yes" for d in council_decisions if d.get("meeting_id") == mid}
        return page.render(
            "councils/meeting.html",
            status,
            council=council,
            m=m,
            decisions=decisions,
            hidden=hidden,
            manager=manager,
            members=members,
            names={x["person"]: x.get("display_name") or x["person"] for x in members},
            absent=[x for x in members if x["person"] not in attending],
            council_decisions=council_decisions,
            check_in_opens=(start - CHECK_IN_FROM).isoformat(),
            rows=range(ACTION_ROWS),
            form=defaults | (form or {}),
            errors=errors or {},
            problem=problem,
            said=said,
            notice=page.request.query_params.get("done", ""),
            constituencies=constituency_names(page),
            modes={"in_person": page._("in person"), "online": page._("online"), "hybrid": page._("hybrid")},
            statuses={
                "scheduled": page._("scheduled"),
                "held": page._("held"),
                "cancelled": page._("cancelled"),
            },
            methods={"endorsement": page._("endorsement"), "vote": page._("vote")},
            options={"endorse": page._("endorse"), "object": page._("object"), "abstain": page._("abstain")},
            item_statuses={"open": page._("open"), "done": page._("done"), "dropped": page._("dropped")},
            registration_statuses={
                "registered": page._("a seat"),
                "waitlisted": page._("on the waiting list"),
                "lapsed": page._("lapsed: no longer a member"),
            },
            here=f"/councils/{cid}/meetings/{mid}",
        )

    async def meeting(page: Page) -> Response:
        return await meeting_page(page)

    def done(page: Page, what: str) -> Response:
        cid, mid = page.request.path_params["council_id"], page.request.path_params["meeting_id"]
        return page.redirect(f"/councils/{cid}/meetings/{mid}?done={what}")

    async def refused(
        page: Page, p: Problem, form: dict[str, str], errors: dict[str, str] | None = None, said: str = ""
    ) -> Response:
        """The meeting's page again with the API's refusal: its reasons next to their fields, or ``said``
        (the page's own words for a refusal it knows) in place of the API's English detail."""
        if p.status == 401 or p.status >= 500:
            raise p
        return await meeting_page(page, form, errors if errors is not None else api_fields(p), p, p.status, said)

    async def schedule_page(
        page: Page,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problem: Problem | None = None,
        status: int = 200,
    ) -> Response:
        cid = page.request.path_params["council_id"]
        council = await page.api.get(f"/councils/councils/{cid}")
        if not is_manager(page, council):
            return page.render("error.html", 403, message=page._("Only the council's managers schedule meetings."))
        if form is None:
            past = await page.api.get(f"/councils/councils/{cid}/meetings", {"limit": 1})
            form = {"timezone": past[0]["timezone"] if past else "", "mode": "in_person", "seats": "20"}
        return page.render(
            "councils/schedule.html",
            status,
            council=council,
            form=form,
            errors=errors or {},
            problem=problem,
            modes={"in_person": page._("in person"), "online": page._("online"), "hybrid": page._("hybrid")},
            here=f"/councils/{cid}/meetings/new",
        )

    async def schedule(page: Page) -> Response:
        if page.request.method != "POST":
            return await schedule_page(page)
        form = await page.form()
        cid = page.request.path_params["council_id"]
        body, errors = meeting_fields(page, form)
        if errors:
            return await schedule_page(page, form, errors, status=422)
        try:
            made = await page.api.post(f"/councils/councils/{cid}/meetings", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            return await schedule_page(page, form, api_fields(p), p, p.status)
        return page.redirect(f"/councils/{cid}/meetings/{made['id']}?done=scheduled")

    async def cancel(page: Page) -> Response:
        form = await page.form()
        cid, mid = page.request.path_params["council_id"], page.request.path_params["meeting_id"]
        if not form.get("reason", "").strip():
            return await meeting_page(page, form, {"reason": page._("Say why the meeting is cancelled.")}, status=422)
        try:
            await page.api.post(f"/councils/councils/{cid}/meetings/{mid}/cancel", {"reason": form["reason"].strip()})
        except Problem as p:
            return await refused(page, p, form)
        return done(page, "cancelled")

    async def check_in(page: Page) -> Response:
        form = await page.form()
        cid, mid = page.request.path_params["council_id"], page.request.path_params["meeting_id"]
        if not form.get("person"):
            return await meeting_page(page, form, {"person": page._("Choose the member who is here.")}, status=422)
        try:
            await page.api.post(f"/councils/councils/{cid}/meetings/{mid}/check-ins", {"person": form["person"]})
        except Problem as p:
            said = ""
            if p.status == 409:
                m = await page.api.get(f"/councils/councils/{cid}/meetings/{mid}")
                if m["status"] == "scheduled":
                    start = datetime.fromisoformat(m["start"].replace("Z", "+00:00"))
                    when = page.fmt.datetime(start - CHECK_IN_FROM, m["timezone"])
                    said = page._("Check-in opens at %(when)s, 60 minutes before the meeting starts.") % {"when": when}
            return await refused(page, p, form, said=said)
        return done(page, "checked_in")

    async def minutes(page: Page) -> Response:
        form = await page.form()
        cid, mid = page.request.path_params["council_id"], page.request.path_params["meeting_id"]
        text = form.get("text", "").strip()
        if not text:
            return await meeting_page(page, form, {"text": page._("Write the minutes first.")}, status=422)
        try:
            await page.api.put(f"/councils/councils/{cid}/meetings/{mid}/minutes", {"text": text})
        except Problem as p:
            return await refused(page, p, form)
        return done(page, "drafted")

    async def close(page: Page) -> Response:
        form = await page.form()
        cid, mid = page.request.path_params["council_id"], page.request.path_params["meeting_id"]
        items, rows, errors = action_items(page, form)
        if errors:
            return await meeting_page(page, form, errors, status=422)
        body: dict[str, Any] = {
            "decisions": [k[9:] for k in form if k.startswith("decision.") and form[k] == "yes"][:50],
            "action_items": items,
        }
        if form.get("minutes", "").strip():
            body["minutes"] = form["minutes"].strip()
        try:
            await page.api.post(f"/councils/councils/{cid}/meetings/{mid}/close", body)
        except Problem as p:
            fields: dict[str, str] = {}
            for k, v in p.fields.items():  # action_items.N.x is the Nth row sent: the form's row rows[N]
                head, _dot, rest = k.partition(".")
                n, _dot, leaf = rest.partition(".")
                if head == "action_items" and n.isdigit() and int(n) < len(rows):
                    k = f"action_items.{rows[int(n)]}.{leaf}" if leaf else f"action_items.{rows[int(n)]}.title"
                fields.setdefault(k, v)
            said = ""
            if p.status == 409:
                m = await page.api.get(f"/councils/councils/{cid}/meetings/{mid}")
                if m["status"] == "scheduled":
                    when = page.fmt.datetime(m["start"], m["timezone"])
                    said = page._("The meeting can be closed once it has started (%(when)s).") % {"when": when}
            return await refused(page, p, form, fields, said)
        return done(page, "closed")

    async def initiative_page(
        page: Page,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problem: Problem | None = None,
        status: int = 200,
        said: str = "",
    ) -> Response:
        cid, iid = page.request.path_params["council_id"], page.request.path_params["initiative_id"]
        council = await page.api.get(f"/councils/councils/{cid}")
        i, etag = await page.api.get_tagged(f"/councils/councils/{cid}/initiatives/{iid}")
        manager = is_manager(page, council)
        names: dict[str, str] = {}  # the co-sponsors' names: this region's councils, partners' by city
        if i["co_sponsors"]:
            network = await page.api.get("/councils/network/councils", {"limit": MAX_LIST})
            names |= {c["council_id"]: c.get("city") or c["council_id"] for c in network}
            names |= {c["id"]: c["name"] for c in await page.api.get("/councils/councils", {"limit": MAX_LIST})}
        about: list[dict[str, Any]] = []
        if manager:
            found = await page.api.get(f"/councils/councils/{cid}/decisions", {"lang": page.lang, "limit": 50})
            about = [d for d in found if d.get("initiative_id") == iid]
        shown = dict(form or {})
        if form is None:  # the progress form starts from the initiative as it is
            shown["progress"] = str(i["progress"])
            for n, ms in enumerate(i["milestones"]):
                shown |= {f"milestones.{n}.title": ms["title"], f"milestones.{n}.due_on": ms["due_on"]}
                shown |= {f"milestones.{n}.done": "yes"} if ms["done"] else {}
            for n, k in enumerate(i["kpis"]):
                shown |= {f"kpis.{n}.key": k["key"], f"kpis.{n}.unit": k["unit"]}
                shown |= {f"kpis.{n}.target": f"{k['target']:g}"}
                shown |= {f"kpis.{n}.value": f"{k['value']:g}"} if k["value"] is not None else {}
        _ = page._
        return page.render(
            "councils/initiative_page.html",
            status,
            council=council,
            i=i,
            names=names,
            etag=form.get("etag", etag) if form else etag,
            manager=manager,
            about=about,
            closed=[d for d in about if d["state"] == "closed"],
            open_about=[d for d in about if d["state"] == "open"],
            milestone_rows=range(min(len(i["milestones"]) + MILESTONE_ROWS, MAX_MILESTONES)),
            kpi_rows=range(min(len(i["kpis"]) + KPI_ROWS, MAX_KPIS)),
            form=shown,
            errors=errors or {},
            problem=problem,
            said=said,
            notice=page.request.query_params.get("done", ""),
            needs=need_names(page),
            states={
                "proposed": _("proposed: waiting for the council's decision"),
                "active": _("active"),
                "completed": _("completed"),
                "abandoned": _("abandoned"),
            },
            here=f"/councils/{cid}/initiatives/{iid}",
        )

    async def initiative(page: Page) -> Response:
        return await initiative_page(page)

    def initiative_done(page: Page, what: str) -> Response:
        cid, iid = page.request.path_params["council_id"], page.request.path_params["initiative_id"]
        return page.redirect(f"/councils/{cid}/initiatives/{iid}?done={what}")

    async def initiative_refused(
        page: Page, p: Problem, form: dict[str, str], errors: dict[str, str] | None = None, said: str = ""
    ) -> Response:
        if p.status == 401 or p.status >= 500:
            raise p
        fields = errors if errors is not None else dict(p.fields)
        return await initiative_page(page, form, fields, p, p.status, said)

    async def put_to_council(page: Page) -> Response:
        """Open a decision about launching the initiative (members endorse, object or abstain)."""
        form = await page.form()
        cid, iid = page.request.path_params["council_id"], page.request.path_params["initiative_id"]
        i = await page.api.get(f"/councils/councils/{cid}/initiatives/{iid}")
        title = (page._("Launch the initiative: %(title)s") % {"title": i["title"]})[:200]
        body = {"title": title, "method": "endorsement", "initiative_id": iid}
        try:
            await page.api.post(f"/councils/councils/{cid}/decisions", body)
        except Problem as p:
            return await initiative_refused(page, p, form)
        return initiative_done(page, "put")

    async def launch(page: Page) -> Response:
        form = await page.form()
        cid, iid = page.request.path_params["council_id"], page.request.path_params["initiative_id"]
        did = form.get("decision_id", "")
        if not did:
            return await initiative_page(
                page, form, {"decision_id": page._("Choose the decision that launches it.")}, status=422
            )
        try:
            await page.api.post(f"/councils/councils/{cid}/initiatives/{iid}/launch", {"decision_id": did})
        except Problem as p:
            said = ""
            if p.status == 409 and p.extra.get("decision_id") == did:
                decision = await page.api.get(f"/councils/councils/{cid}/decisions/{did}", {"lang": page.lang})
                said = launch_refusal(page, decision)
            return await initiative_refused(page, p, form, said=said)
        return initiative_done(page, "launched")

    async def progress(page: Page) -> Response:
        form = await page.form()
        cid, iid = page.request.path_params["council_id"], page.request.path_params["initiative_id"]
        body, errors = progress_body(page, form)
        if errors:
            return await initiative_page(page, form, errors, status=422)
        try:
            await page.api.put(f"/councils/councils/{cid}/initiatives/{iid}/progress", body, form.get("etag", ""))
        except Problem as p:
            said = ""
            if p.status in (412, 428):
                said = page._(
                    "The initiative was changed meanwhile, so nothing was saved. "
                    "Reload the page to see it as it is now."
                )
            return await initiative_refused(page, p, form, said=said)
        return initiative_done(page, "progress")

    async def complete(page: Page) -> Response:
        form = await page.form()
        cid, iid = page.request.path_params["council_id"], page.request.path_params["initiative_id"]
        try:
            await page.api.post(f"/councils/councils/{cid}/initiatives/{iid}/complete")
        except Problem as p:
            return await initiative_refused(page, p, form)
        return initiative_done(page, "completed")

    async def abandon(page: Page) -> Response:
        form = await page.form()
        cid, iid = page.request.path_params["council_id"], page.request.path_params["initiative_id"]
        if not form.get("reason", "").strip():
            errors = {"reason": page._("Say why the initiative is abandoned.")}
            return await initiative_page(page, form, errors, status=422)
        try:
            await page.api.post(
                f"/councils/councils/{cid}/initiatives/{iid}/abandon", {"reason": form["reason"].strip()}
            )
        except Problem as p:
            return await initiative_refused(page, p, form)
        return initiative_done(page, "abandoned")

    one = "/councils/{council_id}/meetings/{meeting_id}"
    ini = "/councils/{council_id}/initiatives/{initiative_id}"
    return [
        Route(ini, web.page(initiative)),
        Route(ini + "/put", web.page(put_to_council), methods=["POST"]),
        Route(ini + "/launch", web.page(launch), methods=["POST"]),
        Route(ini + "/progress", web.page(progress), methods=["POST"]),
        Route(ini + "/complete", web.page(complete), methods=["POST"]),
        Route(ini + "/abandon", web.page(abandon), methods=["POST"]),
        Route("/councils/{council_id}/meetings/new", web.page(schedule), methods=["GET", "POST"]),
        Route(one, web.page(meeting)),
        Route(one + "/cancel", web.page(cancel), methods=["POST"]),
        Route(one + "/check-in", web.page(check_in), methods=["POST"]),
        Route(one + "/minutes", web.page(minutes), methods=["POST"]),
        Route(one + "/close", web.page(close), methods=["POST"]),
    ]
