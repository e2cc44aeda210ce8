"""The network cluster map (issue 18): this region's cells beside partners' cells, stars across all.

Partners' ``SMERegistered``/``SMEAssessed``/``SMEErased``, replicated here as
``<alias>.mapping.events``, are folded by the same exact per-cell aggregates as the local map
(``consumers.apply``: re-assessment replaces an SME's contribution, erasure removes it, a redelivered
replica applies once) into collections of their own, ``netcells``/``netsmes``, keyed by region like the
local cells. An event whose data names another region than the partner it came from is not folded: one
region never speaks for another. This region's own cells stay the local projection's (not copied).

The cluster map, its heatmap and the spotlight read both (``handlers._cell_docs``), and the network view
here says which cells are whose: the stars are computed once over every region's cells, so a cell's size
rank and focus are relative to the whole network, as the classic stars are meant to be. A partner's
cells are as of its last replicated event (``as_of``).
"""

from __future__ import annotations

import logging
from typing import Any

from clustergrowth.bus.federation import Origin
from clustergrowth.envelope import CloudEvent
from clustergrowth.store.port import Doc, DuplicateKey
from services.mapping import consumers
from services.mapping import store as st
from services.mapping.domain import aggregates, cluster
from services.mapping.domain.instrument import latest
from services.mapping.handlers import Mapping

log = logging.getLogger("services.mapping.network")
GROUP = "mapping.network"
PARTNER_CELLS = st.Generation(0, st.NETWORK_CELLS, st.NETWORK_SMES)
AS_OF = "netmeta"  # per partner region: the time of its last folded event


class NetworkClusterMap:
    """Folds partners' SME events into partner cells."""

    def __init__(self, m: Mapping) -> None:
        self.m = m

    async def ensure_indexes(self) -> None:
        await self.m.store.ensure_index(PARTNER_CELLS.cells, ["region"])

    async def handle(self, event: CloudEvent, origin: Origin) -> None:
        if origin.partner is None or event.type not in consumers.KINDS:
            return  # ours: the local projection has it
        if event.data.get("region") != origin.region or origin.region == self.m.region:
            log.warning(
                "partner %s event %s names region %r: not folded", origin.region, event.id, event.data.get("region")
            )
            return
        if await consumers.apply(self.m.store, PARTNER_CELLS, event):
            await _touch(self.m, origin.region, event.time)


async def _touch(m: Mapping, region: str, at: str) -> None:
    while True:
        doc = await m.store.get(AS_OF, region)
        if doc is not None and doc["last_event_at"] >= at:
            return  # ISO 8601 UTC times of one producer compare as strings
        new = {"_id": region, "last_event_at": at}
        try:
            if doc is None:
                await m.store.insert(AS_OF, new)
                return
            if await m.store.replace(AS_OF, new, doc["version"]):
                return
        except DuplicateKey:  # a concurrent first insert: read again
            continue


async def network_map(m: Mapping, region: str | None = None) -> list[Doc]:
    """Every region's cells (this region's from the local projection, partners' from their events) with
    needs and the stars computed over the whole network."""
    dims = [d.id for d in latest().dimensions]
    local = await m.store.find(await st.active_cells(m.store), {})
    partners = [d for d in await m.store.find(PARTNER_CELLS.cells, {}) if d["region"] != m.region]
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for d in [*local, *partners]:
        cells[(d["region"], d["sector"])] = d["all"]
    origin = {(d["region"], d["sector"]): "partner" for d in partners}
    stats = {(d["region"], d["sector"]): d["employees"] for d in await m.store.find(st.EMPLOYMENT, {})}
    strength = cluster.strengths({c: a["headcount"] for c, a in cells.items()}, stats, m.thresholds)
    as_of = {d["_id"]: d["last_event_at"] for d in await m.store.find(AS_OF, {})}
    empty = aggregates.Agg().encode()
    out = []
    for cell in sorted(set(cells) | set(strength)):
        if region and cell[0] != region:
            continue
        kind = origin.get(cell, "local" if cell in cells else "statistics")
        out.append(
            {
                "region": cell[0],
                "sector": cell[1],
                "origin": kind,
                "as_of": as_of.get(cell[0]) if kind == "partner" else None,
                **aggregates.needs_of(cells.get(cell, empty), dims),
                "strength": strength.get(cell),
            }
        )
    return out
