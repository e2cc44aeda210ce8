"""Challenges: posting, browsing, publishing a suggested draft, ranking applicants, and the drafts
suggested by the mapping service's assessments. Each use case loads, asks the domain, saves."""

from __future__ import annotations

from clustergrowth import aggregate, etags, ids
from clustergrowth.auth import Principal
from clustergrowth.context import public
from clustergrowth.envelope import CloudEvent
from clustergrowth.paging import PageRequest
from clustergrowth.problems import NotFound, field_error
from clustergrowth.store.port import Doc, put
from services.matching import commands as c
from services.matching import store as st
from services.matching.domain import challenge as dom
from services.matching.handlers.context import COORDINATOR, Matching
from services.matching.reads import Assessed


def _fields(cmd: c.PostChallenge) -> Doc:
    return dom.fields(cmd.model_dump(mode="json"), c.IP_TEMPLATES)


async def _own_sme(m: Matching, sme_id: str | None, who: Principal) -> None:
    """A challenge names only an SME of the poster's organisation (known here from its assessments);
    the coordinator may name any SME of the region."""
    if sme_id is None or who.has(*COORDINATOR):
        return
    known = await m.store.get(st.SMES, sme_id)
    if known is None or who.org is None or known.get("organisation") != who.org:
        raise field_error("sme_id", "is not an SME of your organisation (as known here from its assessments)")


async def _known_supervisor(m: Matching, supervisor: str | None) -> None:
    """A challenge names as supervisor only an academic who keeps a profile here (that is how an academic
    offers supervision and says how much); a student, or an id nobody holds, is refused."""
    if supervisor is None:
        return
    profile = await m.store.get(st.CANDIDATES, supervisor)
    if profile is None or profile.get("kind") != "academic":
        raise field_error("supervisor", "is not an academic who offers supervision here (no academic profile)")


async def post_challenge(m: Matching, cmd: c.PostChallenge, who: Principal) -> Doc:
    who.require("sme_member", *COORDINATOR)
    await _own_sme(m, cmd.sme_id, who)
    await _known_supervisor(m, cmd.supervisor)
    doc, posted = dom.post(f"ch-{ids.uuid4().hex[:12]}", _fields(cmd), who, m.now())
    await aggregate.save(
        m.store, st.CHALLENGES, doc, m.events([posted], doc["_id"]), expected_version=None, on_saved=m.notify
    )
    return public(doc)


async def get_challenge(m: Matching, cid: str, who: Principal) -> Doc:
    """Open challenges are for everyone to browse; drafts only for their SME and the coordinator."""
    return _visible(await m.store.get(st.CHALLENGES, cid), cid, who)


def _visible(doc: Doc | None, cid: str, who: Principal) -> Doc:
    if doc is None or not dom.visible(who, doc):
        raise NotFound(f"no challenge {cid}")
    return doc


BUSY = "the challenge is busy"


NEWEST_FIRST = [("posted_at", -1), ("suggested_at", -1), ("_id", -1)]  # open by posting, then drafts


def _visible_filter(who: Principal) -> Doc:
    """``dom.visible`` as a store filter: open challenges, and the drafts the caller manages."""
    if who.has(*COORDINATOR):
        return {}
    mine: list[Doc] = [{"status": {"$ne": "draft"}}, {"created_by": who.id}]
    if who.org is not None:
        mine.append({"organisation": who.org})
    return {"$or": mine}


async def list_challenges(
    m: Matching,
    who: Principal,
    *,
    programme: str | None,
    term: str | None,
    status: str | None,
    page: PageRequest | None = None,
) -> list[Doc]:
    """The challenges the caller may see, newest first (open ones by posting, then drafts by suggestion);
    with ``page``, one page of them (the store seeks to the cursor)."""
    q: Doc = _visible_filter(who)
    for k, v in (("programme", programme), ("term", term), ("status", status)):
        if v is not None:
            q[k] = v
    if page is not None:
        docs = await page.query(m.store, st.CHALLENGES, q, NEWEST_FIRST)
    else:
        docs = await m.store.find(st.CHALLENGES, q, sort=NEWEST_FIRST)
    return [public(d) for d in docs]


