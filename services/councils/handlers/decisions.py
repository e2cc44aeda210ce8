"""Decisions: proposals put to a council, votes, and the outcome. The council is read for who may act;
the decision is one document written with a guarded write."""

from __future__ import annotations

from typing import Any

from clustergrowth import aggregate
from clustergrowth.auth import Principal
from clustergrowth.envelope import CloudEvent
from clustergrowth.paging import PageRequest
from clustergrowth.problems import Forbidden, NotFound, field_error
from clustergrowth.store.port import Doc
from services.councils import commands as c
from services.councils import store as st
from services.councils.domain import council as cn
from services.councils.domain import decision as dc
from services.councils.handlers.context import Councils
from services.councils.handlers.councils import _id, get_council


def view(doc: Doc, lang: str) -> Doc:
    return {**doc, "state_label": dc.label(doc["state"], lang), "tally": dc.tally(doc)}


async def _visible(f: Councils, cid: str, did: str, who: Principal) -> tuple[Doc, Doc]:
    """The council and its decision, for the council's members and managers (404 for anyone else)."""
    council = await get_council(f, cid)
    cn.require_private(who, council, f.region, f"decision {did}")
    doc = await f.store.get(st.DECISIONS, did)
    if doc is None or doc["council_id"] != cid:
        raise NotFound(f"no decision {did} of council {cid}")
    return council, doc


async def open_decision(f: Councils, cid: str, cmd: c.OpenDecision, who: Principal) -> Doc:
    council = await get_council(f, cid)
    cn.require_manager(who, council, f.region)
    if cmd.initiative_id is not None:
        ini = await f.store.get(st.INITIATIVES, cmd.initiative_id)
        if ini is None or ini["council_id"] != cid:
            raise field_error("initiative_id", f"is not an initiative led by council {cid}")
    if cmd.meeting_id is not None:
        meeting = await f.store.get(st.MEETINGS, cmd.meeting_id)
        if meeting is None or meeting["council_id"] != cid:
            raise field_error("meeting_id", f"is not a meeting of council {cid}")
    doc = dc.open_decision(_id("dec"), council, cmd.model_dump(mode="json"), who.id, f.now())
    await aggregate.save(f.store, st.DECISIONS, doc, [], expected_version=None)
    return doc


async def get_decision(f: Councils, cid: str, did: str, who: Principal) -> Doc:
    return (await _visible(f, cid, did, who))[1]


async def list_decisions(f: Councils, cid: str, who: Principal, page: PageRequest, state: str | None) -> list[Doc]:
    council = await get_council(f, cid)
    cn.require_private(who, council, f.region, f"decisions of council {cid}")
    q: Doc = {"council_id": cid, **({"state": state} if state else {})}
    return await page.query(f.store, st.DECISIONS, q, [("opened_at", -1)])


async def _change(f: Councils, did: str, step: Any) -> Doc:
    async def change(doc: Doc | None) -> tuple[Doc, list[CloudEvent], Doc]:
        assert doc is not None  # read a moment ago; decisions are never deleted
        new = step(doc)
        return new, [], new

    result: Doc = await aggregate.update(f.store, st.DECISIONS, did, change, busy="the decision is busy")
    return result


async def vote(f: Councils, cid: str, did: str, cmd: c.Vote, who: Principal) -> Doc:
    """One vote per voting member, changeable while the decision is open."""
    council, _ = await _visible(f, cid, did, who)
    m = cn.membership_of(council, who.id)
    if m is None or m["position"] not in cn.VOTING:
        raise Forbidden("only the council's voting members vote (observers and staff do not)")
    return await _change(f, did, lambda doc: dc.vote(doc, who.id, cmd.option, cmd.reason, f.now()))


async def close(f: Councils, cid: str, did: str, cmd: c.CloseDecision, who: Principal) -> Doc:
    council, _ = await _visible(f, cid, did, who)
    cn.require_manager(who, council, f.region)
    review = cmd.review_on.isoformat() if cmd.review_on else None
    return await _change(f, did, lambda doc: dc.close(doc, cmd.statement, cmd.chosen_option, review, who.id, f.now()))
