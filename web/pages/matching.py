"""Matching: the challenge marketplace (the open challenges SMEs offer to student teams and visiting
academics, with the SME's own suggested drafts) and one challenge; a candidate's profile (students for
consultancy, academics for a change of perspective), her ranking of the open challenges (a numbered form
that works without JavaScript) and her applications; the coordinator's allocation rounds (run one, its
fairness report and each candidate's explanation; a candidate sees her own); proposals and engagements,
accepted or declined by each side (candidate, and the host: the supervising academic or the SME)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from web.app import Page, Web
from web.platform import Problem, partner_page

MAX_LIST = 200
MAX_SKILLS = 30
MAX_LANGUAGES = 8
PROGRAMMES = ("consultancy", "change_of_perspective")
TERM = re.compile(r"^[0-9]{4}-(autumn|spring|summer)$")
LANGUAGE = re.compile(r"^[a-z]{2}$")
MATCH_STATUSES = ("proposed", "active", "declined", "expired", "completed")


def candidate_kind(page: Page) -> str | None:
    """The kind of candidate profile the person keeps: a student's or an academic's (else none)."""
    if page.session.has("student") and "platform_admin" not in page.session.roles():
        return "student"
    if page.session.has("academic") and "platform_admin" not in page.session.roles():
        return "academic"
    return None


def programme_of(kind: str) -> str:
    return "consultancy" if kind == "student" else "change_of_perspective"


def words_list(text: str) -> list[str]:
    """A comma-separated list as the person typed it: trimmed, empty entries dropped, each once."""
    out: list[str] = []
    for part in text.split(","):
        part = part.strip()
        if part and part not in out:
            out.append(part)
    return out


def reason_words(page: Page, reason: str, own: bool = True) -> tuple[str, bool]:
    """An allocation's reason (why not a challenge ranked higher, where a list came from) in the person's
    language when it is one the allocation gives, with its number; else the API's words. And whether it
    was translated."""
    n = re.search(r"\d+", reason)
    k = int(n.group(0)) if n else 0
    if reason.startswith("project full"):
        return page.ngettext(
            "the challenge is full (%(n)s place): its host ranks the person in it above you",
            "the challenge is full (%(n)s places): its host ranks everyone in them above you",
            k,
        ), True
    if reason.startswith("supervisor full"):
        return page.ngettext(
            "the host is full (%(n)s place): they rank the person they have above you",
            "the host is full (%(n)s places): they rank everyone they have above you",
            k,
        ), True
    patterns = (
        (r"^placing you there", page._("placing you there would have matched fewer people or raised the total rank")),
        (r"^your ranking$", page._("your ranking") if own else page._("the candidate's own ranking")),
        (r"^fit score", page._("the fit score (you ranked none of the challenges open to you)")),
        (r"^no eligible challenge", page._("no challenge open to you (programme, language, dates or region)")),
    )
    for pattern, words in patterns:
        if re.search(pattern, reason):
            return words, True
    return reason, False


def words(page: Page) -> dict[str, Any]:
    """The names of programmes, work modes, challenge states and IP templates in the person's language."""
    return {
        "programmes": {
            "consultancy": page._("Student consultancy"),
            "change_of_perspective": page._("Change of perspective (visiting academic)"),
        },
        "modes": {"on_site": page._("On site"), "remote": page._("Remote"), "hybrid": page._("Hybrid")},
        "statuses": {"open": page._("Open"), "draft": page._("Draft suggested from an assessment")},
        "ip": {
            "open-results": page._("Open results: every party may publish; students keep full portfolio rights."),
            "nda-portfolio-safe": page._(
                "Confidentiality: the SME's information stays confidential; students may still describe "
                "their role, methods and skills in a portfolio, CV or thesis without confidential figures."
            ),
            "ip-assignment-portfolio-safe": page._(
                "The results' rights go to the SME; students may still show their work in a portfolio "
                "without confidential figures."
            ),
        },
    }


