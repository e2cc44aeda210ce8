"""Demo data for the six Cluster Growth Council cities: real places, invented resources and people."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from clustergrowth.auth import Principal, org_id
from clustergrowth.bus.federation import alias
from clustergrowth.envelope import CloudEvent
from clustergrowth.store.sqlite import SqliteStore
from contracts import facilities as ev
from services.facilities import commands as c
from services.facilities import handlers as h
from services.facilities import store as st

SEEDER = Principal(sub="seed", roles=frozenset({"platform_admin"}), region="IE05", org=None)
WEEKDAYS_8_20 = {d: [c.Window(open="08:00", close="20:00")] for d in ("mon", "tue", "wed", "thu", "fri")}  # type: ignore[arg-type]
SAT_9_13 = {"sat": [c.Window(open="09:00", close="13:00")]}  # type: ignore[arg-type]

# (site id, region, name, kind, city, address, timezone, organisation)
SITES = [
    (
        "mlg-pta",
        "ES61",
        "Málaga TechPark",
        "science_park",
        "Málaga",
        "Calle Marie Curie, 29590 Campanillas, Málaga",
        "Europe/Madrid",
        "Universidad de Málaga",
    ),
    (
        "aah-uah",
        "ES30",
        "Universidad de Alcalá Science and Technology Park",
        "university",
        "Alcalá de Henares",
        "Campus Externo, 28805 Alcalá de Henares",
        "Europe/Madrid",
        "Universidad de Alcalá",
    ),
    (
        "blq-tecnopolo",
        "ITH5",
        "Tecnopolo Manifattura di Bologna",
        "science_park",
        "Bologna",
        "Via Stalingrado 84, 40128 Bologna",
        "Europe/Rome",
        "Università di Bologna",
    ),
    (
        "ork-rubicon",
        "IE05",
        "Rubicon Centre, MTU Bishopstown",
        "science_park",
        "Cork",
        "Bishopstown, Cork T12 Y275",
        "Europe/Dublin",
        "Munster Technological University",
    ),
    (
        "evry-genopole",
        "FR10",
        "Genopole campus, Évry",
        "science_park",
        "Évry-Courcouronnes",
        "Rue Henri Desbruères, 91000 Évry-Courcouronnes",
        "Europe/Paris",
        "IMT Business School",
    ),
    (
        "ist-ariteknokent",
        "TR10",
        "ITU ARI Teknokent",
        "science_park",
        "Istanbul",
        "ITU Ayazağa Kampüsü, 34469 Maslak, Sarıyer, İstanbul",
        "Europe/Istanbul",
        "Istanbul Technical University",
    ),
]


def _resources(site_id: str) -> list[tuple[str, c.ListResource]]:
    out = [
        (f"{site_id}-desk-{n}", c.ListResource(site_id=site_id, name=f"Hot desk {n}", kind="hot_desk"))
        for n in range(1, 5)
    ]
    out += [
        (
            f"{site_id}-room-1",
            c.ListResource(
                site_id=site_id,
                name="Meeting room Atlas",
                kind="meeting_room",
                policy=c.PolicyIn(max_duration_minutes=240),
            ),
        ),
        (
            f"{site_id}-lab-1",
            c.ListResource(
                site_id=site_id,
                name="Prototyping lab",
                kind="lab",
                capacity=4,
                policy=c.PolicyIn(requires_approval=True, max_days_ahead=60),
            ),
        ),
        (
            f"{site_id}-eq-1",
            c.ListResource(
                site_id=site_id,
                name="Laser cutter",
                kind="equipment",
                policy=c.PolicyIn(required_training="laser-safety", max_duration_minutes=180),
            ),
        ),
        (
            f"{site_id}-uap-1",
            c.ListResource(
                site_id=site_id,
                name="University access point",
                kind="university_access_point",
                policy=c.PolicyIn(eligible_roles=["student", "academic"]),
            ),
        ),
    ]
    return out


async def seed_demo(f: h.Facilities) -> bool:
    """Seed this region's sites and resources once (one instance, one region: it creates and publishes
    only its own); returns False when the store already holds sites."""
    if await f.store.count(st.SITES) > 0:
        return False
    await _seed_sites(f, [s for s in SITES if s[1] == f.region])
    return True


async def _seed_sites(f: h.Facilities, sites: list[tuple[str, str, str, str, str, str, str, str]]) -> None:
    for site_id, region, name, kind, city, address, tz, org in sites:
        hours = {**WEEKDAYS_8_20, **SAT_9_13}
        cmd = c.CreateSite(
            name=name,
            kind=kind,
            city=city,
            address=address,
            timezone=tz,  # type: ignore[arg-type]
            opening_hours=hours,
            organisation=org_id(region, org),
        )  # type: ignore[arg-type]
        await h.create_site(f, cmd, SEEDER, site_id=site_id)
        for rid, rcmd in _resources(site_id):
            await h.list_resource(f, rcmd, SEEDER, resource_id=rid)


async def partner_replicas(region: str, scratch: Path) -> dict[str, list[CloudEvent]]:
    """The demo's other council regions as MirrorMaker 2 would deliver them here: each partner's
    ``ResourceListed``, made by that region's own domain code in a scratch store of its own, keyed by the
    replica topic (``<alias>.facilities.events``). Event ids are ``demo-<region>-<n>`` (marked as demo
    replicas; the same on every start, so publishing them again applies nothing twice)."""
    out: dict[str, list[CloudEvent]] = {}
    for partner in sorted({s[1] for s in SITES} - {region}):
        store = SqliteStore(scratch / f"facilities-{partner}.db")
        try:
            await _seed_sites(h.Facilities(store, partner), [s for s in SITES if s[1] == partner])
            events = [
                CloudEvent.from_dict(e)
                for d in await store.find(st.RESOURCES, {}, sort=[("_id", 1)])
                for e in d.get("outbox") or []
            ]
        finally:
            await store.close()
        topic = f"{alias(partner)}.{ev.TOPIC}"
        out[topic] = [dataclasses.replace(e, id=f"demo-{partner}-{n}") for n, e in enumerate(events, 1)]
    return out
