"""Training for the region's coordinators (``region_admin`` and ``council_secretary`` of the region): offer a
module (its dated sessions in a bounded number of rows, more rows by resubmitting), change its capacity and
sessions, its roster, who attended each session, completing an enrolment (the credential is issued) and
revoking a credential with a reason. A refusal is said in words next to what it is about: a session not
started yet at its attendance, the sessions still missing at the participant's row. The API decides who
may; anyone else is told these pages are the coordinators'."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from web import i18n
from web.app import Page, Web
from web.platform import Problem
from web.settings import LANGUAGES

STAFF = ("region_admin", "council_secretary")  # the training service's coordinators
ROWS_FIRST = 4  # session rows shown on a new form
ROWS_MORE = 4  # rows added by "More session rows"
MAX_SESSIONS = 40  # the API's bound
MAX_LIST = 200
MAX_REASON = 500
FORMATS = ("in_person", "online", "blended")
SESSION_PARTS = ("title", "day", "start", "end", "place")
INSTRUMENT = "wms"


def format_names(page: Page) -> dict[str, str]:
    _ = page._
    return {"in_person": _("In person"), "online": _("Online"), "blended": _("Blended")}


def status_names(page: Page) -> dict[str, str]:
    _ = page._
    return {
        "confirmed": _("Confirmed"),
        "waitlisted": _("On the waiting list"),
        "cancelled": _("Cancelled"),
        "completed": _("Completed"),
    }


def row_count(form: dict[str, str], filled: int = 0) -> int:
    """How many session rows the form shows: what it showed (``rows``), at least the filled ones and the
    first few, at most the API's 40; "More session rows" adds a few."""
    try:
        rows = int(form.get("rows", ""))
    except ValueError:
        rows = 0
    rows = max(rows, filled, ROWS_FIRST)
    if form.get("more"):
        rows += ROWS_MORE
    return min(rows, MAX_SESSIONS)


def whole(form: dict[str, str], name: str, errors: dict[str, str], _: Any, required: bool = True) -> int | None:
    raw = form.get(name, "").strip()
    if not raw and not required:
        return None
    try:
        return int(raw)
    except ValueError:
        errors[name] = _("Enter a whole number.")
        return None


def read_sessions(form: dict[str, str], rows: int, _: Any) -> tuple[list[dict[str, Any]], list[int], dict[str, str]]:
    """The filled session rows as the API takes them (times in UTC), the form row of each (the API names a
    session by its place in the list sent), and the reasons per field for rows filled in part."""
    sessions: list[dict[str, Any]] = []
    at_row: list[int] = []
    errors: dict[str, str] = {}
    for i in range(rows):
        values = {k: form.get(f"sessions.{i}.{k}", "").strip() for k in SESSION_PARTS}
        if not any(values.values()):
            continue
        base = f"sessions.{i}"
        if not values["title"]:
            errors[f"{base}.title"] = _("Give the session a title.")
        day: date | None = None
        try:
            day = date.fromisoformat(values["day"])
        except ValueError:
            errors[f"{base}.day"] = _("Enter a date.")
        times: dict[str, time] = {}
        for name in ("start", "end"):
            try:
                times[name] = time.fromisoformat(values[name])
            except ValueError:
                errors[f"{base}.{name}"] = _("Enter a time as hours and minutes.")
        if day is None or len(times) < 2 or not values["title"]:
            continue
        session: dict[str, Any] = {
            "title": values["title"][:200],
            "start": datetime.combine(day, times["start"], UTC).isoformat(),
            "end": datetime.combine(day, times["end"], UTC).isoformat(),
        }
        if values["place"]:
            session["place"] = values["place"][:200]
        sessions.append(session)
        at_row.append(i)
    return sessions, at_row, errors


def session_form(sessions: list[dict[str, Any]]) -> dict[str, str]:
    """A module's sessions as the form's rows."""
    form: dict[str, str] = {}
    for i, s in enumerate(sessions):
        start, end = (
            datetime.fromisoformat(s["start"]).astimezone(UTC),
            datetime.fromisoformat(s["end"]).astimezone(UTC),
        )
        form |= {
            f"sessions.{i}.title": s["title"],
            f"sessions.{i}.day": start.date().isoformat(),
            f"sessions.{i}.start": start.strftime("%H:%M"),
            f"sessions.{i}.end": end.strftime("%H:%M"),
            f"sessions.{i}.place": s.get("place") or "",
        }
    return form