def my_org(page: Page) -> str | None:
    """The person's organisation as the platform names it (this region's issuer: ``<region>:<claim>``),
    to pick the challenges they host; the API checks every change itself."""
    org, region = page.session.who.get("org"), page.session.who.get("region")
    return f"{region}:{org}" if org and region else None


async def my_candidate_id(page: Page) -> str | None:
    """An academic's platform id, from her profile (the id a challenge names as its supervisor)."""
    if not page.session.has("academic"):
        return None
    try:
        return str((await page.api.get("/matching/candidates/me"))["id"])
    except Problem as p:
        if p.status != 404:
            raise
        return None


def hosts(page: Page, c: dict[str, Any], me: str | None) -> bool:
    """Whether the person is on a challenge's host side as the page can tell (the coordinator, its SME's
    organisation, its supervisor ``me``), to offer its applicants; the API decides (404 for anyone else)."""
    org = my_org(page)
    return (
        page.session.has("region_admin")
        or (org is not None and c.get("organisation") == org)
        or (me is not None and c.get("supervisor") == me)
    )


def skills_and_languages(
    page: Page, form: dict[str, str], most_skills: int, most_languages: int, errors: dict[str, str]
) -> tuple[list[str], list[str]]:
    """The skills (at most ``most_skills``, each at most 60 characters) and the two-letter language codes
    (one to ``most_languages``, lowered) of a profile's or a challenge's form, each a comma-separated list;
    why either is refused goes into ``errors`` at its field."""
    _ = page._
    skills = words_list(form.get("skills", ""))
    if len(skills) > most_skills or any(len(s) > 60 for s in skills):
        errors["skills"] = _("List at most %(n)s skills, each at most 60 characters.") % {"n": most_skills}
    languages = [x.lower() for x in words_list(form.get("languages", ""))]
    if not languages or len(languages) > most_languages or not all(LANGUAGE.match(x) for x in languages):
        errors["languages"] = _("Enter one to %(n)s two-letter language codes, such as en, es.") % {"n": most_languages}
    return skills, languages


def ranks_chosen(page: Page, form: dict[str, str], ids: list[str], twice: str) -> tuple[list[str], dict[str, str]]:
    """A ranking form read: each of ``ids`` (challenges a candidate ranks, applicants a host ranks) may have
    a number 1..len(ids) in ``rank.<id>``, or none (not ranked), each number at most once. Returns the ids in
    the order of their numbers and, by field, why a number was refused (``twice``, the page's own words for
    a number given twice, with ``%(rank)s``)."""
    errors: dict[str, str] = {}
    chosen: dict[int, str] = {}
    for item in ids:
        key = f"rank.{item}"
        value = form.get(key, "").strip()
        if not value:
            continue
        try:
            n = int(value)
        except ValueError:
            n = 0
        if not 1 <= n <= len(ids):
            errors[key] = page._("Enter a whole number from 1 to %(n)s, or leave it empty.") % {"n": len(ids)}
        elif n in chosen:
            errors[key] = twice % {"rank": n}
        else:
            chosen[n] = item
    return [chosen[n] for n in sorted(chosen)], errors


def ranking_fields(fields: dict[str, str], order: list[str]) -> dict[str, str]:
    """The API's reasons for a ranking's entries at the form's fields: ``ranking[2]`` is the third ranked
    id's ``rank.<id>``; a reason for anything else is not a field of the form."""
    out: dict[str, str] = {}
    for k, v in fields.items():
        at = re.fullmatch(r"ranking\[(\d+)\]", k)
        if at and int(at.group(1)) < len(order):
            out[f"rank.{order[int(at.group(1))]}"] = v
    return out


