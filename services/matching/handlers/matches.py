"""Matches: reading proposals and engagements, and every step of their lifecycle. Each step loads the
match, asks the domain's state machine (``domain/match.py``) and saves the new state with its events,
in one pass of the runtime's read-change-guarded-write loop (``aggregate.update``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from clustergrowth import aggregate
from clustergrowth.auth import Principal
from clustergrowth.context import public
from clustergrowth.envelope import CloudEvent
from clustergrowth.paging import PageRequest
from clustergrowth.problems import NotFound
from clustergrowth.store.port import Doc
from contracts.matching import Side
from services.matching import commands as c
from services.matching import store as st
from services.matching.domain import match as mx
from services.matching.handlers.context import READERS, Matching

Step = Callable[[mx.Match, Side | None, datetime], tuple[mx.Match, mx.Events]]


def side_of(who: Principal, doc: Doc) -> Side | None:
    if doc["candidate"] == who.id:
        return "candidate"
    if doc.get("supervisor") == who.id or (who.org is not None and doc.get("organisation") == who.org):
        return "host"
    return None


def _visible(who: Principal, doc: Doc) -> bool:
    return side_of(who, doc) is not None or who.has(*READERS)


async def get_match(m: Matching, mid: str, who: Principal) -> Doc:
    doc = await m.store.get(st.MATCHES, mid)
    if doc is None or not _visible(who, doc):
        raise NotFound(f"no match {mid}")
    return doc


async def list_matches(m: Matching, who: Principal, status: str | None, page: PageRequest) -> list[Doc]:
    """One page of the matches the caller is a side of (every match for READERS), newest first."""
    q: Doc = {"status": status} if status else {}
    if not who.has(*READERS):  # ``side_of`` as a store filter
        sides: list[Doc] = [{"candidate": who.id}, {"supervisor": who.id}]
        if who.org is not None:
            sides.append({"organisation": who.org})
        q["$or"] = sides
    docs = await page.query(m.store, st.MATCHES, q, [("proposed_at", -1), ("_id", -1)])
    return [public(d) for d in docs]


def stored(doc: Doc, match: mx.Match) -> Doc:
    """The match's new state over its stored document (which keeps its outbox and version)."""
    return {**doc, **match.to_doc()}


async def _change(m: Matching, mid: str, who: Principal, step: Step) -> Doc:
    """Load, apply ``step(match, side, now)``, save with its events; a lost race reads and decides again.
    A proposal found lapsed is expired (saved with its MatchExpired) and the caller gets 409."""

    async def change(doc: Doc | None) -> tuple[Doc, Sequence[CloudEvent], Doc | mx.ProposalExpired]:
        if doc is None or not _visible(who, doc):
            raise NotFound(f"no match {mid}")
        match, now = mx.Match.of(doc), m.clock()
        if match.lapsed(now):
            new, data = mx.expire(match, now)
            return stored(doc, new), m.events(data, mid), mx.ProposalExpired(match)
        new, data = step(match, side_of(who, doc), now)
        saved = stored(doc, new)
        return saved, m.events(data, mid), public(saved)

    result = await aggregate.update(m.store, st.MATCHES, mid, change, on_saved=m.notify, busy="the match is busy")
    if isinstance(result, mx.ProposalExpired):
        raise result
    return result


async def accept(m: Matching, mid: str, who: Principal) -> Doc:
    return await _change(m, mid, who, mx.accept)


async def decline(m: Matching, mid: str, cmd: c.Decline, who: Principal) -> Doc:
    return await _change(m, mid, who, lambda x, side, now: mx.decline(x, side, now, cmd.reason))


async def add_milestone(m: Matching, mid: str, cmd: c.Milestone, who: Principal) -> Doc:
    due_on = cmd.due_on.isoformat()
    return await _change(m, mid, who, lambda x, side, now: mx.add_milestone(x, side, cmd.title, due_on))


async def milestone_done(m: Matching, mid: str, n: int, who: Principal) -> Doc:
    return await _change(m, mid, who, lambda x, side, now: mx.milestone_done(x, side, n, now))


async def complete(m: Matching, mid: str, who: Principal) -> Doc:
    return await _change(m, mid, who, mx.complete)


async def rate(m: Matching, mid: str, cmd: c.Rating, who: Principal) -> Doc:
    def step(x: mx.Match, side: Side | None, now: datetime) -> tuple[mx.Match, mx.Events]:
        return mx.rate(x, side, now, score=cmd.score, comment=cmd.comment, by=who.id)

    return await _change(m, mid, who, step)
