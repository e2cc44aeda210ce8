"""The training service on FerretDB/MongoDB and Kafka: mapping's SMEAssessed on the real bus makes the SME
known; through the API the SME assesses, sees its benchmark (too few peers here: every rung named with its
size and no statistic), gets a plan, edits it, is invited to re-assess on the service's clock, re-assesses
and sees the deltas; every training event on Kafka, once, and valid against its committed schema. Then
issue 15's whole done-when story (``done_when`` of ``tests/component/test_training_done_when.py``: modules,
the credential, a cross-border placement) on the same backends, with the demo peers seeded."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jsonschema
import pytest

from clustergrowth.auth import DevIssuer
from clustergrowth.bus.kafka import KafkaBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import make_event
from clustergrowth.settings import RuntimeSettings
from contracts import mapping as mapping_ev
from services.training.handlers import plans
from services.training.settings import TrainingSettings
from services.training.spec import SPEC
from tests.component.test_training_api import wms
from tests.component.test_training_done_when import (
    N_EVENTS,
    SUBJECTS,
    check_done_when_events,
    done_when,
    partner_issuer,
    partner_who,
)
from tests.conftest import asgi_client
from tests.helpers import eventually, read_all

pytestmark = pytest.mark.integration
API = "/api/v1/training"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"


async def test_assess_benchmark_plan_invite_reassess_on_real_backends(real_settings: RuntimeSettings) -> None:
    settings = real_settings.model_copy(update={"seed_demo": False})
    own = TrainingSettings(database=f"training_{uuid.uuid4().hex[:10]}")
    org = "org-real"
    owner = {
        "Authorization": "Bearer " + DevIssuer(settings.data_dir).mint(settings, "owner", ["sme_member"], "IE05", org)
    }
    sme_id = f"sme-{uuid.uuid4().hex[:8]}"
    needs = mapping_ev.SMEAssessed(
        sme_id=sme_id, assessment_id="na-1", region="IE05", nace="C28.29", sector="C28", size_class="small",
        headcount=40, councils=["Cork"], instrument_version="1", scores={"finance": 2.0, "talent": 3.0},
        top_needs=["finance", "talent"], assessed_at="2026-01-01T00:00:00.000000Z", organisation=f"IE05:{org}",
    )  # fmt: skip
    bus = KafkaBus(settings.kafka_bootstrap)
    app = SPEC.app(settings, own)
    try:
        async for client in asgi_client(app):  # the service, its consumers and its relay run inside
            await bus.publish(
                settings.topic("mapping.events"),
                [make_event(needs, key=sme_id, region="IE05", source="/regions/IE05/mapping")],
            )
            body = {"sme_id": sme_id, "instrument": "wms", "answers": wms(3, lean_introduction=1)}
            for _ in range(300):  # mapping's event reaches the SME projection
                r = await client.post(f"{API}/assessments", json=body, headers=owner)
                if r.status_code == 201:
                    break
                await asyncio.sleep(0.1)
            assert r.status_code == 201, r.text
            aid = r.json()["id"]
            b = (await client.get(f"{API}/assessments/{aid}/benchmark", headers=owner)).json()
            assert b["group"] is None and b["overall"] is None
            assert [p["level"] for p in b["passed_over"]] == [
                "division_region_size", "section_region_size", "section_country_size", "council", "network"
            ]  # fmt: skip
            plan = (await client.post(f"{API}/plans", json={"assessment_id": aid}, headers=owner)).json()
            assert plan["focus_areas"][0]["practice"] == "lean_introduction"
            tag = (await client.get(f"{API}/plans/{plan['id']}", headers=owner)).headers["etag"]
            edit = {"focus_areas": [{"practice": "lean_introduction", "target": 3}]}
            r = await client.patch(f"{API}/plans/{plan['id']}", json=edit, headers={**owner, "If-Match": tag})
            assert r.status_code == 200, r.text
            t = app.state.training
            day_after = datetime.fromisoformat(plan["due"]).replace(tzinfo=UTC) + timedelta(days=1)
            t.clock = lambda day_after=day_after: day_after
            assert await plans.invite_due(t) == 1 and await plans.invite_due(t) == 0
            again = {**body, "answers": wms(3, lean_introduction=3), "previous_assessment_id": aid}
            r = await client.post(f"{API}/assessments", json=again, headers=owner)
            assert r.status_code == 201, r.text
            c = (await client.get(f"{API}/assessments/{r.json()['id']}/comparison", headers=owner)).json()
            row = next(x for x in c["practices"] if x["practice"] == "lean_introduction")
            assert (row["delta"], row["goal_met"]) == (2.0, True)
            found = await _published(settings, bus, sme_id, plan["id"])
    finally:
        await bus.close()
    names = sorted(e.name for e in found)
    assert names == sorted(
        ["PracticesAssessed", "PracticesAssessed", "ActionPlanCreated", "ActionPlanUpdated", "ReassessmentInvited"]
    )
    for e in found:
        jsonschema.validate(e.data, json.loads((SCHEMAS / f"{e.type}.json").read_text()))
        assert e.region == "IE05"


async def _published(settings: RuntimeSettings, bus: KafkaBus, sme_id: str, plan_id: str) -> list[CloudEvent]:
    """The scenario's five training events on Kafka, each once by id (delivery is at least once)."""
    found: dict[str, CloudEvent] = {}

    async def all_there() -> bool:
        for e in await read_all(bus, settings.topic("training.events")):
            if e.partitionkey in (sme_id, plan_id):
                found[e.id] = e
        return len(found) >= 5

    await eventually(all_there, what="the scenario's five training events on Kafka")
    return list(found.values())


