"""How mapping aggregates and projections map onto documents of the service's own database."""

from __future__ import annotations

from clustergrowth.store.port import DocumentStore

SMES = "smes"  # the SME aggregate, its assessment history embedded, with its outbox
EMPLOYMENT = "employment"  # imported regional employment statistics, one document per cell
META = "projection_meta"  # which generation of the cluster-map projection is live
CELLS_PREFIX = "cells_g"  # cluster-map projection: cells_g<generation>, one document per cell
OUTBOX_COLLECTIONS = (SMES,)


async def ensure_indexes(store: DocumentStore) -> None:
    await store.ensure_index(SMES, ["region"])
    await store.ensure_index(SMES, ["legal_name", "_id"])  # pages of GET /smes, and by region
    await store.ensure_index(SMES, ["region", "legal_name", "_id"])
    await store.ensure_index(SMES, ["outbox_pending"])


def cell_id(region: str, sector: str) -> str:
    return f"{region}:{sector}"


async def active_cells(store: DocumentStore) -> str:
    """The collection that holds the live cluster-map projection."""
    meta = await store.get(META, "cluster_map")
    return f"{CELLS_PREFIX}{meta['generation'] if meta else 1}"
