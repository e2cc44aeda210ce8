"""Demo data: the six Cluster Growth Councils of the consortium cities, each with members of several
constituencies, a past meeting with minutes, a decision and an initiative (some cross-border), and one
upcoming meeting. Real cities, regions and hosts; invented people. Written through the domain, so each
step's events are in the outbox like any other write; idempotent by fixed ids (a council is written last,
so one that exists was seeded whole)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

from clustergrowth import aggregate
from clustergrowth.auth import Principal, org_id, person_id
from clustergrowth.bus.federation import alias
from clustergrowth.context import stamp
from clustergrowth.envelope import CloudEvent
from clustergrowth.settings import DEV_ISSUER
from clustergrowth.store.sqlite import SqliteStore
from contracts import councils as ev
from services.councils import store as st
from services.councils.domain import council as cn
from services.councils.domain import decision as dc
from services.councils.domain import initiative as ini
from services.councils.domain import meeting as mt
from services.councils.handlers.context import Councils

SEEDER = Principal(sub="seed", roles=frozenset({"platform_admin"}), region="IE05", org=None)
FACTORS = [
    {"key": "sme_university", "note": "SME ↔ university interactions"},
    {"key": "cluster_cluster", "note": "cluster ↔ cluster interactions"},
    {"key": "cluster_specific", "note": None},
    {"key": "national_impact", "note": None},
]
# (slug, city, region, host, timezone, purpose, {theme: share of assessed SMEs naming it}, partner slug)
COUNCILS: list[tuple[str, str, str, str, str, str, dict[str, float], str | None]] = [
    ("malaga", "Málaga", "ES61", "Universidad de Málaga", "Europe/Madrid",
     "Electronics and engineering services SMEs of Andalusia with the university", {"finance": 0.42, "talent": 0.35},
     "alcala"),
    ("alcala", "Alcalá de Henares", "ES30", "Universidad de Alcalá", "Europe/Madrid",
     "Smart and efficient energy: SMEs, university and the Community of Madrid", {"technology": 0.39, "markets": 0.31},
     None),
    ("bologna", "Bologna", "ITH5", "Università di Bologna", "Europe/Rome",
     "Packaging machinery and automotive suppliers of Emilia-Romagna", {"talent": 0.44, "markets": 0.37},
     "cork"),
    ("cork", "Cork", "IE05", "Munster Technological University", "Europe/Dublin",
     "Discrete engineering and photonics SMEs of the South-West", {"finance": 0.38, "talent": 0.41},
     "bologna"),
    ("paris-evry", "Paris (Évry)", "FR10", "IMT Business School", "Europe/Paris",
     "Electronics and engineering R&D SMEs of Île-de-France", {"markets": 0.36, "technology": 0.33},
     None),
    ("istanbul", "Istanbul", "TR10", "Istanbul Technical University", "Europe/Istanbul",
     "Machinery, automotive and transport equipment SMEs of the technoparks", {"finance": 0.47, "markets": 0.40},
     "malaga"),
]  # fmt: skip
PEOPLE = [  # (suffix, name, constituency, position)
    ("chair", "Chair", "university", "chair"),
    ("secretary", "Secretary", "intermediary", "secretary"),
    ("sme-1", "SME owner", "sme", "member"),
    ("sme-2", "SME engineer", "sme", "member"),
    ("gov", "Regional agency", "government", "member"),
    ("inv", "Investor", "investor", "observer"),
]


def council_id(slug: str) -> str:
    return f"council-{slug}"


def seed_person(slug: str, suffix: str) -> str:
    """The platform id of a seeded person (a development-issuer subject ``seed-<council>-<suffix>``)."""
    return person_id(DEV_ISSUER, f"seed-{slug}-{suffix}")


async def _insert(f: Councils, collection: str, doc: dict[str, Any], events: list[Any], key: str) -> None:
    try:
        await aggregate.save(f.store, collection, doc, f.events(events, key), expected_version=None, on_saved=f.notify)
    except aggregate.ConcurrentUpdate:
        pass  # seeded before (a run that stopped before its council was written)


async def seed_demo(f: Councils) -> bool:
    """Seed what is missing of this region's councils; True when anything was written."""
    wrote = False
    now = f.clock()
    for slug, city, region, host, tz, purpose, themes, partner in COUNCILS:
        if region != f.region:
            continue  # one instance, one region: another region's council is its own to form and publish
        cid = council_id(slug)
        if await f.store.get(st.COUNCILS, cid) is not None:
            continue
        at = lambda days: stamp(now + timedelta(days=days))  # noqa: E731 - a date relative to the seeding
        fields = {
            "name": f"Cluster Growth Council {city}",
            "city": city,
            "host_organisation": org_id(region, host),
            "purpose": purpose,
            "themes": [
                {"key": k, "label": None, "share": s, "source": "regional growth-needs analysis"}
                for k, s in themes.items()
            ],
            "success_factors": FACTORS,
            "composition": {"min_constituencies": 2, "quorum_rule": "majority", "quorum_fraction": 0.5},
        }
        council, formed = cn.form(cid, fields, region, SEEDER, at(-120))
        events: list[Any] = [formed]
        for n, (suffix, name, constituency, position) in enumerate(PEOPLE):
            req = {
                "kind": "invitation",
                "person": seed_person(slug, suffix),
                "display_name": f"{name}, {city}",
                "email": None,
                "organisation": org_id(region, host) if constituency == "university" else None,
                "constituency": constituency,
                "position": position,
            }
            council, joined = cn.join(council, f"mem-{slug}-{suffix}", req, at(-110 + n))
            events.append(joined)

        # a past meeting, held with minutes, at which a decision launched an initiative
        iid, did, mid = f"ini-{slug}-1", f"dec-{slug}-1", f"mtg-{slug}-1"
        sponsors = (
            [{"council_id": council_id(partner), "region": _region(partner), "confirmed": True}] if partner else []
        )
        proposal = {
            "title": f"{city} joint innovation: shared test bench",
            "summary": "A shared test bench for SMEs and university labs, open to partner clusters.",
            "co_sponsors": sponsors,
            "needs": list(themes)[:1],
        }
        initiative, proposed = ini.propose(iid, council, proposal, seed_person(slug, "sme-1"), at(-75))
        decision = dc.open_decision(
            did,
            council,
            {"title": proposal["title"], "method": "endorsement", "initiative_id": iid, "meeting_id": mid},
            seed_person(slug, "secretary"),
            at(-70),
        )
        for suffix in ("chair", "secretary", "sme-1", "gov"):
            decision = dc.vote(decision, seed_person(slug, suffix), "endorse", "fits the council's themes", at(-60))
        decision = dc.close(
            decision, "Endorsed: launch the shared test bench", "endorse", at(120)[:10], SEEDER.id, at(-60)
        )
        initiative, launched = ini.launch(initiative, did, at(-59))
        meeting, scheduled = mt.schedule(
            mid,
            council,
            {
                "title": "Quarterly council meeting",
                "mode": "hybrid",
                "place": f"{host}, {city}",
                "timezone": tz,
                "start": at(-60),
                "end": stamp(now + timedelta(days=-60, hours=2)),
                "seats": 20,
                "agenda": [{"title": "Growth needs of the region", "minutes": 30}, {"title": proposal["title"]}],
            },
            at(-90),
        )
        for suffix in ("chair", "secretary", "sme-1", "sme-2", "gov"):
            meeting, _ = mt.register(meeting, seed_person(slug, suffix), cn.active_since(council), at(-80))
            meeting = mt.check_in(meeting, cn.find_member(council, f"mem-{slug}-{suffix}"), at(-60))
        action = {"title": "Draft the test bench's access rules", "owner": seed_person(slug, "secretary"),
                  "due_on": at(-30)[:10], "status": "done"}  # fmt: skip
        meeting, held = mt.close(
            meeting, council, "Minutes: needs reviewed; test bench endorsed.", [did], [action], at(-59)
        )
        upcoming, next_scheduled = mt.schedule(
            f"mtg-{slug}-2",
            council,
            {
                "title": "Council meeting",
                "mode": "online",
                "place": None,
                "timezone": tz,
                "start": at(30),
                "end": stamp(now + timedelta(days=30, hours=1, minutes=30)),
                "seats": 4,
                "agenda": [{"title": "Progress of the test bench"}],
            },
            at(-1),
        )
        await _insert(f, st.MEETINGS, meeting, [scheduled, held], mid)
        await _insert(f, st.MEETINGS, upcoming, [next_scheduled], upcoming["_id"])
        await _insert(f, st.DECISIONS, decision, [], did)
        await _insert(f, st.INITIATIVES, initiative, [proposed, launched], iid)
        await _insert(f, st.COUNCILS, council, events, cid)
        wrote = True
    return wrote


def _region(slug: str) -> str:
    return next(c[2] for c in COUNCILS if c[0] == slug)


async def partner_replicas(region: str, scratch: Path) -> dict[str, list[CloudEvent]]:
    """The demo's other council regions as MirrorMaker 2 would deliver them here: each partner's council
    events, made by that region's own domain code in a scratch store of its own, keyed by the replica
    topic (``<alias>.councils.events``). Event ids are ``demo-<region>-councils-<n>`` (marked as demo
    replicas; the same on every start, so publishing them again applies nothing twice)."""
    out: dict[str, list[CloudEvent]] = {}
    for partner in sorted({c[2] for c in COUNCILS} - {region}):
        store = SqliteStore(scratch / f"councils-{partner}.db")
        try:
            await seed_demo(Councils(store, partner))
            events = [
                CloudEvent.from_dict(e)
                for collection in st.OUTBOX_COLLECTIONS
                for d in await store.find(collection, {}, sort=[("_id", 1)])
                for e in d.get("outbox") or []
            ]
        finally:
            await store.close()
        out[f"{alias(partner)}.{ev.TOPIC}"] = [
            dataclasses.replace(e, id=f"demo-{partner}-councils-{n}") for n, e in enumerate(events, 1)
        ]
    return out
