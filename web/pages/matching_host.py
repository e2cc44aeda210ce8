"""Matching for the host side: the challenges a person hosts (their SME's, the ones they supervise; every
one for the coordinator), posting a challenge for one of their SMEs, completing and publishing a draft
suggested from an assessment (guarded by the ETag read, so a change made meanwhile is never overwritten),
each naming its supervising academic from a list of those who offer supervision (a typed platform id while
none does),
and the applicants of a challenge (the candidates who rank it, by their display name) with the host's
ranking of them (a numbered form, saved with If-Match)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from web.app import Page, Web
from web.pages.matching import (
    MAX_LIST,
    PROGRAMMES,
    TERM,
    hosts,
    my_candidate_id,
    ranking_fields,
    ranks_chosen,
    skills_and_languages,
    words,
)
from web.platform import Problem

MAX_CHALLENGE_SKILLS = 20
MAX_CHALLENGE_LANGUAGES = 5
MAX_CAPACITY = 10
MODES = ("on_site", "remote", "hybrid")
POSTERS = ("sme_member", "region_admin")  # who may post a challenge or publish a draft
HOSTS = ("sme_member", "academic", "region_admin")  # who may rank a challenge's applicants
STALE = (409, 412, 428)  # the challenge changed since the page was read (or was published meanwhile)


async def send(page: Page, method: str, path: str, body: dict[str, Any], if_match: str) -> tuple[Any, str]:
    """A change guarded by the ETag the page read (``If-Match``): the answer and the new ETag."""
    r = await page.api.call(method, path, body=body, if_match=if_match)
    return r.json(), r.headers.get("etag", "")


def api_fields(p: Problem, form: dict[str, str] | None = None) -> dict[str, str]:
    """The API's reasons by form field: ``languages.0`` is the languages field (the first reason kept); the
    supervisor's at the typed platform id when one was typed (it was sent instead of the list's choice)."""
    out: dict[str, str] = {}
    for k, v in p.fields.items():
        out.setdefault(re.split(r"[.\[]", k)[0], v)
    if form and form.get("supervisor_id", "").strip() and "supervisor" in out:
        out["supervisor_id"] = out.pop("supervisor")
    return out


def challenge_body(
    page: Page, form: dict[str, str], sme_ids: list[str] | None, templates: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The request body of ``POST /challenges`` (and of publishing a draft) from the form, or the form's own
    reasons per field. ``sme_ids``: the SMEs the person may choose among (None: the draft's, not chosen);
    ``templates``: the IP templates the API offers."""
    _ = page._
    errors: dict[str, str] = {}
    if form.get("programme") not in PROGRAMMES:
        errors["programme"] = _("Choose a programme.")
    if sme_ids is not None and form.get("sme_id") not in sme_ids:
        errors["sme_id"] = _("Choose the SME that offers the challenge.")
    skills, languages = skills_and_languages(page, form, MAX_CHALLENGE_SKILLS, MAX_CHALLENGE_LANGUAGES, errors)
    if form.get("work_mode") not in MODES:
        errors["work_mode"] = _("Choose how the work is done.")
    term = form.get("term", "").strip()
    if not TERM.match(term):
        errors["term"] = _("Enter the term as a year and a season, such as 2027-spring.")
    for name in ("starts_on", "ends_on"):
        try:
            date.fromisoformat(form.get(name, ""))
        except ValueError:
            errors[name] = _("Enter a date.")
    try:
        capacity = int(form.get("capacity", "").strip())
    except ValueError:
        capacity = 0
    if not 1 <= capacity <= MAX_CAPACITY:
        errors["capacity"] = _("Enter a whole number from 1 to %(n)s.") % {"n": MAX_CAPACITY}
    if form.get("ip_template") not in templates:
        errors["ip_template"] = _("Choose the terms for the results.")
    body: dict[str, Any] = {
        "programme": form.get("programme"),
        "title": form.get("title", "").strip(),
        "scope": form.get("scope", "").strip(),
        "skills": skills,
        "languages": languages,
        "region": form.get("region", "").strip().upper(),
        "work_mode": form.get("work_mode"),
        "term": term,
        "starts_on": form.get("starts_on", ""),
        "ends_on": form.get("ends_on", ""),
        "capacity": capacity,
        "ip_template": form.get("ip_template"),
        "supervisor": form.get("supervisor_id", "").strip() or form.get("supervisor", "").strip() or None,
    }
    if sme_ids is not None:
        body["sme_id"] = form.get("sme_id")
    return body, errors