def api_fields(p: Problem, at_row: list[int]) -> dict[str, str]:
    """The API's reasons under the form's fields: ``sessions.2.end`` is the session sent third, i.e. the
    form row it came from; ``practices.0`` is the practices' fieldset."""
    out: dict[str, str] = {}
    for name, reason in p.fields.items():
        parts = name.split(".")
        if parts[0] == "sessions" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(at_row):
            sub = parts[2] if len(parts) > 2 and parts[2] in ("title", "start", "end", "place") else "title"
            out.setdefault(f"sessions.{at_row[int(parts[1])]}.{sub}", reason)
        else:
            out.setdefault(parts[0], reason)
    return out


def same_sessions(sent: list[dict[str, Any]], held: list[dict[str, Any]]) -> bool:
    """Whether the form's sessions are the module's (then the change leaves them out: sessions are fixed once
    attendance is recorded, and resending them unchanged would be refused)."""

    def key(s: dict[str, Any]) -> tuple[str, datetime, datetime, str]:
        start, end = datetime.fromisoformat(s["start"]), datetime.fromisoformat(s["end"])
        return s["title"], start, end, s.get("place") or ""

    return sorted(map(key, sent)) == sorted(map(key, held))


async def many(page: Page, name: str, limit: int) -> list[str]:
    """Every value of a repeated field (checkboxes) of the form ``page.form()`` has read and checked."""
    return page.form_values(name)[:limit]


