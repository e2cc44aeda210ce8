"""Demo data: WMS assessments of invented SMEs in the six regions of the network, written through the same
path as the API (each with its ``PracticesAssessed`` in the outbox, so the benchmark projection fills
from the log). One instance, one region (issue 18): an instance seeds only its own region's SMEs; the
one-process demo gets the other five regions' assessments as replicated partner events
(``partner_replicas``), which the benchmark projection folds as partners' peers.

Some cells are large enough for a benchmark (24 firms: means and quartiles; 12: means
only), others too small (a few firms), so that their SMEs' benchmarks widen to the section, the country,
the council or the network. Real regions and sectors, invented firms; idempotent by fixed ids (an SME's
facts are written after its assessment, so a seeded SME is whole)."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

from clustergrowth.auth import org_id
from clustergrowth.bus.federation import alias
from clustergrowth.envelope import CloudEvent
from clustergrowth.store.sqlite import SqliteStore
from contracts import training as ev
from services.training import store as st
from services.training.domain.benchmark import country_of, section_of
from services.training.domain.instrument import latest
from services.training.handlers.assessments import record
from services.training.handlers.context import Training

# (region, council city, [(NACE division, size class, number of firms, mean practice level)])
CELLS: list[tuple[str, str, list[tuple[str, str, int, float]]]] = [
    ("IE05", "Cork", [("C28", "small", 24, 2.9), ("C26", "micro", 12, 2.5), ("C33", "medium", 3, 3.2)]),
    ("ES61", "Málaga", [("C26", "small", 24, 2.7), ("M71", "micro", 4, 2.4)]),
    ("ES30", "Alcalá de Henares", [("C27", "small", 12, 2.8), ("D35", "medium", 2, 3.3)]),
    ("ITH5", "Bologna", [("C28", "medium", 24, 3.1), ("C29", "small", 5, 2.8)]),
    ("FR10", "Paris (Évry)", [("C26", "small", 12, 3.0), ("M72", "micro", 3, 2.6)]),
    ("TR10", "Istanbul", [("C29", "medium", 24, 2.8), ("C30", "small", 3, 2.5)]),
]
SEEDER = "seed"


def demo_smes() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for region, city, cells in CELLS:
        for division, size, n, _ in cells:
            for i in range(n):
                sme_id = f"demo-{region.lower()}-{division.lower()}-{size}-{i + 1:02d}"
                out.append(
                    {
                        "_id": sme_id,
                        "region": region,
                        "country": country_of(region),
                        "nace": division,
                        "nace_division": division,
                        "nace_section": section_of(division),
                        "size_class": size,
                        "councils": [city],
                        "organisation": org_id(region, f"Demo {division} {size} {i + 1:02d}"),
                        "top_needs": ["finance", "talent", "internationalisation"],
                    }
                )
    return out


async def seed_demo(t: Training) -> bool:
    """Seed what is missing of this region's SMEs; True when anything was written."""
    inst = latest("wms")
    levels = {(r, d, s): m for r, _, cells in CELLS for d, s, _, m in cells}
    wrote = False
    for sme in demo_smes():
        if sme["region"] != t.region:
            continue  # one instance, one region: another region's SMEs are its own to assess and publish
        sme_id = str(sme["_id"])
        if await t.store.get(st.SMES, sme_id) is not None:
            continue
        rng = random.Random(sme_id)
        mean = levels[(sme["region"], sme["nace_division"], sme["size_class"])]
        answers = {p: max(1, min(5, round(rng.gauss(mean, 0.9)))) for p in inst.practice_ids}
        aid = f"as-{sme_id}"
        if await t.store.get(st.ASSESSMENTS, aid) is None:
            await record(t, sme, inst, answers, None, aid, SEEDER)
        await t.store.insert(st.SMES, dict(sme))
        wrote = True
    return wrote


async def partner_replicas(region: str, scratch: Path) -> dict[str, list[CloudEvent]]:
    """The demo's other regions as MirrorMaker 2 would deliver them here: each partner's
    ``PracticesAssessed``, made by that region's own code in a scratch store of its own, keyed by the
    replica topic (``<alias>.training.events``). Event ids are ``demo-<region>-training-<n>`` (marked as
    demo replicas; the same on every start, so publishing them again applies nothing twice)."""
    out: dict[str, list[CloudEvent]] = {}
    for partner in sorted({r for r, _, _ in CELLS} - {region}):
        store = SqliteStore(scratch / f"training-{partner}.db")
        try:
            await seed_demo(Training(store, partner))
            events = [
                CloudEvent.from_dict(e)
                for collection in st.OUTBOX_COLLECTIONS
                for d in await store.find(collection, {}, sort=[("_id", 1)])
                for e in d.get("outbox") or []
            ]
        finally:
            await store.close()
        out[f"{alias(partner)}.{ev.TOPIC}"] = [
            dataclasses.replace(e, id=f"demo-{partner}-training-{n}") for n, e in enumerate(events, 1)
        ]
    return out
