"""The matching service on FerretDB and Kafka, next to the mapping service: a weak assessment on Kafka
suggests a draft, a round proposes over real storage, racing writers stay consistent, and every
matching event on Kafka matches its committed schema."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date
from pathlib import Path

import jsonschema
import pytest

from clustergrowth import etags
from clustergrowth.auth import Principal
from clustergrowth.bus.kafka import KafkaBus
from clustergrowth.problems import Conflict
from clustergrowth.settings import RuntimeSettings
from services.mapping import commands as mc
from services.mapping import handlers as mh
from services.mapping.app import MappingService
from services.mapping.domain.instrument import instrument
from services.mapping.settings import MappingSettings
from services.matching import commands as c
from services.matching import handlers as h
from services.matching.app import MatchingService
from services.matching.settings import MatchingSettings
from tests.helpers import eventually, read_all

pytestmark = pytest.mark.integration
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"
SME = Principal(sub="aoife", roles=frozenset({"sme_member"}), region="IE05", org="rubicon")
PROF = Principal(sub="prof-ucc", roles=frozenset({"academic"}), region="IE05")
COORDINATOR = Principal(sub="co", roles=frozenset({"region_admin"}), region="IE05")


def student(i: int) -> Principal:
    return Principal(sub=f"s{i}", roles=frozenset({"student"}), region="IE05")


async def test_assessment_to_engagement_over_ferretdb_and_kafka(real_settings: RuntimeSettings) -> None:
    settings = real_settings.model_copy(update={"seed_demo": False})
    mapping = MappingService(settings, MappingSettings(database=f"mapping_{uuid.uuid4().hex[:8]}"))
    matching = MatchingService(settings, MatchingSettings(database=f"matching_{uuid.uuid4().hex[:8]}"))
    await mapping.start()
    await matching.start()
    m = matching.matching
    try:
        sme = await mh.register(
            mapping.mapping,
            mc.RegisterSME(
                legal_name="Rubicon Precision Ltd",
                country="IE",
                region="IE05",
                nuts3="IE053",
                nace_primary="C28.29",
                headcount=40,
                turnover_eur=6e6,
                balance_sheet_eur=4e6,
                founded=2009,
                contact=mc.Contact(name="Aoife Example", email="aoife@example.org"),
                consent=mc.Consent(lawful_basis="consent"),
            ),
            SME,
        )
        answers = {q: (1 if q.startswith("finance") else 4) for q in instrument("1").question_ids}
        await mh.assess(mapping.mapping, sme["id"], mc.SubmitAssessment(instrument_version="1", answers=answers), SME)

        async def drafted() -> bool:
            return bool(await h.list_challenges(m, SME, programme=None, term=None, status="draft"))

        await eventually(drafted, what="a draft challenge suggested from SMEAssessed on Kafka")
        draft = (await h.list_challenges(m, SME, programme=None, term=None, status="draft"))[0]
        span = {"languages": ["en"], "available_from": date(2027, 1, 1), "available_until": date(2027, 6, 30)}
        await h.put_profile(m, c.Profile(kind="academic", **span), PROF)  # type: ignore[arg-type]  # offers supervision
        body = c.PostChallenge(
            title="Financing plan for a new line",
            scope="Build a financing plan and grant map for a new machining line.",
            skills=["finance"],
            languages=["en"],
            region="IE05",
            work_mode="hybrid",
            term="2027-spring",
            starts_on=date(2027, 2, 1),
            ends_on=date(2027, 5, 1),
            capacity=2,
            ip_template="open-results",
            supervisor=PROF.id,
            sme_id=sme["id"],
        )
        read = await h.get_challenge(m, draft["id"], SME)  # the ETag a client reads first
        ch, _ = await h.publish_draft(m, draft["id"], body, SME, etags.tag(read))
        for i in range(3):
            profile = c.Profile(
                kind="student",
                skills=["finance"] if i else [],
                languages=["en"],
                available_from=date(2027, 1, 1),
                available_until=date(2027, 6, 30),
            )
            await h.put_profile(m, profile, student(i))

        # two coordinators start the same round at once: one round, the other is refused
        run = c.RunRound(programme="consultancy", term="2027-spring", mode="optimal", proposal_ttl_hours=24)
        outcomes = await asyncio.gather(*(h.run_round(m, run, COORDINATOR) for _ in range(2)), return_exceptions=True)
        rounds = [o for o in outcomes if isinstance(o, dict)]
        assert len(rounds) == 1 and all(isinstance(o, dict | Conflict) for o in outcomes), outcomes
        rnd = rounds[0]
        assert rnd["metrics"]["matched"] == 2
        assert {a["student"] for a in rnd["assignments"]} == {student(1).id, student(2).id}

        # both sides accept at the same moment: the match becomes active exactly once
        mid = h.match_id(rnd["id"], student(1).id)
        await asyncio.gather(h.accept(m, mid, student(1)), h.accept(m, mid, PROF))
        assert (await h.get_match(m, mid, COORDINATOR))["status"] == "active"
        await h.complete(m, mid, SME)
        await h.rate(m, mid, c.Rating(score=5), student(1))

        bus = KafkaBus(settings.kafka_bootstrap)
        wanted = {"ChallengePosted": 1, "MatchProposed": 2, "MatchAccepted": 1, "EngagementCompleted": 1}

        async def all_published() -> bool:
            names = [e.name for e in await read_all(bus, matching.topic)]
            return all(names.count(n) >= k for n, k in wanted.items())

        await eventually(all_published, what=f"{wanted} on Kafka")
        events = await read_all(bus, matching.topic)
        assert [e.name for e in events].count("MatchAccepted") == 1
        for e in events:
            jsonschema.validate(e.data, json.loads((SCHEMAS / f"{e.type}.json").read_text()))
        assert all(e.partitionkey == e.data.get("match_id", e.data.get("challenge_id")) for e in events)
        assert next(e for e in events if e.name == "ChallengePosted").data["challenge_id"] == ch["id"]
    finally:
        await matching.stop()
        await mapping.stop()