def routes(web: Web) -> list[Route]:
    async def hosting(page: Page) -> Response:
        allowed = page.session.has(*HOSTS)
        poster = page.session.has(*POSTERS)
        drafts: list[dict[str, Any]] = []
        hosted: list[dict[str, Any]] = []
        if allowed:
            if poster:
                drafts = list(await page.api.get("/matching/challenges", {"status": "draft", "limit": MAX_LIST}))
            me = await my_candidate_id(page)
            for c in await page.api.get("/matching/challenges", {"status": "open", "limit": MAX_LIST}):
                if hosts(page, c, me):
                    hosted.append(c)
        return page.render(
            "matching/hosting.html",
            allowed=allowed,
            poster=poster,
            drafts=drafts,
            hosted=hosted,
            notice=page.request.query_params.get("done", ""),
            here="/matching/hosting",
            **words(page),
        )

    async def ip_templates(page: Page) -> dict[str, str]:
        """The IP templates the API offers (key: its terms in English, shown when the page has no words)."""
        return dict(await page.api.get("/matching/ip-templates"))

    async def supervisors(page: Page) -> tuple[list[dict[str, Any]], bool]:
        """The academics who offer supervision here (the API's first page of 200), by name (else id), for the
        form's list (none: the form asks for a platform id instead), and whether more do (a next page: the
        form then also takes the platform id of one the list leaves out)."""
        r = await page.api.call("GET", "/matching/supervisors", params={"limit": MAX_LIST})
        found = sorted(r.json(), key=lambda a: ((a["display_name"] or a["id"]).casefold(), a["id"]))
        return found, 'rel="next"' in r.headers.get("link", "")

    async def supervisor_choices(page: Page, allowed: bool) -> dict[str, Any]:
        found, more = await supervisors(page) if allowed else ([], False)
        return {"supervisors": found, "more_supervisors": more}

    async def my_smes(page: Page) -> list[dict[str, Any]]:
        found = await page.api.get("/mapping/smes", {"limit": MAX_LIST})
        return sorted(found, key=lambda s: s["legal_name"])

    async def post_page(
        page: Page,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problem: Problem | None = None,
        status: int = 200,
    ) -> Response:
        allowed = page.session.has(*POSTERS)
        smes = await my_smes(page) if allowed else []
        if form is None:
            form = {
                "programme": "consultancy",
                "languages": page.lang,
                "region": str(page.session.who.get("region") or web.settings.region),
                "capacity": "1",
            }
            if len(smes) == 1:
                form["sme_id"] = smes[0]["id"]
        return page.render(
            "matching/post.html",
            status,
            allowed=allowed,
            draft=None,
            smes=smes,
            **await supervisor_choices(page, allowed and bool(smes)),
            templates=await ip_templates(page) if allowed else {},
            form=form,
            errors=errors or {},
            problem=problem,
            action="/matching/hosting/new",
            here="/matching/hosting/new",
            **words(page),
        )

    async def post(page: Page) -> Response:
        if page.request.method != "POST":
            return await post_page(page)
        form = await page.form()
        if not page.session.has(*POSTERS):
            return await post_page(page, status=403)
        smes = await my_smes(page)
        body, errors = challenge_body(page, form, [s["id"] for s in smes], await ip_templates(page))
        if errors:
            return await post_page(page, form, errors, status=422)
        try:
            made = await page.api.post("/matching/challenges", body)
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            return await post_page(page, form, api_fields(p, form), p, status=p.status)
        return page.redirect(f"/matching/challenges/{made['id']}?done=posted")

    async def draft_page(
        page: Page,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problem: Problem | None = None,
        status: int = 200,
        stale: bool = False,
    ) -> Response:
        cid = page.request.path_params["challenge_id"]
        draft, etag = await page.api.get_tagged(f"/matching/challenges/{cid}")
        if form is None:
            form = {
                "programme": draft["programme"],
                "title": draft["title"],
                "scope": draft["scope"],
                "skills": ", ".join(draft["skills"]),
                "languages": ", ".join(draft["languages"]) or page.lang,
                "region": draft["region"],
                "capacity": "1",
                "etag": etag,
            }
        return page.render(
            "matching/post.html",
            status,
            allowed=page.session.has(*POSTERS),
            draft=draft,
            smes=[],
            **await supervisor_choices(page, page.session.has(*POSTERS)),
            templates=await ip_templates(page),
            form=form,
            errors=errors or {},
            problem=problem,
            stale=stale,
            action=f"/matching/hosting/drafts/{cid}",
            here=f"/matching/hosting/drafts/{cid}",
            **words(page),
        )

    async def publish(page: Page) -> Response:
        if page.request.method != "POST":
            return await draft_page(page)
        form = await page.form()
        cid = page.request.path_params["challenge_id"]
        body, errors = challenge_body(page, form, None, await ip_templates(page))
        if errors:
            return await draft_page(page, form, errors, status=422)
        try:
            await send(page, "POST", f"/matching/challenges/{cid}/publish", body, form.get("etag", ""))
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            if p.status in STALE:  # changed (or published) since it was read: say so, keep what was typed
                return await draft_page(page, form, {}, p, status=p.status, stale=True)
            return await draft_page(page, form, api_fields(p, form), p, status=p.status)
        return page.redirect(f"/matching/challenges/{cid}?done=published")

    async def applicants_page(
        page: Page,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problem: Problem | None = None,
        status: int = 200,
        stale: bool = False,
    ) -> Response:
        cid = page.request.path_params["challenge_id"]
        found, etag = await page.api.get_tagged(f"/matching/challenges/{cid}/applicants", {"limit": MAX_LIST})
        listed = {a["id"]: a for a in found["applicants"]}
        ranked = [i for i in found["applicant_ranking"] if i in listed]
        rest = sorted(
            (a for a in listed.values() if a["id"] not in ranked),
            key=lambda a: (a["rank"], (a["display_name"] or "").casefold(), a["id"]),
        )
        if form is None:
            form = {f"rank.{i}": str(n) for n, i in enumerate(ranked, 1)} | {"etag": etag}
        return page.render(
            "matching/applicants.html",
            status,
            c=found,
            applicants=[listed[i] for i in ranked] + rest,
            form=form,
            errors=errors or {},
            problem=problem,
            stale=stale,
            notice=page.request.query_params.get("done", ""),
            here=f"/matching/hosting/{cid}/applicants",
            **words(page),
        )

    async def applicants(page: Page) -> Response:
        """The host orders the applicants (numbers, as a candidate ranks challenges) and saves the order with
        the ETag read with the page; the API's reason for an entry is shown at the applicant it names."""
        if page.request.method != "POST":
            return await applicants_page(page)
        form = await page.form()
        cid = page.request.path_params["challenge_id"]
        found, _ = await page.api.get_tagged(f"/matching/challenges/{cid}/applicants", {"limit": MAX_LIST})
        twice = page._("Another applicant has rank %(rank)s too: give each their own number.")
        order, errors = ranks_chosen(page, form, [a["id"] for a in found["applicants"]], twice)
        if errors:
            return await applicants_page(page, form, errors, status=422)
        try:
            await send(page, "PUT", f"/matching/challenges/{cid}/ranking", {"ranking": order}, form.get("etag", ""))
        except Problem as p:
            if p.status == 401 or p.status >= 500:
                raise
            if p.status in STALE:  # ranked by someone else since the page was read
                return await applicants_page(page, form, {}, p, status=p.status, stale=True)
            return await applicants_page(page, form, ranking_fields(p.fields, order), p, status=p.status)
        return page.redirect(f"/matching/hosting/{cid}/applicants?done=saved")

    return [
        Route("/matching/hosting", web.page(hosting)),
        Route("/matching/hosting/{challenge_id}/applicants", web.page(applicants), methods=["GET", "POST"]),
        Route("/matching/hosting/new", web.page(post), methods=["GET", "POST"]),
        Route("/matching/hosting/drafts/{challenge_id}", web.page(publish), methods=["GET", "POST"]),
    ]
