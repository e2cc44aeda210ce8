"""The sweeper's work: expire lapsed proposals, and materialise rounds whose proposals are not all
written yet (``materialise``: also woken by a round request right after its one write)."""

from __future__ import annotations

from collections.abc import Sequence

from clustergrowth import aggregate
from clustergrowth.context import stamp
from clustergrowth.envelope import CloudEvent
from clustergrowth.problems import Conflict
from clustergrowth.store.port import Doc
from services.matching import store as st
from services.matching.domain import match as mx
from services.matching.domain import round as rd
from services.matching.handlers.context import Matching


class _Unchanged(Exception):
    """Nothing to write: the round is gone or no longer writing its proposals."""

    def __init__(self, doc: Doc | None) -> None:
        super().__init__("unchanged")
        self.doc = doc


async def _by_id(m: Matching, collection: str, ids: list[str]) -> dict[str, Doc]:
    return {d["_id"]: d for d in await m.store.find(collection, {"_id": {"$in": sorted(set(ids))}})}


async def materialise(m: Matching, rnd: Doc) -> Doc | None:
    """Write a ``proposing`` round's proposals, one match document each with its MatchProposed in the
    outbox, then mark the round ``proposed``; returns the round as stored (None: it is gone).

    Idempotent: a match id comes from the round id and the candidate, so a proposal written by an
    earlier (interrupted) pass collides on insert and is left as it is."""
    if rnd["status"] != "proposing":
        return rnd
    challenges = await _by_id(m, st.CHALLENGES, [a["project"] for a in rnd["assignments"]])
    people = await _by_id(m, st.CANDIDATES, [a["student"] for a in rnd["assignments"]])
    for match, data in rd.proposals(rnd, challenges, people):
        try:
            await aggregate.save(
                m.store, st.MATCHES, match.to_doc(), m.events(data, match.id), expected_version=None, on_saved=m.notify
            )
        except aggregate.ConcurrentUpdate:
            pass  # written by an earlier pass

    async def mark(doc: Doc | None) -> tuple[Doc, Sequence[CloudEvent], Doc]:
        new = None if doc is None else rd.proposed(doc)
        if new is None:
            raise _Unchanged(doc)
        return new, [], new

    try:
        return await aggregate.update(m.store, st.ROUNDS, rnd["_id"], mark, busy="the round is busy")
    except _Unchanged as e:
        return e.doc


async def expire_lapsed(m: Matching) -> int:
    """Expire every proposal whose deadline has come (MatchExpired); one try each, the next sweep looks again."""
    now = m.clock()
    expired = 0
    for doc in await m.store.find(st.MATCHES, {"status": "proposed", "expires_at": {"$lte": stamp(now)}}):
        try:
            new, data = mx.expire(mx.Match.of(doc), now)
        except Conflict:
            continue  # not lapsed after all (a deadline stored in another format)
        try:
            await aggregate.save(
                m.store,
                st.MATCHES,
                {**doc, **new.to_doc()},
                m.events(data, doc["_id"]),
                expected_version=doc["version"],
                on_saved=m.notify,
            )
            expired += 1
        except aggregate.ConcurrentUpdate:
            pass  # answered or expired meanwhile; the next sweep looks again
    return expired


async def sweep(m: Matching) -> dict[str, int]:
    """Expire lapsed proposals and finish rounds interrupted while writing proposals."""
    expired = await expire_lapsed(m)
    resumed = 0
    for rnd in await m.store.find(st.ROUNDS, {"status": "proposing"}):
        await materialise(m, rnd)
        resumed += 1
    return {"expired": expired, "rounds_resumed": resumed}
