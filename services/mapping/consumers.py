"""The cluster-map projection, fed by mapping.events, and its rebuild from the event log.

One small document per cell (region x sector) holds the cell's aggregates (``domain.aggregates``):
counts, sums for the means, top-three counts, trend buckets and SME employment, over all its SMEs and
per council. A read touches only those. Each SME's summary (its current contribution) and the ids of
the events it has handled live in a per-SME document that no query reads.

The live path (``apply``) changes two documents without a transaction, so it writes in steps that a
crash or a second delivery can resume exactly:

1. the SME document: the new summary, the event id among the handled ones, and ``pending`` = the event
   with the summary before it (one guarded write: the event is now recorded for this SME);
2. the cell: the contribution before subtracted, the one after added, and the event id marked
   ``inflight`` in the cell (one guarded write; a retry that finds the mark does not apply it again);
3. the SME document: ``pending`` cleared;
4. the cell: the mark removed.

A later event of the same SME first finishes an unfinished ``pending``. A redelivered event whose id
the SME document holds is a duplicate: it only finishes its own steps if a crash cut them short.
A rebuild folds the whole log in memory into a new generation, writes it, and switches the live
pointer without stopping reads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from clustergrowth.bus.port import EventBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.inbox import APPLIED, WINDOW, was_applied
from clustergrowth.store.port import Doc, DocumentStore, DuplicateKey
from contracts import mapping as ev
from services.mapping import store as st
from services.mapping.domain import aggregates as ag

log = logging.getLogger("services.mapping.consumers")
GROUP = "mapping.cluster-map"
REGISTERED, ASSESSED, ERASED = (m.event_type() for m in (ev.SMERegistered, ev.SMEAssessed, ev.SMEErased))
KINDS = {REGISTERED: ag.REGISTERED, ASSESSED: ag.ASSESSED, ERASED: ag.ERASED}


async def _write(store: DocumentStore, collection: str, new: Doc, old: Doc | None) -> bool:
    """Insert or version-guarded replace; False when someone else wrote first (reload and decide again)."""
    try:
        if old is None:
            await store.insert(collection, new)
            return True
        return await store.replace(collection, new, old["version"])
    except DuplicateKey:
        return False


def _cell_doc(cid: str, region: str, sector: str, agg: ag.CellAgg, inflight: list[Doc]) -> Doc:
    return {"_id": cid, "region": region, "sector": sector, **agg.encode(), "inflight": inflight}


async def _settle(store: DocumentStore, gen: st.Generation, key: str, event_id: str) -> None:
    """Steps 2-4 for the SME document ``key`` whose ``pending`` is ``event_id``."""
    while True:  # 2: the cell, once
        cell = await store.get(gen.cells, key.split("|", 1)[0])
        if cell is not None and any(x["event"] == event_id for x in cell["inflight"]):
            break
        # Read the SME after the cell: had another delivery finished steps 3 and 4 before our read of
        # the cell, its step 3 is visible now, and we must not apply the event a second time.
        sme = await store.get(gen.smes, key)
        if sme is None or (sme.get("pending") or {}).get("event") != event_id:
            break  # settled already: only a mark may be left to remove
        agg = ag.CellAgg.decode(cell) if cell is not None else ag.CellAgg()
        agg.add(sme["pending"]["before"], -1)
        agg.add(sme["summary"], 1)
        # marks of this SME's earlier events are leftovers of a crash before their step 4: drop them
        inflight = [x for x in (cell or {}).get("inflight", []) if x["sme"] != key]
        new = _cell_doc(sme["cell"], sme["region"], sme["sector"], agg, [*inflight, {"event": event_id, "sme": key}])
        if await _write(store, gen.cells, new, cell):
            break
    while True:  # 3: the SME's pending cleared
        sme = await store.get(gen.smes, key)
        if sme is None or (sme.get("pending") or {}).get("event") != event_id:
            break
        if await store.replace(gen.smes, {**sme, "pending": None}, sme["version"]):
            break
    while True:  # 4: the cell's mark removed
        cell = await store.get(gen.cells, key.split("|", 1)[0])
        if cell is None or not any(x["event"] == event_id for x in cell["inflight"]):
            return
        kept = [x for x in cell["inflight"] if x["event"] != event_id]
        if await store.replace(gen.cells, {**cell, "inflight": kept}, cell["version"]):
            return


async def apply(store: DocumentStore, gen: st.Generation, event: CloudEvent) -> bool:
    """Apply one event to the projection once; True if it had not been applied before."""
    d = event.data
    cid = st.cell_id(d["region"], d["sector"])
    key = st.cell_sme_id(cid, d["sme_id"])
    if gen.legacy_applied is not None:  # handled before the migration to aggregates
        legacy = await store.get(gen.legacy_applied, cid)
        if legacy is not None and was_applied({APPLIED: legacy["applied"]}, event.id):  # ids, or digests
            return False
    while True:
        sme = await store.get(gen.smes, key)
        pending = (sme or {}).get("pending")
        if pending is not None and pending["event"] != event.id:
            await _settle(store, gen, key, pending["event"])  # an earlier event's steps, cut short
            continue
        if sme is not None and event.id in sme["applied"]:
            await _settle(store, gen, key, event.id)  # a duplicate; finishes what a crash cut short
            return False
        before = sme["summary"] if sme is not None else None
        new = {
            "_id": key,
            "cell": cid,
            "region": d["region"],
            "sector": d["sector"],
            "summary": ag.fold_summary(before, KINDS[event.type], d),
            "applied": [*(sme["applied"] if sme else []), event.id][-WINDOW:],
            "pending": {"event": event.id, "before": before},
        }
        if await _write(store, gen.smes, new, sme):
            await _settle(store, gen, key, event.id)
            return True


class ClusterMapProjection:
    """Keeps the live generation of the cluster map from events."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    async def handle(self, event: CloudEvent) -> None:
        if event.type not in KINDS:
            return
        await apply(self.store, await st.generation(self.store), event)


