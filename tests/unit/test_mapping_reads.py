"""The cluster map's and the spotlight's reads keep what they made of each cell by the cell document's
version: a cell that an event changed is read again, an unchanged one is not, a caller cannot change
what is kept, and what is kept is only the cells of the last read.

Expected figures are worked by hand in the comments.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import make_event
from clustergrowth.store.sqlite import SqliteStore
from contracts import mapping as ev
from services.mapping import consumers
from services.mapping import handlers as h
from services.mapping import store as st
from services.mapping.domain.instrument import latest

DIMS = [d.id for d in latest().dimensions]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "mapping.sqlite")
    yield s
    await s.close()


def assessed(sme: str, region: str, sector: str, score: float, n: int, headcount: int = 10) -> CloudEvent:
    """An assessment with every dimension at ``score``, the first three dimensions as top needs."""
    data = ev.SMEAssessed(
        sme_id=sme,
        assessment_id=f"a{n}",
        region=region,
        nace=f"{sector}.1",
        sector=sector,
        size_class="small",
        headcount=headcount,
        councils=["c1"],
        instrument_version=latest().version,
        scores={d: score for d in DIMS},
        top_needs=DIMS[:3],
        assessed_at=f"2026-{3 * n - 2:02d}-10T10:00:00+00:00",  # in quarter n of 2026
    )
    return make_event(data, key=sme, region=region, source="/test/mapping")


def cell(rows: list[dict[str, Any]], region: str, sector: str) -> dict[str, Any]:
    [row] = [r for r in rows if (r["region"], r["sector"]) == (region, sector)]
    return row


async def test_a_changed_cell_is_read_again_and_an_unchanged_one_is_kept(store: SqliteStore) -> None:
    projection = consumers.ClusterMapProjection(store)
    await projection.handle(assessed("s1", "IE05", "C28", 2.0, 1))
    await projection.handle(assessed("s9", "ES30", "C25", 5.0, 1))
    m = h.Mapping(store, "IE05")
    first = await h.cluster_map(m)
    assert cell(first, "IE05", "C28")["mean_scores"] == {d: 2.0 for d in DIMS}
    gen = (await st.generation(store)).cells
    kept_es30 = m.reads.needs[(gen, "ES30:C25")]

    await projection.handle(assessed("s2", "IE05", "C28", 4.0, 2, headcount=30))
    second = await h.cluster_map(m)
    c28 = cell(second, "IE05", "C28")
    # by hand: two SMEs, (2.0 + 4.0) / 2 = 3.0 in every dimension; 10 + 30 = 40 employees; trend by quarter
    assert (c28["smes"], c28["assessed_smes"], c28["mean_scores"]) == (2, 2, {d: 3.0 for d in DIMS})
    assert c28["trend"] == {"2026Q1": 2.0, "2026Q2": 4.0}
    assert c28["strength"]["employment"]["smes"] == 40
    assert m.reads.needs[(gen, "ES30:C25")] is kept_es30  # the unchanged cell was not computed again
    # its needs are as before (its stars are not: the network's employment grew by 30)
    assert {**cell(second, "ES30", "C25"), "strength": None} == {**cell(first, "ES30", "C25"), "strength": None}
    assert second == await h.cluster_map(h.Mapping(store, "IE05"))  # a context that keeps nothing agrees

    # the spotlight keeps its decoded cells the same way
    spot = await h.spotlight(m, region="IE05")
    assert [(n["dimension"], n["mean_maturity"]) for n in spot["needs"]][:1] == [(DIMS[0], 3.0)]
    await projection.handle(assessed("s3", "IE05", "C28", 1.0, 3))
    again = await h.spotlight(m, region="IE05")
    # by hand: (2.0 + 4.0 + 1.0) / 3 = 2.3333 -> 2.333; the network (with ES30's 5.0): 12 / 4 = 3.0
    assert (again["smes"], again["needs"][0]["mean_maturity"]) == (3, 2.333)
    assert again["needs"][0]["network_mean_maturity"] == 3.0
    assert again == await h.spotlight(h.Mapping(store, "IE05"), region="IE05")


async def test_what_a_caller_does_with_an_answer_does_not_change_the_next(store: SqliteStore) -> None:
    await consumers.ClusterMapProjection(store).handle(assessed("s1", "IE05", "C28", 2.0, 1))
    m = h.Mapping(store, "IE05")
    answer = await h.cluster_map(m)
    row = cell(answer, "IE05", "C28")
    row["mean_scores"][DIMS[0]] = 99.0
    row["top3_share"].clear()
    row["trend"]["2026Q1"] = -1.0
    again = cell(await h.cluster_map(m), "IE05", "C28")
    assert again["mean_scores"][DIMS[0]] == 2.0 and again["top3_share"][DIMS[0]] == 1.0
    assert again["trend"] == {"2026Q1": 2.0}


async def test_only_the_cells_of_the_last_read_are_kept(store: SqliteStore, tmp_path: Path) -> None:
    events = [assessed("s1", "IE05", "C28", 2.0, 1), assessed("s2", "ES30", "C25", 3.0, 1)]
    projection = consumers.ClusterMapProjection(store)
    for e in events:
        await projection.handle(e)
    m = h.Mapping(store, "IE05")
    await h.cluster_map(m)
    await h.spotlight(m)
    before = (await st.generation(store)).cells
    assert sorted(m.reads.needs) == sorted(m.reads.aggs) == [(before, "ES30:C25"), (before, "IE05:C28")]

    # A rebuild writes the cells again in a new collection, here from a log with one more assessment
    # than the live path saw, so that the old collection and the new one differ.
    bus = SqliteBus(tmp_path / "events.sqlite")
    try:
        await bus.publish(ev.TOPIC, [*events, assessed("s3", "IE05", "C28", 5.0, 2)])
        await consumers.rebuild(store, bus, [ev.TOPIC])
    finally:
        await bus.close()
    after = (await st.generation(store)).cells
    assert after != before
    # by hand: IE05 C28 now holds 2.0 and 5.0, mean 3.5
    assert cell(await h.cluster_map(m), "IE05", "C28")["mean_scores"] == {d: 3.5 for d in DIMS}
    assert (await h.spotlight(m, region="IE05"))["needs"][0]["mean_maturity"] == 3.5
    assert sorted(m.reads.needs) == sorted(m.reads.aggs) == [(after, "ES30:C25"), (after, "IE05:C28")]
