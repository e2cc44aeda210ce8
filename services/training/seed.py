"""Demo data: WMS assessments of invented SMEs in the six regions of the network, written through the same
path as the API (each with its ``PracticesAssessed`` in the outbox, so the benchmark projection fills
from the log). Some cells are large enough for a benchmark (24 firms: means and quartiles; 12: means
only), others too small (a few firms), so that their SMEs' benchmarks widen to the section, the country,
the council or the network. Real regions and sectors, invented firms; idempotent by fixed ids (an SME's
facts are written after its assessment, so a seeded SME is whole)."""

from __future__ import annotations

import random
from typing import Any

from clustergrowth.auth import org_id
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
    """Seed what is missing; True when anything was written."""
    inst = latest("wms")
    levels = {(r, d, s): m for r, _, cells in CELLS for d, s, _, m in cells}
    wrote = False
    for sme in demo_smes():
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