async def rebuild(store: DocumentStore, bus: EventBus, topics: Sequence[str]) -> dict[str, Any]:
    """Replay the log into a new generation, switch to it, then catch up on what arrived meanwhile."""
    t0 = time.perf_counter()
    meta = await store.get(st.META, "cluster_map")
    generation = (meta["generation"] if meta else 1) + 1
    target = st.Generation.of({"generation": generation})
    start_mark = await bus.high_water(topics)
    smes: dict[str, Doc] = {}
    cells: dict[str, Doc] = {}
    seen: set[str] = set()
    events = 0
    async for _, event in bus.read(topics):
        if event.type not in KINDS or event.id in seen:
            continue
        seen.add(event.id)
        d = event.data
        cid = st.cell_id(d["region"], d["sector"])
        key = st.cell_sme_id(cid, d["sme_id"])
        cells.setdefault(cid, {"region": d["region"], "sector": d["sector"]})
        s = smes.setdefault(
            key, {"_id": key, "cell": cid, "region": d["region"], "sector": d["sector"], "summary": None, "applied": []}
        )
        s["summary"] = ag.fold_summary(s["summary"], KINDS[event.type], d)
        s["applied"].append(event.id)
        events += 1
    aggs = {cid: ag.CellAgg() for cid in cells}
    for s in smes.values():
        aggs[s["cell"]].add(s["summary"], 1)
    folded_s = time.perf_counter() - t0
    for s in smes.values():
        await store.insert(target.smes, {**s, "applied": s["applied"][-WINDOW:], "pending": None})
    for cid, c in cells.items():
        await store.insert(target.cells, _cell_doc(cid, c["region"], c["sector"], aggs[cid], []))
    if meta is None:
        await store.insert(st.META, {"_id": "cluster_map", "generation": generation})
    else:  # a rebuilt generation has every handled id of its own: no legacy ids any more
        await store.replace(
            st.META,
            {k: v for k, v in meta.items() if k != "legacy_applied"} | {"generation": generation},
            meta["version"],
        )
    # Events published while we read are applied to the new generation once (``apply`` checks ids).
    projection = ClusterMapProjection(store)
    caught_up = 0
    if await bus.high_water(topics) != start_mark:  # something was published after we began: catch up
        async for _, event in bus.read(topics):
            if event.id not in seen:
                await projection.handle(event)
                caught_up += 1
    elapsed = time.perf_counter() - t0
    log.info("cluster map rebuilt: generation %d, %d events, %d cells", generation, events, len(cells))
    return {
        "generation": generation,
        "events": events,
        "cells": len(cells),
        "caught_up": caught_up,
        "fold_seconds": round(folded_s, 3),
        "seconds": round(elapsed, 3),
        "events_per_s": round(events / folded_s, 1) if folded_s else None,
    }