async def test_the_done_when_story_on_real_backends(real_settings: RuntimeSettings, tmp_path: Path) -> None:
    """The component tier's story with the training service on FerretDB and Kafka (the service's own app: no
    mapping here, so the SME is made known by its ``SMEAssessed`` published on Kafka, as above); the demo
    peers seeded at start, Bologna a trusted partner issuer. Its ten training events on Kafka once each."""
    trust, partner_key = partner_issuer(tmp_path)
    settings = real_settings.model_copy(update={"seed_demo": True, "auth_partners": [trust]})
    own = TrainingSettings(database=f"training_{uuid.uuid4().hex[:10]}")
    issuer = DevIssuer(settings.data_dir)

    def who(sub: str, *roles: str, org: str | None = None) -> dict[str, str]:
        return {"Authorization": "Bearer " + issuer.mint(settings, sub, list(roles), "IE05", org)}

    bus = KafkaBus(settings.kafka_bootstrap)

    async def known_sme(client: httpx.AsyncClient, owner: dict[str, str]) -> str:
        sme_id = f"sme-{uuid.uuid4().hex[:8]}"
        needs = mapping_ev.SMEAssessed(
            sme_id=sme_id, assessment_id="na-1", region="IE05", nace="C28.29", sector="C28", size_class="small",
            headcount=40, councils=["Cork"], instrument_version="1", scores={"finance": 2.0, "talent": 3.0},
            top_needs=["finance", "talent"], assessed_at="2026-01-01T00:00:00.000000Z",
            organisation="IE05:org-rubicon",
        )  # fmt: skip
        event = make_event(needs, key=sme_id, region="IE05", source="/regions/IE05/mapping")
        await bus.publish(settings.topic("mapping.events"), [event])
        return sme_id

    app = SPEC.app(settings, own)
    try:
        async for client in asgi_client(app):  # the service, its consumers, its relay and its seed run inside
            ids = await done_when(client, who, partner_who(partner_key), app.state.training, known_sme)
            found = await _story_events(settings, bus, {ids[k] for k in SUBJECTS})
    finally:
        await bus.close()
    check_done_when_events(found, ids)


async def _story_events(settings: RuntimeSettings, bus: KafkaBus, keys: set[str]) -> list[CloudEvent]:
    """The story's training events on Kafka (partition keys ``keys``) once all ten are there, each once by id
    (delivery is at least once: an event relayed twice is one id)."""
    found: dict[str, CloudEvent] = {}

    async def all_there() -> bool:
        for e in await read_all(bus, settings.topic("training.events")):
            if e.partitionkey in keys:
                found[e.id] = e
        return len(found) >= N_EVENTS

    await eventually(all_there, what="the story's ten training events on Kafka")
    return list(found.values())
