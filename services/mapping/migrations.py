"""Data migrations of the mapping service (run once each by the service kernel, in order)."""

from __future__ import annotations

from typing import Any

from clustergrowth.inbox import APPLIED
from clustergrowth.migrations import Identities, Migration, rewrite
from clustergrowth.store.port import DocumentStore, put
from services.mapping import store as st
from services.mapping.domain import aggregates as ag


async def _identities(store: DocumentStore, ids: Identities) -> int:
    """SMEs: their organisation as a platform id, the people who registered and assessed them by issuer."""

    def sme(d: dict[str, Any]) -> dict[str, Any]:
        consent = d.get("consent")
        return {
            **d,
            "organisation": ids.org(d.get("organisation")),
            "created_by": ids.person(d.get("created_by")),
            **({"consent": {**consent, "recorded_by": ids.person(consent.get("recorded_by"))}} if consent else {}),
            "assessments": [{**a, "assessed_by": ids.person(a.get("assessed_by"))} for a in d.get("assessments", [])],
        }

    def employment(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "imported_by": ids.person(d.get("imported_by"))}

    return await rewrite(store, st.SMES, sme) + await rewrite(store, st.EMPLOYMENT, employment)


async def _cluster_map_aggregates(store: DocumentStore, ids: Identities) -> int:
    """The cluster map from per-SME summaries in each cell to per-cell aggregates: converted, not replayed.

    The live generation's cells (``cells_g<n>``) are read once; each SME summary becomes its per-SME
    document and the cell's aggregate is their sum, written as generation n+1, which then goes live. The
    cells' handled-event ids are kept beside it (``legacy_applied``) so that an event delivered again after
    the upgrade is still recognised; the next ``clustergrowth rebuild mapping`` drops them.
    """
    meta = await store.get(st.META, "cluster_map")
    if meta is not None and meta.get("layout") == 2:
        return 0  # already converted (a replica ran it first)
    old = (meta or {}).get("generation", 1)
    cells = await store.find(f"{st.LEGACY_CELLS_PREFIX}{old}", {})
    if not cells:
        return 0  # nothing in the old layout: the new one starts empty
    target = st.Generation.of({"generation": old + 1})
    legacy = f"mapapplied_g{old + 1}"
    for cell in cells:
        cid, agg = cell["_id"], ag.CellAgg()
        for sme_id, summary in cell.get("smes", {}).items():
            key = st.cell_sme_id(cid, sme_id)
            doc = {"_id": key, "cell": cid, "region": cell["region"], "sector": cell["sector"]}
            await put(store, target.smes, {**doc, "summary": summary, "applied": [], "pending": None})
            agg.add(summary, 1)
        await put(store, legacy, {"_id": cid, "applied": cell.get(APPLIED, [])})
        await put(
            store,
            target.cells,
            {"_id": cid, "region": cell["region"], "sector": cell["sector"], **agg.encode(), "inflight": []},
        )
    new_meta = {"_id": "cluster_map", "generation": old + 1, "layout": 2, "legacy_applied": legacy}
    if meta is None:
        await store.insert(st.META, new_meta)
    else:
        await store.replace(st.META, {**meta, **new_meta}, meta["version"])
    return len(cells)


MIGRATIONS = (
    Migration(1, "identities keyed by issuer", _identities),
    Migration(2, "cluster map as per-cell aggregates", _cluster_map_aggregates),
)
