"""The cluster map from per-cell aggregates equals the cluster map computed from every SME's summary.

The oracle is the computation the aggregates replaced, kept here (and only here) as it was: each cell
document held every SME's summary (``old_fold``), and a read ran ``old_cell_needs`` / ``old_spotlight`` /
``cluster.strengths`` over all of them. Random event sequences (registrations, re-assessments,
erasures, SMEs re-appearing after erasure, duplicate deliveries, and crashes after any write of the
live path followed by a redelivery) are folded through both, and every read is compared: the cluster
map, and the spotlight for the network, each region, each council and each region with each council.
Then the projection is rebuilt from the same log and compared again, document for document.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from statistics import fmean
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import make_event
from clustergrowth.store.port import Doc
from clustergrowth.store.sqlite import SqliteStore
from contracts import mapping as ev
from services.mapping import consumers
from services.mapping import handlers as h
from services.mapping import store as mst
from services.mapping.domain import aggregates as ag
from services.mapping.domain import cluster
from services.mapping.domain.instrument import latest
from services.mapping.domain.model import quarter
from services.mapping.migrations import MIGRATIONS

DIMS = [d.id for d in latest().dimensions]
REGIONS, SECTORS, COUNCILS = ["IE05", "ES30"], ["C28", "C25"], ["c1", "c2", "c3"]
T0 = datetime(2025, 11, 20, tzinfo=UTC)


# -- the oracle: the projection and reads as they were before the aggregates --------------------------
def old_fold(doc: Doc, event: CloudEvent) -> Doc:
    d = event.data
    smes: dict[str, Any] = dict(doc.get("smes", {}))
    doc.setdefault("region", d["region"])
    doc.setdefault("sector", d["sector"])
    if event.type == consumers.ERASED:
        smes.pop(d["sme_id"], None)
    else:
        s = dict(smes.get(d["sme_id"], {"history": [], "latest": None}))
        s["headcount"] = d["headcount"]
        s["councils"] = d.get("councils", [])
        if event.type == consumers.ASSESSED:
            s["latest"] = {"scores": d["scores"], "top3": d["top_needs"][:3], "at": d["assessed_at"]}
            mean = round(sum(d["scores"].values()) / len(d["scores"]), 3)
            s["history"] = [*s.get("history", []), {"quarter": quarter(d["assessed_at"]), "mean": mean}]
        smes[d["sme_id"]] = s
    doc["smes"] = smes
    return doc


def old_cells(deliveries: list[CloudEvent]) -> dict[cluster.Cell, list[cluster.SmeSummary]]:
    docs: dict[str, Doc] = {}
    seen: set[str] = set()
    for e in deliveries:
        if e.id in seen:  # apply_once: the cell remembered the ids it had handled
            continue
        seen.add(e.id)
        cid = mst.cell_id(e.data["region"], e.data["sector"])
        old_fold(docs.setdefault(cid, {}), e)
    return {(d["region"], d["sector"]): list(d["smes"].values()) for d in docs.values()}


def old_cluster_map(cells: dict[cluster.Cell, list[cluster.SmeSummary]], stats: dict[cluster.Cell, int]) -> list[Doc]:
    sme_emp = {c: sum(int(s.get("headcount", 0)) for s in ss) for c, ss in cells.items()}
    strength = cluster.strengths(sme_emp, stats)
    return [
        {
            "region": c[0],
            "sector": c[1],
            **old_cell_needs(cells.get(c, []), DIMS),
            "strength": strength.get(c),
        }
        for c in sorted(set(cells) | set(strength))
    ]


def old_cell_needs(smes: list[cluster.SmeSummary], dimensions: list[str]) -> dict[str, Any]:
    """Counts, mean maturity per dimension, share putting each need in their top three, quarterly trend."""
    latest = [s["latest"] for s in smes if s.get("latest")]
    mean_scores = {d: round(fmean(x["scores"][d] for x in latest), 3) for d in dimensions} if latest else {}
    top3 = (
        {d: round(sum(1 for x in latest if d in x["top3"][:3]) / len(latest), 3) for d in dimensions} if latest else {}
    )
    by_quarter: dict[str, list[float]] = defaultdict(list)
    for s in smes:
        for x in s.get("history", []):
            by_quarter[x["quarter"]].append(x["mean"])
    return {
        "smes": len(smes),
        "assessed_smes": len(latest),
        "assessments": sum(len(s.get("history", [])) for s in smes),
        "mean_scores": mean_scores,
        "top3_share": top3,
        "trend": {q: round(fmean(v), 3) for q, v in sorted(by_quarter.items())},
    }


def old_spotlight(
    smes_by_cell: dict[cluster.Cell, list[cluster.SmeSummary]],
    dimensions: list[str],
    region: str | None = None,
    council: str | None = None,
    stand_out: float = 0.5,
) -> dict[str, Any]:
    """A region's (or council's) needs ranked, each against the network, and cells where a need stands out."""

    def pick(s: cluster.SmeSummary, cell: cluster.Cell) -> bool:
        return (region is None or cell[0] == region) and (council is None or council in s.get("councils", []))

    network = old_cell_needs([s for ss in smes_by_cell.values() for s in ss], dimensions)
    mine_by_cell = {c: [s for s in ss if pick(s, c)] for c, ss in smes_by_cell.items()}
    mine = old_cell_needs([s for ss in mine_by_cell.values() for s in ss], dimensions)
    needs = []
    for d in sorted(mine["mean_scores"], key=lambda d: (mine["mean_scores"][d], dimensions.index(d))):
        needs.append(
            {
                "dimension": d,
                "mean_maturity": mine["mean_scores"][d],
                "network_mean_maturity": network["mean_scores"].get(d),
                "gap_to_network": round(mine["mean_scores"][d] - network["mean_scores"].get(d, 0.0), 3),
                "top3_share": mine["top3_share"][d],
                "network_top3_share": network["top3_share"].get(d),
            }
        )
    standouts = []
    for c, ss in sorted(mine_by_cell.items()):
        stats = old_cell_needs(ss, dimensions)
        for d, m in stats["mean_scores"].items():
            gap = m - network["mean_scores"][d]
            if gap <= -stand_out:
                standouts.append(
                    {
                        "region": c[0],
                        "sector": c[1],
                        "dimension": d,
                        "mean_maturity": m,
                        "network_mean_maturity": network["mean_scores"][d],
                        "gap": round(gap, 3),
                    }
                )
    return {
        "region": region,
        "council": council,
        "smes": mine["smes"],
        "assessed_smes": mine["assessed_smes"],
        "needs": needs,
        "standouts": sorted(standouts, key=lambda x: x["gap"]),
    }


# -- random event sequences ----------------------------------------------------------------------------
score = st.one_of(
    st.integers(100, 500).map(lambda x: x / 100),  # as the instrument scores: two decimals, 1-5
    st.floats(1, 5, allow_nan=False),  # any float: the sums must stay exact whatever the bits
)


@st.composite
def steps(draw: st.DrawFn) -> tuple[list[CloudEvent], list[int]]:
    """Events in log order, the deliveries (indices, duplicates included) and writes that crash."""
    events: list[CloudEvent] = []
    for i in range(draw(st.integers(1, 28))):
        sme = draw(st.sampled_from(["s1", "s2", "s3", "s4"]))
        common = {
            "sme_id": sme,
            # mostly the SME's own cell, sometimes another (a cell keyed summary, as before)
            "region": draw(st.sampled_from(REGIONS)) if draw(st.integers(0, 4)) == 0 else REGIONS[int(sme[1]) % 2],
            "sector": SECTORS[int(sme[1]) // 3],
        }
        kind = draw(st.sampled_from(["register", "assess", "assess", "erase"]))
        if kind == "erase":
            data: Any = ev.SMEErased(**common)
        else:
            more = {
                **common,
                "size_class": "small",
                "headcount": draw(st.integers(0, 300)),
                "councils": draw(st.lists(st.sampled_from(COUNCILS), max_size=3)),
            }
            if kind == "register":
                data = ev.SMERegistered(**more, nuts3="X", country="IE", nace=f"{common['sector']}.1")
            else:
                scores = {d: draw(score) for d in DIMS}
                at = T0 + timedelta(days=draw(st.integers(0, 400)))
                data = ev.SMEAssessed(
                    **more,
                    assessment_id=f"a{i}",
                    nace=f"{common['sector']}.1",
                    instrument_version=latest().version,
                    scores=scores,
                    top_needs=draw(st.permutations(DIMS)),
                    assessed_at=at.isoformat(),
                )
        events.append(make_event(data, key=sme, region=common["region"], source="/test/mapping"))
    order = list(range(len(events)))
    for _ in range(draw(st.integers(0, 6))):  # a redelivery of an earlier event, later on
        where = draw(st.integers(1, len(order)))
        order.insert(where, order[draw(st.integers(0, where - 1))])
    crashes = draw(st.lists(st.integers(1, 4 * len(order)), max_size=4, unique=True))
    return [events[i] for i in order], crashes


class Crash(Exception):
    pass


class CrashingStore(SqliteStore):
    """The real embedded store that fails the chosen writes (numbered from 1), as a process crash would."""

    def __init__(self, path: Path, crashes: list[int]) -> None:
        super().__init__(path)
        self.crashes, self.writes = set(crashes), 0

    def _tick(self) -> None:
        self.writes += 1
        if self.writes in self.crashes:
            raise Crash(self.writes)

    async def insert(self, collection: str, doc: Doc) -> None:
        self._tick()
        await super().insert(collection, doc)

    async def replace(self, collection: str, doc: Doc, expected_version: int) -> bool:
        self._tick()
        return await super().replace(collection, doc, expected_version)


STATS = {("IE05", "C28"): 900, ("ES30", "C25"): 40, ("ES30", "C28"): 5}


async def both_ways(deliveries: list[CloudEvent], crashes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = CrashingStore(Path(tmp) / "m.sqlite", [])
        bus = SqliteBus(Path(tmp) / "events.sqlite")
        try:
            for (r, s), n in STATS.items():
                await store.insert(mst.EMPLOYMENT, {"_id": mst.cell_id(r, s), "region": r, "sector": s, "employees": n})
            store.crashes = set(crashes)
            projection = consumers.ClusterMapProjection(store)
            for e in deliveries:
                for _ in range(5):  # a crash: the event is delivered again (it was never committed)
                    try:
                        await projection.handle(e)
                        break
                    except Crash:
                        continue
            store.crashes = set()
            cells = old_cells(deliveries)
            m = h.Mapping(store, "IE05")
            assert await h.cluster_map(m) == old_cluster_map(cells, STATS)
            await reads_match(m, cells)
            live = await dump(store)
            assert all(d["inflight"] == [] for d in live["cells"])  # nothing left half-applied
            assert all(d["pending"] is None for d in live["smes"])

            # The rebuild from the same log (each event once, in log order) gives the same documents.
            log = list({e.id: e for e in deliveries}.values())
            log.sort(key=lambda e: deliveries.index(e))
            await bus.publish(ev.TOPIC, log)
            await consumers.rebuild(store, bus, [ev.TOPIC])
            rebuilt = await dump(store)
            for kind in ("cells", "smes"):
                assert [strip(d) for d in rebuilt[kind]] == [strip(d) for d in live[kind]]
            await reads_match(m, cells)
        finally:
            await bus.close()
            await store.close()


def strip(d: Doc) -> Doc:
    return {k: v for k, v in d.items() if k not in ("version", "applied")}  # applied: in order of delivery


async def dump(store: SqliteStore) -> dict[str, list[Doc]]:
    gen = await mst.generation(store)
    return {
        "cells": sorted(await store.find(gen.cells, {}), key=lambda d: d["_id"]),
        "smes": sorted(await store.find(gen.smes, {}), key=lambda d: d["_id"]),
    }


async def reads_match(m: h.Mapping, cells: dict[cluster.Cell, list[cluster.SmeSummary]]) -> None:
    for region in [None, *REGIONS]:
        for council in [None, *COUNCILS]:
            got = await h.spotlight(m, region=region, council=council)
            assert got == old_spotlight(cells, DIMS, region=region, council=council), (region, council)


@settings(max_examples=60, deadline=None)
@given(steps())
def test_aggregates_answer_as_the_per_sme_computation(case: tuple[list[CloudEvent], list[int]]) -> None:
    asyncio.run(both_ways(*case))


# -- by hand ---------------------------------------------------------------------------------------------
def summary(
    headcount: int, scores: dict[str, float] | None, history: list[tuple[str, float]], councils: list[str]
) -> Doc:
    return {
        "headcount": headcount,
        "councils": councils,
        "latest": {"scores": scores, "top3": sorted(scores, key=scores.__getitem__)[:3]} if scores else None,
        "history": [{"quarter": q, "mean": m} for q, m in history],
    }


def test_a_reassessment_replaces_the_contribution_and_an_erasure_takes_it_out() -> None:
    a = summary(10, {"x": 1.1, "y": 2.2, "z": 3.3, "w": 4.0}, [("2026Q1", 2.65)], ["c1"])
    b = summary(5, {"x": 2.2, "y": 1.1, "z": 3.3, "w": 1.0}, [("2026Q1", 1.9)], ["c1", "c1", "c2"])
    cell = ag.CellAgg()
    cell.add(a)
    cell.add(b)
    b2 = {**b, "latest": summary(5, {"x": 4.4, "y": 4.4, "z": 4.4, "w": 4.4}, [], [])["latest"]}
    b2["history"] = [*b["history"], {"quarter": "2026Q2", "mean": 4.4}]
    cell.add(b, -1)
    cell.add(b2)
    # by hand: 2 SMEs of 15 people, 3 assessments; x = (1.1 + 4.4) / 2 = 2.75; 2026Q1 (2.65 + 1.9) / 2 = 2.275
    needs = cell.all.needs(["x"])
    assert (needs["smes"], cell.all.headcount, needs["assessments"], needs["mean_scores"]) == (2, 15, 3, {"x": 2.75})
    assert needs["trend"] == {"2026Q1": 2.275, "2026Q2": 4.4}
    assert Fraction(cell.all.sums["x"], ag.SCALE) == Fraction(1.1) + Fraction(4.4)  # exact: the floats' values
    assert sorted(cell.councils) == ["c1", "c2"] and cell.councils["c1"].smes == 2  # c1 twice in b: once
    cell.add(b2, -1)  # erased
    assert sorted(cell.councils) == ["c1"] and cell.all.needs(["x"])["mean_scores"] == {"x": 1.1}
    cell.add(a, -1)
    assert cell.all == ag.Agg() and cell.councils == {}  # nothing left over, not even zero keys


def test_a_mean_is_the_correctly_rounded_sum_as_fmean_gives_it() -> None:
    # 0.1 + 0.2 + 0.3 added left to right is 0.6000000000000001; fmean (fsum) and the exact sum give 0.6
    agg = ag.Agg()
    for v in (0.1, 0.2, 0.3):
        agg.add(summary(1, {"x": v}, [("2026Q1", v)], []))
    assert agg.sums["x"] / ag.SCALE == 0.6 and agg.needs(["x"])["trend"] == {"2026Q1": 0.2}
    assert ag.Agg.decode(agg.encode()) == agg


@settings(max_examples=15, deadline=None)
@given(steps())
def test_the_migration_converts_the_old_layout_and_still_knows_its_handled_events(
    case: tuple[list[CloudEvent], list[int]],
) -> None:
    deliveries, _ = case

    async def run() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "m.sqlite")
            try:
                # the old projection, as it stored its cells (generation 1, no meta document yet)
                docs: dict[str, Doc] = {}
                for e in deliveries:
                    cid = mst.cell_id(e.data["region"], e.data["sector"])
                    doc = docs.setdefault(cid, {"_id": cid, "applied_events": []})
                    if e.id not in doc["applied_events"]:
                        old_fold(doc, e)
                        doc["applied_events"].append(e.id)
                for doc in docs.values():
                    await store.insert("cells_g1", doc)
                [migration] = [x for x in MIGRATIONS if x.version == 2]
                assert await migration.apply(store, None) == len(docs)  # type: ignore[arg-type]
                assert await migration.apply(store, None) == 0  # type: ignore[arg-type]  # once
                cells = old_cells(deliveries)
                m = h.Mapping(store, "IE05")
                assert await h.cluster_map(m) == old_cluster_map(cells, {})
                await reads_match(m, cells)
                before = await dump(store)
                for e in deliveries:  # every event delivered again after the upgrade: no effect
                    await consumers.ClusterMapProjection(store).handle(e)
                assert await dump(store) == before
            finally:
                await store.close()

    asyncio.run(run())