def routes(web: Web) -> list[Route]:
    async def marketplace(page: Page) -> Response:
        programme = page.request.query_params.get("programme", "")
        params: dict[str, str | int] = {"limit": MAX_LIST}
        if programme in PROGRAMMES:
            params["programme"] = programme
        else:
            programme = ""
        found = await page.api.get("/matching/challenges", params)
        found.sort(key=lambda c: (c["status"] != "open", c.get("starts_on") or "", c["title"]))
        network = await page.api.get("/matching/network/challenges", params)
        partners = [
            c | {"apply_page": c["apply_at"] and partner_page(c["api_base"], f"/matching/challenges/{c['id']}")}
            for c in sorted(network, key=lambda c: (c["places_left"] == 0, c["region"], c.get("title") or ""))
        ]
        return page.render(
            "matching/challenges.html",
            challenges=found,
            partners=partners,
            programme=programme,
            here="/matching",
            **words(page),
        )

    async def challenge(page: Page) -> Response:
        found = await page.api.get(f"/matching/challenges/{page.request.path_params['challenge_id']}")
        host = page.session.has("sme_member", "academic", "region_admin") and hosts(
            page, found, await my_candidate_id(page)
        )
        return page.render(
            "matching/challenge.html",
            c=found,
            host=host,
            notice=page.request.query_params.get("done", ""),
            here="/matching",
            **words(page),
        )

    def match_words(page: Page) -> dict[str, Any]:
        _ = page._
        return {
            "match_statuses": {
                "proposed": _("Proposed: waiting for both sides' answers"),
                "active": _("Active engagement"),
                "declined": _("Declined"),
                "expired": _("Expired: not answered in time"),
                "completed": _("Completed"),
            },
            "answers": {"accepted": _("accepted"), "declined": _("declined"), None: _("not answered yet")},
        }

    async def my_profile(page: Page) -> dict[str, Any] | None:
        """The person's candidate profile, or None while she has none (the API's 404)."""
        try:
            return dict(await page.api.get("/matching/candidates/me"))
        except Problem as p:
            if p.status != 404:
                raise
            return None

    def profile_form(current: dict[str, Any] | None, lang: str) -> dict[str, str]:
        if current is None:
            return {"languages": lang, "supervision_capacity": "6"}
        return {
            "display_name": current.get("display_name") or "",
            "skills": ", ".join(current["skills"]),
            "languages": ", ".join(current["languages"]),
            "programme_of_study": current.get("programme_of_study") or "",
            "available_from": current["available_from"],
            "available_until": current["available_until"],
            "cross_border": "yes" if current["cross_border"] else "",
            "supervision_capacity": str(current["supervision_capacity"]),
        }

    async def profile_page(
        page: Page,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problem: Problem | None = None,
        status: int = 200,
    ) -> Response:
        kind = candidate_kind(page)
        current = await my_profile(page) if kind else None
        return page.render(
            "matching/profile.html",
            status,
            kind=kind,
            current=current,
            form=form if form is not None else profile_form(current, page.lang),
            errors=errors or {},
            problem=problem,
            notice=page.request.query_params.get("done", ""),
            here="/matching/profile",
            **words(page),
        )

    async def profile(page: Page) -> Response:
        if page.request.method != "POST":
            return await profile_page(page)
        form = await page.form()
        kind = candidate_kind(page)
        if kind is None:
            return await profile_page(page, status=403)
        _ = page._
        errors: dict[str, str] = {}
        skills, languages = skills_and_languages(page, form, MAX_SKILLS, MAX_LANGUAGES, errors)
        for name in ("available_from", "available_until"):
            try:
                date.fromisoformat(form.get(name, ""))
            except ValueError:
                errors[name] = _("Enter a date.")
        capacity = 6
        if kind == "academic":
            try:
                capacity = int(form.get("supervision_capacity", ""))
            except ValueError:
                capacity = 0
            if not 1 <= capacity <= 50:
                errors["supervision_capacity"] = _("Enter a whole number from 1 to %(n)s.") % {"n": 50}
        if errors:
            return await profile_page(page, form, errors, status=422)
        body: dict[str, Any] = {
            "kind": kind,
            "display_name": form.get("display_name", "").strip()[:200] or None,
            "skills": skills,
            "languages": languages,
            "programme_of_study": (form.get("programme_of_study", "").strip() or None) if kind == "student" else None,
            "available_from": form["available_from"],
            "available_until": form["available_until"],
            "cross_border": form.get("cross_border") == "yes",
            "supervision_capacity": capacity,
        }
        try:
            await page.api.put("/matching/candidates/me", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            fields = {re.split(r"[.\[]", k)[0]: v for k, v in p.fields.items()}  # languages.0 -> languages
            return await profile_page(page, form, fields, p, status=p.status)
        return page.redirect("/matching/profile?done=saved")

    async def open_challenges(page: Page, kind: str) -> list[dict[str, Any]]:
        found = await page.api.get(
            "/matching/challenges", {"programme": programme_of(kind), "status": "open", "limit": MAX_LIST}
        )
        return list(found)

    async def ranking_page(
        page: Page,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problem: Problem | None = None,
        status: int = 200,
    ) -> Response:
        kind = candidate_kind(page)
        current = await my_profile(page) if kind else None
        found = await open_challenges(page, kind) if kind and current else []
        by_id = {c["id"]: c for c in found}
        ranked = [i for i in (current or {}).get("preferences", []) if i in by_id]
        rest = sorted((c for c in found if c["id"] not in ranked), key=lambda c: (c.get("starts_on") or "", c["title"]))
        if form is None:
            form = {f"rank.{cid}": str(n) for n, cid in enumerate(ranked, 1)}
        return page.render(
            "matching/ranking.html",
            status,
            kind=kind,
            current=current,
            challenges=[by_id[i] for i in ranked] + rest,
            form=form,
            errors=errors or {},
            problem=problem,
            notice=page.request.query_params.get("done", ""),
            here="/matching/ranking",
            **words(page),
        )

    async def ranking(page: Page) -> Response:
        if page.request.method != "POST":
            return await ranking_page(page)
        form = await page.form()
        kind = candidate_kind(page)
        if kind is None or await my_profile(page) is None:
            return await ranking_page(page, status=409)
        found = await open_challenges(page, kind)
        twice = page._("Another challenge has rank %(rank)s too: give each its own number.")
        order, errors = ranks_chosen(page, form, [c["id"] for c in found], twice)
        if errors:
            return await ranking_page(page, form, errors, status=422)
        try:
            await page.api.put("/matching/candidates/me/preferences", {"ranking": order})
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            return await ranking_page(page, form, ranking_fields(p.fields, order), p, status=p.status)
        return page.redirect("/matching/ranking?done=saved")

    async def matches_of(page: Page, status: str = "") -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": MAX_LIST}
        if status in MATCH_STATUSES:
            params["status"] = status
        return list(await page.api.get("/matching/matches", params))

    async def applications(page: Page) -> Response:
        kind = candidate_kind(page)
        current = await my_profile(page) if kind else None
        rows: list[dict[str, Any]] = []
        rounds: list[str] = []
        if current is not None:
            listed = {c["id"]: c for c in await page.api.get("/matching/challenges", {"limit": MAX_LIST})}
            mine = [m for m in await matches_of(page) if m["candidate"] == current["id"]]
            latest: dict[str, dict[str, Any]] = {}
            for m in sorted(mine, key=lambda m: m["proposed_at"]):
                latest[m["challenge_id"]] = m
                if m["round_id"] not in rounds:
                    rounds.append(m["round_id"])
            for n, cid in enumerate(current["preferences"], 1):
                rows.append({"rank": n, "id": cid, "challenge": listed.get(cid), "match": latest.pop(cid, None)})
            for cid, m in latest.items():  # proposed by fit score, not ranked
                rows.append({"rank": None, "id": cid, "challenge": listed.get(cid), "match": m})
        return page.render(
            "matching/applications.html",
            kind=kind,
            current=current,
            rows=rows,
            rounds=rounds,
            here="/matching/applications",
            **words(page),
            **match_words(page),
        )

    async def sides(page: Page) -> tuple[str | None, bool]:
        """My candidate id (if I keep a profile) and whether I may be a match's host (its SME's people, or
        the supervising academic)."""
        kind = candidate_kind(page)
        me = (await my_profile(page) or {}).get("id") if kind else None
        hosting = page.session.has("sme_member", "academic") and "platform_admin" not in page.session.roles()
        return me, hosting

    async def engagement_page(
        page: Page,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problem: Problem | None = None,
        status: int = 200,
    ) -> Response:
        mid = page.request.path_params["match_id"]
        m = await page.api.get(f"/matching/matches/{mid}")
        me, hosting = await sides(page)
        side = "candidate" if m["candidate"] == me else ("host" if hosting else None)
        return page.render(
            "matching/engagement.html",
            status,
            m=m,
            side=side,
            form=form or {},
            errors=errors or {},
            problem=problem,
            notice=page.request.query_params.get("done", ""),
            here=f"/matching/matches/{mid}",
            **words(page),
            **match_words(page),
        )

    async def engagement(page: Page) -> Response:
        return await engagement_page(page)

    async def engagement_step(page: Page) -> Response:
        """The host plans a milestone or completes the engagement; either side ticks a milestone done or
        rates the completed engagement (once)."""
        form = await page.form()
        mid, step = page.request.path_params["match_id"], page.request.path_params["step"]
        errors: dict[str, str] = {}
        body: dict[str, Any] | None = None
        path = f"/matching/matches/{mid}/{step}"
        if step == "milestones":
            try:
                date.fromisoformat(form.get("due_on", ""))
            except ValueError:
                errors["due_on"] = page._("Enter a date.")
            body = {"title": form.get("title", "").strip(), "due_on": form.get("due_on", "")}
        elif step == "ratings":
            if form.get("score") not in ("1", "2", "3", "4", "5"):
                errors["score"] = page._("Choose a score from 1 to 5.")
            else:
                body = {"score": int(form["score"]), "comment": form.get("comment", "").strip()[:2000] or None}
        elif step.startswith("done-") and step[5:].isdigit():
            path = f"/matching/matches/{mid}/milestones/{int(step[5:])}/done"
        elif step != "complete":
            return page.render("error.html", 404, message=page._("Page not found."))
        if errors:
            return await engagement_page(page, form, errors, status=422)
        try:
            await page.api.post(path, body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            return await engagement_page(page, form, dict(p.fields), p, p.status)
        done = "done" if step.startswith("done-") else step
        return page.redirect(f"/matching/matches/{mid}?done={done}")

    async def matches_page(page: Page, problem: Problem | None = None, status: int = 200) -> Response:
        allowed = page.session.has("student", "academic", "sme_member", "region_admin", "analyst")
        shown = page.request.query_params.get("status", "")
        shown = shown if shown in MATCH_STATUSES else ""
        me, hosting = await sides(page)
        found = await matches_of(page, shown) if allowed else []
        for m in found:
            side = "candidate" if m["candidate"] == me else ("host" if hosting else None)
            m["side"] = side
            m["can_answer"] = side is not None and m["status"] == "proposed" and m["responses"][side] is None
        return page.render(
            "matching/matches.html",
            status,
            allowed=allowed,
            matches=found,
            shown=shown,
            problem=problem,
            notice=page.request.query_params.get("done", ""),
            here="/matching/matches" + (f"?status={shown}" if shown else ""),
            **words(page),
            **match_words(page),
        )

    async def matches(page: Page) -> Response:
        return await matches_page(page)

    async def answer(page: Page) -> Response:
        form = await page.form()
        mid, action = page.request.path_params["match_id"], page.request.path_params["action"]
        if action not in ("accept", "decline"):
            return page.render("error.html", 404, message=page._("Page not found."))
        body = {"reason": form.get("reason", "").strip()[:1000] or None} if action == "decline" else None
        try:
            await page.api.post(f"/matching/matches/{mid}/{action}", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            return await matches_page(page, p, p.status)
        return page.redirect(f"/matching/matches?done={action}")

    async def rounds_page(
        page: Page,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problem: Problem | None = None,
        status: int = 200,
    ) -> Response:
        allowed = page.session.has("region_admin", "analyst")
        found = await page.api.get("/matching/rounds", {"limit": 50}) if allowed else []
        return page.render(
            "matching/rounds.html",
            status,
            allowed=allowed,
            coordinator=page.session.has("region_admin"),
            rounds=found,
            form=form or {"programme": "consultancy", "mode": "stable"},
            errors=errors or {},
            problem=problem,
            here="/matching/rounds",
            mode_names={
                "stable": page._("Stable: no candidate and host would both rather be together"),
                "optimal": page._("Optimal: as many matched as possible, then the best total rank"),
            },
            **words(page),
        )

    async def rounds(page: Page) -> Response:
        if page.request.method != "POST":
            return await rounds_page(page)
        form = await page.form()
        errors: dict[str, str] = {}
        if form.get("programme") not in PROGRAMMES:
            errors["programme"] = page._("Choose a programme.")
        term = form.get("term", "").strip()
        if not TERM.match(term):
            errors["term"] = page._("Enter the term as a year and a season, such as 2027-spring.")
        if form.get("mode") not in ("stable", "optimal"):
            errors["mode"] = page._("Choose how to allocate.")
        hours: float | None = None
        if form.get("proposal_ttl_hours", "").strip():
            try:
                hours = float(form["proposal_ttl_hours"].strip().replace(",", "."))
            except ValueError:
                hours = -1
            if not 0 < hours <= 24 * 60:
                errors["proposal_ttl_hours"] = page._("Enter a number of hours above 0 and at most %(n)s.") % {
                    "n": 24 * 60
                }
        if errors:
            return await rounds_page(page, form, errors, status=422)
        body: dict[str, Any] = {"programme": form["programme"], "term": term, "mode": form["mode"]}
        if hours is not None:
            body["proposal_ttl_hours"] = hours
        try:
            made = await page.api.post("/matching/rounds", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            return await rounds_page(page, form, p.fields, p, status=p.status)
        return page.redirect(f"/matching/rounds/{made['id']}?done=run")

    async def round_report(page: Page) -> Response:
        rid = page.request.path_params["round_id"]
        found = await page.api.get(f"/matching/rounds/{rid}")
        titles = {c["id"]: c["title"] for c in await page.api.get("/matching/challenges", {"limit": MAX_LIST})}
        explanations = [found["explanation"]] if "explanation" in found else found["explanations"]
        said = []
        for e in explanations:
            origin, origin_translated = reason_words(page, e["preferences_from"], own="explanation" in found)
            why = []
            for w in e["why_not"]:
                text, translated = reason_words(page, w["reason"])
                why.append({"project": w["project"], "reason": text, "translated": translated})
            said.append({**e, "origin": origin, "origin_translated": origin_translated, "why": why})
        distribution = sorted(
            ((int(k), v) for k, v in (found.get("metrics") or {}).get("rank_distribution", {}).items())
        )
        return page.render(
            "matching/round.html",
            r=found,
            own="explanation" in found,
            explanations=said,
            titles=titles,
            distribution=distribution,
            notice=page.request.query_params.get("done", ""),
            here=f"/matching/rounds/{rid}",
            **words(page),
        )

    return [
        Route("/matching", web.page(marketplace)),
        Route("/matching/challenges/{challenge_id}", web.page(challenge)),
        Route("/matching/profile", web.page(profile), methods=["GET", "POST"]),
        Route("/matching/ranking", web.page(ranking), methods=["GET", "POST"]),
        Route("/matching/applications", web.page(applications)),
        Route("/matching/matches", web.page(matches)),
        Route("/matching/matches/{match_id}", web.page(engagement)),
        Route("/matching/matches/{match_id}/step/{step}", web.page(engagement_step), methods=["POST"]),
        Route("/matching/matches/{match_id}/{action}", web.page(answer), methods=["POST"]),
        Route("/matching/rounds", web.page(rounds), methods=["GET", "POST"]),
        Route("/matching/rounds/{round_id}", web.page(round_report)),
    ]
