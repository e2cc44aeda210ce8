"""Allocation rounds: a round request decides the round from what is stored and writes that one
document (``proposing``, with its assignments); its proposals are then written by ``materialise``, the
sweeper's own step, woken right away so that the answer can already say ``proposed``."""

from __future__ import annotations

import logging

from clustergrowth import aggregate
from clustergrowth.auth import Principal
from clustergrowth.context import public
from clustergrowth.paging import PageRequest
from clustergrowth.problems import Conflict, NotFound
from clustergrowth.store.port import Doc
from services.matching import commands as c
from services.matching import store as st
from services.matching.domain import round as rd
from services.matching.domain.challenge import kind_for
from services.matching.handlers.context import COORDINATOR, READERS, Matching
from services.matching.handlers.sweep import materialise

log = logging.getLogger("clustergrowth.matching")
match_id = rd.match_id


def round_summary(doc: Doc) -> Doc:
    return rd.summary(public(doc))


async def start_round(m: Matching, cmd: c.RunRound, who: Principal) -> Doc:
    """Allocate the places left in a programme's term: one write, the round document (``proposing``).

    One round per programme and term at a time: the round id carries a sequence number, so two
    coordinators starting together collide on insert, and a round still proposing blocks the next.
    """
    who.require(*COORDINATOR)
    scope = {"programme": cmd.programme, "term": cmd.term}
    prior = await m.store.find(st.ROUNDS, scope)
    rd.next_id(cmd.programme, cmd.term, prior)  # refuse early while one is still proposing
    open_docs = await m.store.find(st.CHALLENGES, {"status": "open", **scope}, sort=[("_id", 1)])
    supervisors = sorted({d["supervisor"] for d in open_docs if d.get("supervisor")})
    stored = rd.Stored(
        prior=prior,
        live=await m.store.find(st.MATCHES, {**scope, "status": {"$in": list(rd.LIVE)}}),
        ended=await m.store.find(st.MATCHES, {**scope, "status": {"$in": list(rd.ENDED)}}),
        open_challenges=open_docs,
        people=await m.store.find(st.CANDIDATES, {"kind": kind_for(cmd.programme)}, sort=[("_id", 1)]),
        supervisors={d["_id"]: d for d in await m.store.find(st.CANDIDATES, {"_id": {"$in": supervisors}})},
    )
    ttl = cmd.proposal_ttl_hours or m.proposal_ttl_hours
    request = rd.RoundRequest(cmd.programme, cmd.term, cmd.mode, ttl, who.id)
    doc = rd.decide(request, stored, m.clock())
    try:
        await aggregate.save(m.store, st.ROUNDS, doc, [], expected_version=None)
    except aggregate.ConcurrentUpdate as e:
        raise Conflict("another round for this programme and term started at the same moment") from e
    return doc


async def run_round(m: Matching, cmd: c.RunRound, who: Principal) -> Doc:
    """A round request: its one write (``start_round``), then the sweeper's ``materialise`` woken at once.

    Should writing the proposals fail, the round is saved all the same: the answer says ``proposing``
    and the sweeper finishes it on its next pass."""
    doc = await start_round(m, cmd, who)
    try:
        doc = await materialise(m, doc) or doc
    except Exception:  # the round is saved: the sweeper writes its proposals
        log.exception("round %s: proposals not all written yet; the sweeper will finish them", doc["_id"])
    return round_summary(doc)


async def get_round(m: Matching, rid: str, who: Principal) -> Doc:
    doc = await m.store.get(st.ROUNDS, rid)
    if doc is None:
        raise NotFound(f"no round {rid}")
    if who.has(*READERS):
        return public(doc)
    mine = rd.explanation_for(doc, who.id)
    if mine is None:
        raise NotFound(f"no round {rid}")
    return {"id": rid, "programme": doc["programme"], "term": doc["term"], "mode": doc["mode"], "explanation": mine}


async def list_rounds(m: Matching, who: Principal, page: PageRequest) -> list[Doc]:
    """One page of the rounds, newest first (the store seeks to the cursor)."""
    who.require(*READERS)
    docs = await page.query(m.store, st.ROUNDS, {}, [("run_at", -1), ("_id", -1)])
    return [round_summary(d) for d in docs]
