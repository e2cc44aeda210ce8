"""The mapping service on FerretDB and Kafka: SMEAssessed reaches Kafka and matches its committed schema."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import jsonschema
import pytest

from clustergrowth.auth import Principal
from clustergrowth.bus.kafka import KafkaBus
from clustergrowth.settings import RuntimeSettings
from contracts import mapping as ev
from services.mapping import commands as c
from services.mapping import handlers as h
from services.mapping.app import MappingService
from services.mapping.domain.instrument import instrument
from services.mapping.settings import MappingSettings
from tests.helpers import eventually, read_all

pytestmark = pytest.mark.integration
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"
ADMIN = Principal(sub="coordinator", roles=frozenset({"region_admin"}), region="ITH5", org=None)


async def test_sme_assessed_reaches_kafka_matching_its_schema(real_settings: RuntimeSettings) -> None:
    service = MappingService(
        real_settings.model_copy(update={"seed_demo": False}),
        MappingSettings(database=f"mapping_{uuid.uuid4().hex[:8]}"),
    )
    await service.start()
    try:
        cmd = c.RegisterSME(
            legal_name="Officine Esempio S.r.l.",
            country="IT",
            region="ITH5",
            nuts3="ITH55",
            nace_primary="C28.29",
            headcount=120,
            turnover_eur=30e6,
            balance_sheet_eur=20e6,
            founded=1988,
            councils=["Bologna"],
            contact=c.Contact(name="Giulia Esempio", email="giulia@example.org"),
            consent=c.Consent(lawful_basis="contract"),
        )
        sme = await h.register(service.mapping, cmd, ADMIN)
        answers = {q: 3 for q in instrument("1").question_ids}
        await h.assess(service.mapping, sme["id"], c.SubmitAssessment(instrument_version="1", answers=answers), ADMIN)
        bus = KafkaBus(real_settings.kafka_bootstrap)

        async def published() -> bool:
            return any(e.name == "SMEAssessed" for e in await read_all(bus, service.topic))

        await eventually(published, what="SMEAssessed on Kafka")
        events = await read_all(bus, service.topic)
        for e in events:
            schema = json.loads((SCHEMAS / f"{e.type}.json").read_text())
            jsonschema.validate(e.data, schema)
        assessed = next(e for e in events if e.type == ev.SMEAssessed.event_type())
        assert assessed.partitionkey == sme["id"] and assessed.region == real_settings.region
        assert assessed.data["size_class"] == "medium" and assessed.data["sector"] == "C28"
        assert "contact" not in json.dumps(assessed.data)  # no personal data in the event log

        async def on_map() -> bool:
            cells = await h.cluster_map(service.mapping, "ITH5")
            return any(x["assessed_smes"] == 1 for x in cells)

        await eventually(on_map, what="the cluster map to show the SME")
    finally:
        await service.stop()
