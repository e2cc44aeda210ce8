"""How mapping aggregates and projections map onto documents of the service's own database."""

from __future__ import annotations

from dataclasses import dataclass

from clustergrowth.store.port import Doc, DocumentStore

SMES = "smes"  # the SME aggregate, its assessment history embedded, with its outbox
EMPLOYMENT = "employment"  # imported regional employment statistics, one document per cell
META = "projection_meta"  # which generation of the cluster-map projection is live
CELLS_PREFIX = "mapcells_g"  # cluster map: mapcells_g<generation>, one small aggregate document per cell
CELL_SMES_PREFIX = "mapsmes_g"  # its per-SME contributions and handled event ids, never read by a query
NETWORK_CELLS = "netcells"  # partner regions' cells, folded from their replicated events (services/mapping/network.py)
NETWORK_SMES = "netsmes"  # their per-SME contributions
LEGACY_CELLS_PREFIX = "cells_g"  # the layout before aggregates (per-SME summaries in the cell): migrated
OUTBOX_COLLECTIONS = (SMES,)


async def ensure_indexes(store: DocumentStore) -> None:
    await store.ensure_index(SMES, ["region"])
    await store.ensure_index(SMES, ["legal_name", "_id"])  # pages of GET /smes, and by region
    await store.ensure_index(SMES, ["region", "legal_name", "_id"])
    await store.ensure_index(SMES, ["outbox_pending"])


def cell_id(region: str, sector: str) -> str:
    return f"{region}:{sector}"


def cell_sme_id(cell: str, sme_id: str) -> str:
    return f"{cell}|{sme_id}"


@dataclass(frozen=True)
class Generation:
    """The live generation's collections; ``legacy_applied`` holds handled ids carried over by the
    migration from the old layout (consulted by the live path only, and gone after a rebuild)."""

    number: int
    cells: str
    smes: str
    legacy_applied: str | None = None

    @classmethod
    def of(cls, meta: Doc | None) -> Generation:
        n = meta["generation"] if meta else 1
        return cls(n, f"{CELLS_PREFIX}{n}", f"{CELL_SMES_PREFIX}{n}", (meta or {}).get("legacy_applied"))


async def generation(store: DocumentStore) -> Generation:
    return Generation.of(await store.get(META, "cluster_map"))


async def active_cells(store: DocumentStore) -> str:
    """The collection that holds the live cluster-map projection."""
    return (await generation(store)).cells