async def publish_draft(
    m: Matching, cid: str, cmd: c.PostChallenge, who: Principal, if_match: str | None
) -> tuple[Doc, str]:
    """Complete a suggested draft (term, dates, team, terms) and post it; returns it with its new ETag.

    One pass of the read-change-guarded-write loop: a write that lost the race to the relay (which bumps the
    version when it publishes) is tried again, and passes if the content is still what the caller read."""

    async def change(doc: Doc | None) -> tuple[Doc, list[CloudEvent], Doc]:
        doc = _visible(doc, cid, who)
        dom.require_manager(who, doc)
        etags.check(if_match, doc)
        dom.require_draft(doc)
        if cmd.sme_id not in (None, doc.get("sme_id")):
            await _own_sme(m, cmd.sme_id, who)
        await _known_supervisor(m, cmd.supervisor)
        fields = _fields(cmd) | {"sme_id": cmd.sme_id or doc.get("sme_id")}
        new, posted = dom.publish(doc, fields, who, m.now())
        return new, m.events([posted], cid), new

    new = await aggregate.update(m.store, st.CHALLENGES, cid, change, on_saved=m.notify, busy=BUSY)
    return public(new), etags.tag(new)


async def rank_applicants(
    m: Matching, cid: str, ranking: list[str], who: Principal, if_match: str | None
) -> tuple[Doc, str]:
    """The host's ranking of candidates for one challenge (best first); returns it with its new ETag."""

    async def change(doc: Doc | None) -> tuple[Doc, list[CloudEvent], Doc]:
        doc = _visible(doc, cid, who)
        dom.require_ranker(who, doc)
        etags.check(if_match, doc)
        profiles = {d["_id"]: d for d in await m.store.find(st.CANDIDATES, {"_id": {"$in": ranking}})}
        dom.check_applicants(doc, ranking, profiles)
        new = {**doc, "applicant_ranking": ranking}
        return new, [], new

    new = await aggregate.update(m.store, st.CHALLENGES, cid, change, busy=BUSY)
    return public(new), etags.tag(new)


async def list_applicants(m: Matching, cid: str, who: Principal, page: PageRequest) -> tuple[Doc, str]:
    """The candidates whose ranking names the challenge (one page, by id), each with the rank they gave it,
    and the host's ranking; for the challenge's host side only (anyone else: 404, as if it did not
    exist). Returns the answer and the challenge's ETag."""
    doc = _visible(await m.store.get(st.CHALLENGES, cid), cid, who)
    if not dom.ranks_applicants(who, doc):
        raise NotFound(f"no challenge {cid}")
    found = await page.query(m.store, st.CANDIDATES, {"preferences": cid}, [("_id", 1)])
    applicants = [public(p) | {"rank": p["preferences"].index(cid) + 1} for p in found]
    answer = {
        "challenge_id": cid,
        "title": doc["title"],
        "programme": doc["programme"],
        "status": doc["status"],
        "applicant_ranking": doc.get("applicant_ranking", []),
        "applicants": applicants,
    }
    return answer, etags.tag(doc)


async def suggest_draft(m: Matching, d: Assessed) -> bool:
    """An assessment whose greatest need scores low suggests a draft challenge to that SME (once)."""
    await put(m.store, st.SMES, {"_id": d.sme_id, "organisation": d.organisation, "region": d.region})
    doc = dom.suggestion(d, m.draft_need_below, m.now())
    if doc is None:
        return False
    try:
        await aggregate.save(m.store, st.CHALLENGES, doc, [], expected_version=None)
    except aggregate.ConcurrentUpdate:
        return False  # suggested already (the same event again)
    return True
