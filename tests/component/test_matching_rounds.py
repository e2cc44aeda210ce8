"""A round request writes one document, the round; its proposals are written by the sweeper's step
(``materialise``), idempotently, also when an earlier pass was interrupted. Writes are counted by a
store wrapped around the real SQLite adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from clustergrowth.auth import Principal
from clustergrowth.problems import Conflict
from clustergrowth.store.port import Doc, DocumentStore
from clustergrowth.store.sqlite import SqliteStore
from contracts import matching as ev
from services.matching import commands as c
from services.matching import handlers as h
from services.matching import store as st
from tests.helpers import pid

NOW = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
SME = Principal("aoife", frozenset({"sme_member"}), "IE05", org="IE05:rubicon")
PROF = Principal("prof-ucc", frozenset({"academic"}), "IE05")
COORDINATOR = Principal("co", frozenset({"region_admin"}), "IE05")
STUDENTS = [Principal(f"s{i}", frozenset({"student"}), "IE05") for i in (1, 2, 3)]
RUN = c.RunRound(programme="consultancy", term="2027-spring", mode="stable", proposal_ttl_hours=48)


class Counting:
    """A store that records each successful write, and can fail an insert as a lost connection would."""

    def __init__(self, inner: DocumentStore) -> None:
        self.inner = inner
        self.writes: list[tuple[str, str, str]] = []
        self.fail: Callable[[str, Doc], bool] = lambda collection, doc: False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def insert(self, collection: str, doc: Doc) -> None:
        if self.fail(collection, doc):
            raise ConnectionError("the store went away")
        await self.inner.insert(collection, doc)
        self.writes.append(("insert", collection, doc["_id"]))

    async def replace(self, collection: str, doc: Doc, expected_version: int) -> bool:
        ok = await self.inner.replace(collection, doc, expected_version)
        if ok:
            self.writes.append(("replace", collection, doc["_id"]))
        return ok

    async def replace_with_outbox(self, collection: str, doc: Doc, events: list[Doc], expected_version: int) -> bool:
        ok = await self.inner.replace_with_outbox(collection, doc, events, expected_version)
        if ok:
            self.writes.append(("replace", collection, doc["_id"]))
        return ok


@pytest.fixture
async def m(tmp_path: Path) -> AsyncIterator[h.Matching]:
    store = Counting(SqliteStore(tmp_path / "matching.sqlite"))
    ctx = h.Matching(store, "IE05", clock=lambda: NOW)  # type: ignore[arg-type]
    span = {"languages": ["en"], "available_from": date(2027, 1, 1), "available_until": date(2027, 6, 30)}
    await h.put_profile(ctx, c.Profile(kind="academic", supervision_capacity=5, **span), PROF)  # type: ignore[arg-type]
    for title in ("Energy audit of a machining line", "Digital twin of the plant"):
        cmd = c.PostChallenge(
            title=title,
            scope="Measure, model and propose savings for the SME.",
            languages=["en"],
            region="IE05",
            work_mode="remote",
            term="2027-spring",
            starts_on=date(2027, 2, 1),
            ends_on=date(2027, 5, 15),
            capacity=1,
            ip_template="open-results",
            supervisor=pid("prof-ucc"),
        )
        await h.post_challenge(ctx, cmd, SME)
    for who in STUDENTS:
        await h.put_profile(ctx, c.Profile(kind="student", **span), who)  # type: ignore[arg-type]
    store.writes.clear()
    yield ctx
    await store.inner.close()


def counting(m: h.Matching) -> Counting:
    assert isinstance(m.store, Counting)
    return m.store


async def matches(m: h.Matching) -> list[Doc]:
    return await m.store.find(st.MATCHES, {}, sort=[("_id", 1)])


async def test_a_round_request_writes_one_document_and_the_sweeper_writes_its_proposals(m: h.Matching) -> None:
    store = counting(m)
    rnd = await h.start_round(m, RUN, COORDINATOR)
    assert store.writes == [("insert", st.ROUNDS, rnd["_id"])]  # one document, with all it decided
    stored = await m.store.get(st.ROUNDS, rnd["_id"])
    assert stored is not None and stored["status"] == "proposing" and len(stored["assignments"]) == 2
    assert await matches(m) == []
    with pytest.raises(Conflict, match="still writing its proposals"):
        await h.start_round(m, RUN, COORDINATOR)

    store.writes.clear()
    assert await h.sweep(m) == {"expired": 0, "rounds_resumed": 1}
    written = await matches(m)
    assert sorted(store.writes) == sorted(
        [("insert", st.MATCHES, x["_id"]) for x in written] + [("replace", st.ROUNDS, rnd["_id"])]
    )
    assert {x["_id"] for x in written} == {h.match_id(rnd["_id"], a["student"]) for a in rnd["assignments"]}
    for x in written:
        assert [e["type"] for e in x["outbox"]] == [ev.MatchProposed.event_type()]
        assert x["status"] == "proposed" and x["outbox_pending"]
    assert (await m.store.get(st.ROUNDS, rnd["_id"]) or {})["status"] == "proposed"

    # again: the sweeper finds nothing to do; materialising the same round again changes nothing
    store.writes.clear()
    assert await h.sweep(m) == {"expired": 0, "rounds_resumed": 0}
    again = await h.materialise(m, stored)
    assert again is not None and again["status"] == "proposed"
    assert store.writes == [] and await matches(m) == written


async def test_a_round_answers_proposed_after_its_one_write_and_the_sweepers_step(m: h.Matching) -> None:
    store = counting(m)
    out = await h.run_round(m, RUN, COORDINATOR)
    assert out["status"] == "proposed" and "explanations" not in out and len(out["assignments"]) == 2
    first, *proposals, last = store.writes
    assert first == ("insert", st.ROUNDS, out["id"])  # the request's own write; then materialise's
    assert sorted(proposals) == [("insert", st.MATCHES, x["_id"]) for x in await matches(m)]
    assert last == ("replace", st.ROUNDS, out["id"])


async def test_an_interrupted_materialisation_is_finished_by_the_sweeper(m: h.Matching) -> None:
    store = counting(m)
    seen: list[str] = []

    def second_match_fails(collection: str, doc: Doc) -> bool:
        if collection == st.MATCHES:
            seen.append(doc["_id"])
        return collection == st.MATCHES and len(seen) == 2

    store.fail = second_match_fails
    out = await h.run_round(m, RUN, COORDINATOR)
    assert out["status"] == "proposing"  # saved all the same; the answer says its proposals are under way
    assert len(await matches(m)) == 1
    assert (await m.store.get(st.ROUNDS, out["id"]) or {})["status"] == "proposing"

    store.fail = lambda collection, doc: False
    store.writes.clear()
    assert await h.sweep(m) == {"expired": 0, "rounds_resumed": 1}
    written = await matches(m)
    assert len(written) == 2 and [w[1] for w in store.writes] == [st.MATCHES, st.ROUNDS]  # only the missing one
    for x in written:
        assert len(x["outbox"]) == 1 and x["outbox"][0]["data"]["round_id"] == out["id"]
    assert (await m.store.get(st.ROUNDS, out["id"]) or {})["status"] == "proposed"
    assert (await h.run_round(m, RUN, COORDINATOR))["id"].endswith("-r2")  # the next round may start
