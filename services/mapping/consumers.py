"""The cluster-map projection, fed by mapping.events, and its rebuild from the event log.

One document per cell (region x sector) holds a short summary per SME (headcount, councils, latest
scores and top three needs, the quarterly history); statistics are computed when read. Live updates
go through ``apply_once`` (idempotent); a rebuild folds the whole log in memory into a new
generation, writes it, and switches the live pointer without stopping reads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from clustergrowth.bus.port import EventBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.inbox import APPLIED, WINDOW, apply_once
from clustergrowth.store.port import Doc, DocumentStore
from contracts import mapping as ev
from services.mapping import store as st
from services.mapping.domain.model import quarter

log = logging.getLogger("services.mapping.consumers")
GROUP = "mapping.cluster-map"
REGISTERED, ASSESSED, ERASED = (m.event_type() for m in (ev.SMERegistered, ev.SMEAssessed, ev.SMEErased))


def fold(doc: Doc, event: CloudEvent) -> Doc:
    """Apply one event to a cell document (pure; used by the live path and the rebuild alike)."""
    d = event.data
    smes: dict[str, Any] = dict(doc.get("smes", {}))
    doc.setdefault("region", d["region"])
    doc.setdefault("sector", d["sector"])
    if event.type == ERASED:
        smes.pop(d["sme_id"], None)
    else:
        s = dict(smes.get(d["sme_id"], {"history": [], "latest": None}))
        s["headcount"] = d["headcount"]
        s["councils"] = d.get("councils", [])
        if event.type == ASSESSED:
            s["latest"] = {"scores": d["scores"], "top3": d["top_needs"][:3], "at": d["assessed_at"]}
            mean = round(sum(d["scores"].values()) / len(d["scores"]), 3)  # all the trend needs
            s["history"] = [*s.get("history", []), {"quarter": quarter(d["assessed_at"]), "mean": mean}]
        smes[d["sme_id"]] = s
    doc["smes"] = smes
    return doc


class ClusterMapProjection:
    """Keeps the live generation of the cluster map from events."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    async def handle(self, event: CloudEvent) -> None:
        if event.type not in (REGISTERED, ASSESSED, ERASED):
            return
        collection = await st.active_cells(self.store)
        cid = st.cell_id(event.data["region"], event.data["sector"])
        await apply_once(self.store, collection, cid, event.id, lambda doc: fold(doc, event))


async def rebuild(store: DocumentStore, bus: EventBus, topics: Sequence[str]) -> dict[str, Any]:
    """Replay the log into a new generation, switch to it, then catch up on what arrived meanwhile."""
    t0 = time.perf_counter()
    meta = await store.get(st.META, "cluster_map")
    generation = (meta["generation"] if meta else 1) + 1
    target = f"{st.CELLS_PREFIX}{generation}"
    start_mark = await bus.high_water(topics)
    cells: dict[str, Doc] = {}
    seen: set[str] = set()
    events = 0
    async for _, event in bus.read(topics):
        if event.type not in (REGISTERED, ASSESSED, ERASED) or event.id in seen:
            continue
        seen.add(event.id)
        cid = st.cell_id(event.data["region"], event.data["sector"])
        doc = cells.setdefault(cid, {"_id": cid, APPLIED: []})
        fold(doc, event)
        doc[APPLIED].append(event.id)
        events += 1
    folded_s = time.perf_counter() - t0
    for doc in cells.values():
        doc[APPLIED] = doc[APPLIED][-WINDOW:]
        await store.insert(target, doc)
    if meta is None:
        await store.insert(st.META, {"_id": "cluster_map", "generation": generation})
    else:
        await store.replace(st.META, {**meta, "generation": generation}, meta["version"])
    # Events published while we read are applied to the new generation once (apply_once checks ids).
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