def routes(web: Web) -> list[Route]:
    def refused(page: Page) -> Response | None:
        if page.session.has(*STAFF):
            return None
        return page.render("error.html", 403, message=page._("These pages are for the region's training coordinators."))

    async def practice_names(page: Page) -> tuple[dict[str, str], str]:
        """The practices by id, named in the page's language, and the language the API says they are in."""
        listed = await page.api.get("/training/instruments")
        latest = next(i for i in listed if i["id"] == INSTRUMENT)["versions"][-1]
        inst = await page.api.get(f"/training/instruments/{INSTRUMENT}/{latest}", {"lang": page.lang})
        return {p["id"]: p["name"] for a in inst["areas"] for p in a["practices"]}, str(inst.get("lang") or "en")

    async def overview(page: Page) -> Response:
        if no := refused(page):
            return no
        modules = await page.api.get("/training/modules", {"limit": MAX_LIST})
        modules.sort(key=lambda m: m["starts"])
        return page.render("training/coordinate.html", modules=modules, formats=format_names(page))

    async def new_page(
        page: Page, form: dict[str, str], errors: dict[str, str], problem: Problem | None = None, status: int = 200
    ) -> Response:
        rows = row_count(form)
        practices, practices_lang = await practice_names(page)
        return page.render(
            "training/module_new.html",
            status,
            form=form | {"rows": str(rows)},
            rows=rows,
            errors=errors,
            problem=problem,
            practices=practices,
            practices_lang=practices_lang,
            chosen=set(form.get("practices", "").split()) if "practices" in form else set(),
            formats=format_names(page),
            max_sessions=MAX_SESSIONS,
            here="/training/coordinate/new",
        )

    async def new_form(page: Page) -> Response:
        if no := refused(page):
            return no
        return await new_page(page, {"language": page.lang, "format": "in_person"}, {})

    async def create(page: Page) -> Response:
        if no := refused(page):
            return no
        form = await page.form()
        chosen = await many(page, "practices", 18)
        form["practices"] = " ".join(chosen)
        if form.get("more"):  # more rows: the same form again, nothing sent
            return await new_page(page, form, {})
        _ = page._
        errors: dict[str, str] = {}
        if not form.get("title", "").strip():
            errors["title"] = _("Give the module a title.")
        if not chosen:
            errors["practices"] = _("Choose at least one practice the module addresses.")
        if form.get("language") not in LANGUAGES:
            errors["language"] = _("Choose a language.")
        if form.get("format") not in FORMATS:
            errors["format"] = _("Choose a format.")
        duration = whole(form, "duration_hours", errors, _)
        capacity = whole(form, "capacity", errors, _)
        least = whole(form, "min_sessions", errors, _, required=False)
        sessions, at_row, found = read_sessions(form, row_count(form), _)
        errors |= found
        if not sessions and not found:
            errors["sessions"] = _("Give at least one session with its date and times.")
        if errors:
            return await new_page(page, form, errors, status=422)
        body: dict[str, Any] = {
            "title": form["title"].strip()[:200],
            "description": form.get("description", "").strip()[:4000],
            "practices": chosen,
            "language": form["language"],
            "format": form["format"],
            "duration_hours": duration,
            "capacity": capacity,
            "sessions": sessions,
        }
        if least is not None:
            body["min_sessions"] = least
        try:
            made = await page.api.post("/training/modules", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            return await new_page(page, form, api_fields(p, at_row), p, p.status)
        return page.redirect(f"/training/coordinate/modules/{made['id']}?done=created")

    async def module_page(
        page: Page,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problem: Problem | None = None,
        status: int = 200,
    ) -> Response:
        mid = page.request.path_params["module_id"]
        module = await page.api.get(f"/training/modules/{mid}")
        roster = await page.api.get(f"/training/modules/{mid}/enrolments", {"limit": MAX_LIST})
        for e in roster:  # an organisation is "<region>:<name>"; a person by the name given at enrolment with the
            e["org_name"] = (e.get("organisation") or "").split(":", 1)[-1]  # platform id (two may give one name)
            e["who"] = f"{e['display_name']} ({e['person']})" if e.get("display_name") else e["person"]
        if form is None:
            form = {"capacity": str(module["capacity"])} | session_form(module["sessions"])
        rows = row_count(form, len(module["sessions"]) + 1)
        return page.render(
            "training/module_manage.html",
            status,
            module=module,
            roster=roster,
            confirmed=[e for e in roster if e["status"] == "confirmed"],
            form=form | {"rows": str(rows)},
            rows=rows,
            errors=errors or {},
            problem=problem,
            statuses=status_names(page),
            formats=format_names(page),
            notice=page.request.query_params.get("done", ""),
            session=page.request.query_params.get("session", ""),
            here=f"/training/coordinate/modules/{mid}",
        )

    async def module_view(page: Page) -> Response:
        if no := refused(page):
            return no
        return await module_page(page)

    async def change(page: Page) -> Response:
        if no := refused(page):
            return no
        form = await page.form()
        mid = page.request.path_params["module_id"]
        if form.get("more"):
            return await module_page(page, form)
        _ = page._
        errors: dict[str, str] = {}
        capacity = whole(form, "capacity", errors, _)
        module = await page.api.get(f"/training/modules/{mid}")
        sessions, at_row, found = read_sessions(form, row_count(form), _)
        errors |= found
        if not sessions and not found:
            errors["sessions"] = _("Give at least one session with its date and times.")
        if errors:
            return await module_page(page, form, errors, status=422)
        body: dict[str, Any] = {}
        if capacity != module["capacity"]:
            body["capacity"] = capacity
        if not same_sessions(sessions, module["sessions"]):
            body["sessions"] = sessions
        if body:
            try:
                await page.api.patch(f"/training/modules/{mid}", body, "")
            except Problem as p:
                if p.status == 401 or p.status >= 500:
                    raise
                if p.status == 409:  # attendance is recorded: the sessions stay as they are
                    p.detail = _("Attendance is recorded already: the sessions can no longer change.")
                    return await module_page(page, form, {"sessions": p.detail}, p, p.status)
                return await module_page(page, form, api_fields(p, at_row), p, p.status)
        return page.redirect(f"/training/coordinate/modules/{mid}?done=changed")

    async def attendance(page: Page) -> Response:
        if no := refused(page):
            return no
        mid = page.request.path_params["module_id"]
        n = page.request.path_params["n"]
        await page.form()
        present = await many(page, "present", MAX_LIST)
        _ = page._
        try:
            await page.api.put(f"/training/modules/{mid}/sessions/{n}/attendance", {"present": present})
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            module = await page.api.get(f"/training/modules/{mid}")
            held = next((s for s in module["sessions"] if s["n"] == n), None)
            if p.status == 409 and held:
                said = _("Session %(n)s starts %(start)s (UTC): its attendance can be recorded from then.") % {
                    "n": n,
                    "start": page.fmt.datetime(held["start"]),
                }
            elif p.status == 403:
                said = _("You may not record your own attendance: another coordinator of the region records it.")
            elif p.status == 422:
                said = _("Only confirmed participants can be recorded as present.")
            else:
                raise
            p.detail = said
            return await module_page(page, None, {f"present.{n}": said}, p, p.status)
        return page.redirect(f"/training/coordinate/modules/{mid}?done=attendance&session={n}")

    async def complete(page: Page) -> Response:
        if no := refused(page):
            return no
        await page.form()
        mid, eid = page.request.path_params["module_id"], page.request.path_params["enrolment_id"]
        try:
            await page.api.post(f"/training/enrolments/{eid}/complete")
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            module = await page.api.get(f"/training/modules/{mid}")
            roster = await page.api.get(f"/training/modules/{mid}/enrolments", {"limit": MAX_LIST})
            row = next((e for e in roster if e["id"] == eid), None)
            p.detail = missing_words(page, p, module, row)
            return await module_page(page, None, {f"complete.{eid}": p.detail}, p, p.status)
        return page.redirect(f"/training/coordinate/modules/{mid}?done=completed")

    async def credential_page(
        page: Page, form: dict[str, str] | None = None, errors: dict[str, str] | None = None, status: int = 200
    ) -> Response:
        cid = page.request.path_params["credential_id"]
        credential = await page.api.get(f"/training/credentials/{cid}")
        module = await page.api.get(f"/training/modules/{credential['module_id']}")
        return page.render(
            "training/credential.html",
            status,
            credential=credential,
            module=module,
            form=form or {},
            errors=errors or {},
            notice=page.request.query_params.get("done", ""),
            here=f"/training/coordinate/credentials/{cid}",
        )

    async def credential_view(page: Page) -> Response:
        if no := refused(page):
            return no
        return await credential_page(page)

    async def revoke(page: Page) -> Response:
        if no := refused(page):
            return no
        form = await page.form()
        cid = page.request.path_params["credential_id"]
        reason = form.get("reason", "").strip()
        _ = page._
        if not reason:
            return await credential_page(page, form, {"reason": _("Say why the credential is revoked.")}, 422)
        if len(reason) > MAX_REASON:
            return await credential_page(page, form, {"reason": _("A reason is at most 500 characters.")}, 422)
        try:
            await page.api.post(f"/training/credentials/{cid}/revoke", {"reason": reason})
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            if p.status == 409:
                return await credential_page(page, form, {"reason": _("The credential is revoked already.")}, 409)
            return await credential_page(page, form, {"reason": p.fields.get("reason") or p.detail}, p.status)
        return page.redirect(f"/training/coordinate/credentials/{cid}?done=revoked")

    return [
        Route("/training/coordinate", web.page(overview)),
        Route("/training/coordinate/new", web.page(new_form)),
        Route("/training/coordinate/new", web.page(create), methods=["POST"]),
        Route("/training/coordinate/modules/{module_id}", web.page(module_view)),
        Route("/training/coordinate/modules/{module_id}", web.page(change), methods=["POST"]),
        Route(
            "/training/coordinate/modules/{module_id}/sessions/{n:int}/attendance",
            web.page(attendance),
            methods=["POST"],
        ),
        Route(
            "/training/coordinate/modules/{module_id}/enrolments/{enrolment_id}/complete",
            web.page(complete),
            methods=["POST"],
        ),
        Route("/training/coordinate/credentials/{credential_id}", web.page(credential_view)),
        Route("/training/coordinate/credentials/{credential_id}", web.page(revoke), methods=["POST"]),
    ]


def missing_words(page: Page, p: Problem, module: dict[str, Any], row: dict[str, Any] | None) -> str:
    """Why an enrolment cannot be completed yet, in the person's words: the module not over (until when), or
    the sessions attended against those required and which ones were missed."""
    _ = page._
    t = i18n.translations(page.lang)
    if p.status == 403:
        return _("You may not complete your own enrolment: another coordinator of the region issues your credential.")
    if row is None or row["status"] != "confirmed":
        return _("Only a confirmed participant's enrolment can be completed.")
    if "attended" not in p.extra:
        last = max(s["end"] for s in module["sessions"])
        return _("The module is not over yet: its last session ends %(end)s (UTC).") % {"end": page.fmt.datetime(last)}
    need = int(module["required_sessions"])
    attended = set(row.get("attended") or [])
    said = t.ngettext(
        "Attended %(k)s of the %(n)s session required.", "Attended %(k)s of the %(n)s sessions required.", need
    ) % {"k": len(attended), "n": need}
    missed = [s for s in module["sessions"] if s["n"] not in attended]
    names = ", ".join(
        _("session %(n)s (%(title)s, %(day)s)") % {"n": s["n"], "title": s["title"], "day": page.fmt.date(s["start"])}
        for s in missed
    )
    missed_words = _("Not attended: %(sessions)s.") % {"sessions": names}
    return f"{said} {missed_words}"
