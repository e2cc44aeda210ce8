"""Candidate profiles: a student's or an academic's own profile and their ranking of challenges.
Each change is one pass of the runtime's read-change-guarded-write loop (``aggregate.update``)."""

from __future__ import annotations

from collections.abc import Sequence

from clustergrowth import aggregate
from clustergrowth.auth import Principal
from clustergrowth.context import public
from clustergrowth.envelope import CloudEvent
from clustergrowth.paging import PageRequest
from clustergrowth.problems import Conflict, NotFound, field_error
from clustergrowth.store.port import Doc
from services.matching import commands as c
from services.matching import store as st
from services.matching.domain import challenge as dom
from services.matching.handlers.context import COORDINATOR, Matching

BUSY = "your profile is busy"


async def put_profile(m: Matching, cmd: c.Profile, who: Principal) -> Doc:
    """Create or update the caller's own profile; one profile (one kind) per person."""
    who.require(cmd.kind)

    async def change(old: Doc | None) -> tuple[Doc, Sequence[CloudEvent], Doc]:
        if old is not None and old["kind"] != cmd.kind:
            raise Conflict(f"your profile is an {old['kind']} profile; one profile per person")
        doc: Doc = {
            **(old or {}),
            "_id": who.id,
            "issuer": who.issuer,
            "subject": who.sub,
            **cmd.model_dump(mode="json"),
            "skills": sorted({s.lower() for s in cmd.skills}),
            "home_region": who.region,
            "organisation": who.org,
            "updated_at": m.now(),
        }
        doc.setdefault("preferences", [])
        return doc, [], public(doc)

    return await aggregate.update(m.store, st.CANDIDATES, who.id, change, busy=BUSY)


async def get_profile(m: Matching, sub: str, who: Principal) -> Doc:
    doc = await m.store.get(st.CANDIDATES, sub)
    if doc is None or not (doc["_id"] == who.id or who.has(*COORDINATOR)):
        raise NotFound(f"no candidate profile {sub}")
    return doc


async def list_supervisors(m: Matching, who: Principal, skill: str | None, page: PageRequest) -> list[Doc]:
    """One page of the academics who keep an academic profile here (that is how an academic offers
    supervision), by id; with ``skill``, those who list it (any case). For those who post challenges."""
    who.require("sme_member", *COORDINATOR)
    q: Doc = {"kind": "academic"}
    if skill is not None:
        if not skill.strip():
            raise field_error("skill", "is empty")
        q["skills"] = skill.strip().lower()  # stored lower-cased
    return [public(d) for d in await page.query(m.store, st.CANDIDATES, q, [("_id", 1)])]


async def set_preferences(m: Matching, ranking: list[str], who: Principal) -> Doc:
    """A candidate ranks open challenges of their programme, best first."""

    async def change(doc: Doc | None) -> tuple[Doc, Sequence[CloudEvent], Doc]:
        if doc is None:
            raise NotFound("you have no candidate profile yet; create it with PUT /candidates/me")
        challenges = {d["_id"]: d for d in await m.store.find(st.CHALLENGES, {"_id": {"$in": ranking}})}
        dom.check_preferences(doc["kind"], ranking, challenges)
        new = {**doc, "preferences": ranking, "updated_at": m.now()}
        return new, [], public(new)

    return await aggregate.update(m.store, st.CANDIDATES, who.id, change, busy=BUSY)
