"""Demo SMEs in the six council regions, each assessed, so the cluster map is not empty. A regional
instance creates its own region's; the one-process demo gets the others' as replicated partner data.

Real regions and sectors, invented companies and people; answers are drawn from a fixed seed so
every fresh instance shows the same map.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from pathlib import Path

from clustergrowth.auth import Principal
from clustergrowth.bus.federation import alias
from clustergrowth.envelope import CloudEvent
from clustergrowth.store.sqlite import SqliteStore
from contracts import mapping as ev
from services.mapping import commands as c
from services.mapping import handlers as h
from services.mapping import store as st
from services.mapping.domain.codes import code_lists
from services.mapping.domain.instrument import latest

SEEDER = Principal(sub="seed", roles=frozenset({"platform_admin"}), region="IE05", org=None)
# council region -> (NUTS-3, country, council, sectors with NACE codes)
COUNCILS = {
    "ES61": ("ES617", "ES", "Málaga", ["C26.11", "M71.12", "C26.51"]),
    "ES30": ("ES300", "ES", "Alcalá de Henares", ["C27.11", "D35.11", "C27.12"]),
    "ITH5": ("ITH55", "IT", "Bologna", ["C28.29", "C29.32", "C28.4"]),
    "IE05": ("IE053", "IE", "Cork", ["C25.62", "C28.9", "C33.1", "C26.70"]),
    "FR10": ("FR104", "FR", "Paris (Évry)", ["C26.51", "M71.20", "M72.19"]),
    "TR10": ("TR100", "TR", "Istanbul", ["C28.9", "C29.32", "C30.30"]),
}
# Each region leans towards some needs (lower answers there), echoing the councils' workshops.
LEANINGS = {
    "ES61": ["finance", "internationalisation"],
    "ES30": ["finance", "sustainability"],
    "ITH5": ["talent", "digitalisation"],
    "IE05": ["talent", "finance"],
    "FR10": ["internationalisation", "collaboration"],
    "TR10": ["innovation", "finance"],
}
WORDS = ["Atlas", "Boreal", "Cobalt", "Delta", "Ergon", "Fulcrum", "Gyro", "Helix", "Ion", "Joule", "Kinetic", "Lumen"]


async def seed_demo(m: h.Mapping, per_region: int = 8) -> bool:
    """Seed this region's SMEs once (one instance, one region): returns False when SMEs exist already."""
    if await m.store.count(st.SMES) > 0:
        return False
    await _seed(lambda region: m if region == m.region else None, per_region)
    return True


async def _seed(target: Callable[[str], h.Mapping | None], per_region: int) -> None:
    """Every council region's demo SMEs drawn in one sequence (so each region's SMEs are the same
    whichever region seeds), written through ``target(region)``'s domain, or skipped when it is None."""
    rng = random.Random(2021)
    inst = latest()
    names = code_lists()
    for region, (nuts3, country, council, naces) in COUNCILS.items():
        m = target(region)
        for i in range(per_region):
            headcount = rng.choice([4, 12, 25, 40, 60, 120, 220])
            cmd = c.RegisterSME(
                legal_name=f"{rng.choice(WORDS)} {names.nace[naces[i % len(naces)]].split()[0]} {region}-{i + 1}",
                country=country,
                region=region,
                nuts3=nuts3,
                nace_primary=naces[i % len(naces)],
                headcount=headcount,
                turnover_eur=headcount * 110_000.0,
                balance_sheet_eur=headcount * 80_000.0,
                founded=rng.randint(1975, 2022),
                councils=[council],
                contact=c.Contact(name=f"Contact {i + 1}", email=f"contact{i + 1}@example.org"),
                consent=c.Consent(lawful_basis="consent", note="demo data"),
            )
            answers: dict[str, int | float | str | None] = {}
            for d in inst.dimensions:
                low = d.id in LEANINGS[region]
                for q in d.questions:
                    answers[q.id] = rng.randint(1, 3) if low else rng.randint(2, 5)
            if m is None:
                continue
            sme = await h.register(m, cmd, SEEDER, sme_id=f"demo-{region.lower()}-{i + 1}")
            await h.assess(m, sme["id"], c.SubmitAssessment(instrument_version=inst.version, answers=answers), SEEDER)


async def partner_replicas(region: str, scratch: Path, per_region: int = 8) -> dict[str, list[CloudEvent]]:
    """The demo's other council regions as MirrorMaker 2 would deliver them here: each partner's
    ``SMERegistered`` and ``SMEAssessed``, made by that region's own domain code in a scratch store of its
    own, keyed by the replica topic (``<alias>.mapping.events``). Event ids are ``demo-<region>-<n>``
    (marked as demo replicas; the same on every start, so publishing them again applies nothing twice)."""
    partners = {r: SqliteStore(scratch / f"mapping-{r}.db") for r in sorted(set(COUNCILS) - {region})}
    out: dict[str, list[CloudEvent]] = {}
    try:
        contexts = {r: h.Mapping(store, r) for r, store in partners.items()}
        await _seed(contexts.get, per_region)
        for r, store in partners.items():
            events = [
                CloudEvent.from_dict(e)
                for d in await store.find(st.SMES, {}, sort=[("_id", 1)])
                for e in d.get("outbox") or []
            ]
            out[f"{alias(r)}.{ev.TOPIC}"] = [
                dataclasses.replace(e, id=f"demo-{r}-{n}") for n, e in enumerate(events, 1)
            ]
    finally:
        for store in partners.values():
            await store.close()
    return out
