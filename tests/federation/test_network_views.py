"""The network views across two real regions (tests/federation/conftest.py: a broker and FerretDB each,
MirrorMaker 2 both ways): each region seeds and publishes only its own demo data; the other's arrives as
``<alias>.facilities.events`` / ``<alias>.mapping.events`` and fills the partner catalogue and the
partner cells. Expected values from the seed tables: 8 resources per site (services/facilities/seed.py),
8 assessed SMEs per region (services/mapping/seed.py); Cork's SMEs in C25, C28, C33, C26, Bologna's
in C28, C29."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clustergrowth.auth import Principal
from clustergrowth.bus.federation import heartbeat_pattern, parse_heartbeat
from clustergrowth.bus.kafka import KafkaBus
from clustergrowth.events import make_event
from clustergrowth.settings import TrustedIssuer
from contracts import training as tev
from services.councils import network as councils_network
from services.councils.app import CouncilsService
from services.councils.settings import CouncilsSettings
from services.facilities.app import FacilitiesService
from services.facilities.network import projection as catalogue
from services.facilities.settings import FacilitiesSettings
from services.mapping import network as netmap
from services.mapping.app import MappingService
from services.mapping.settings import MappingSettings
from services.training import projection as peers
from services.training.app import TrainingService
from services.training.settings import TrainingSettings
from tests.federation.conftest import Network, Region
from tests.helpers import eventually

pytestmark = [pytest.mark.integration]
API_BASE = {"IE05": "https://cork.example/api/v1", "ITH5": "https://bologna.example/api/v1"}


def partner_of(region: Region, partner: Region) -> TrustedIssuer:
    return TrustedIssuer(
        issuer=f"https://id.{partner.code.lower()}.example",
        region=partner.code,
        jwks_uri=f"https://id.{partner.code.lower()}.example/jwks",
        api_base=API_BASE[partner.code],
    )


@pytest.fixture
async def services(
    network: Network, tmp_path: Path
) -> AsyncIterator[dict[str, tuple[FacilitiesService, MappingService]]]:
    out: dict[str, tuple[FacilitiesService, MappingService]] = {}
    for region, partner in ((network.ie05, network.ith5), (network.ith5, network.ie05)):
        settings = region.settings(tmp_path, auth_partners=[partner_of(region, partner)], network_stale_after_s=300)
        f = FacilitiesService(settings, FacilitiesSettings(database=region.database("facilities")))
        m = MappingService(settings, MappingSettings(database=region.database("mapping")))
        out[region.code] = (f, m)
    await asyncio.gather(*[s.start() for pair in out.values() for s in pair])
    yield out
    await asyncio.gather(*[s.stop() for pair in out.values() for s in pair])


@pytest.fixture
async def more(network: Network, tmp_path: Path) -> AsyncIterator[dict[str, tuple[CouncilsService, TrainingService]]]:
    """Each region's councils (its demo council seeded: Cork's and Bologna's initiatives name each other)
    and training (nothing seeded: the test publishes what it needs)."""
    out: dict[str, tuple[CouncilsService, TrainingService]] = {}
    for region in (network.ie05, network.ith5):
        settings = region.settings(tmp_path / "more")
        c = CouncilsService(settings, CouncilsSettings(database=region.database("councils")))
        t = TrainingService(
            settings.model_copy(update={"seed_demo": False}), TrainingSettings(database=region.database("training"))
        )
        out[region.code] = (c, t)
    await asyncio.gather(*[s.start() for pair in out.values() for s in pair])
    yield out
    await asyncio.gather(*[s.stop() for pair in out.values() for s in pair])


async def test_each_region_sees_the_others_catalogue_and_cells(
    services: dict[str, tuple[FacilitiesService, MappingService]],
) -> None:
    (fa, ma), (fb, mb) = services["IE05"], services["ITH5"]
    # each region created only its own: Cork holds no Bologna resource and no Bologna SME, and vice versa
    assert {d["region"] for d in await fa.store.find("resources", {})} == {"IE05"}
    assert {d["region"] for d in await mb.store.find("smes", {})} == {"ITH5"}

    async def partner_resources(f: FacilitiesService, region: str) -> bool:
        return await f.store.count(catalogue.RESOURCES, {"region": region}) == 8

    await eventually(lambda: partner_resources(fa, "ITH5"), 120, "Bologna's 8 resources in Cork's catalogue")
    await eventually(lambda: partner_resources(fb, "IE05"), 120, "Cork's 8 resources in Bologna's catalogue")
    lab = await fa.store.get(catalogue.RESOURCES, "ITH5:blq-tecnopolo-lab-1")
    assert lab is not None and (lab["kind"], lab["capacity"], lab["demo"]) == ("lab", 4, False)
    assert fa.network.api_bases == {"ITH5": "https://bologna.example/api/v1"}

    # freshness on the service's clock: 300 s after Bologna's last replicated event fresh, a second past stale
    last = datetime.fromisoformat((await fa.network.last_events())["ITH5"])
    assert fa.network.stale(last.isoformat(), last + timedelta(seconds=300)) is False
    assert fa.network.stale(last.isoformat(), last + timedelta(seconds=301)) is True
    assert last <= datetime.now(UTC)

    async def partner_cells(m: MappingService, region: str, sectors: set[str]) -> bool:
        cells = await m.store.find(netmap.PARTNER_CELLS.cells, {"region": region})
        return {c["sector"] for c in cells} == sectors and sum(c["all"]["assessed"] for c in cells) == 8

    await eventually(lambda: partner_cells(ma, "ITH5", {"C28", "C29"}), 120, "Bologna's SMEs in Cork's network map")
    await eventually(
        lambda: partner_cells(mb, "IE05", {"C25", "C26", "C28", "C33"}), 120, "Cork's SMEs in Bologna's network map"
    )
    cells = await netmap.network_map(ma.mapping)
    assert {(c["region"], c["origin"]) for c in cells} == {("IE05", "local"), ("ITH5", "partner")}
    assert sum(c["assessed_smes"] for c in cells) == 16


async def test_mirrormakers_heartbeats_are_read_in_kafkas_layout_as_a_sign_of_life(
    network: Network, services: dict[str, tuple[FacilitiesService, MappingService]]
) -> None:
    """The real records MirrorMaker 2 writes and replicates (``ith5.heartbeats`` in IE05's cluster and
    ``ie05.heartbeats`` in ITH5's) parse as its Heartbeat layout: cluster aliases of the two regions and a
    timestamp of this run (not before the network started, not after now); each region's catalogue keeps
    the partner's latest as its last heartbeat."""
    for region, partner, service in (("IE05", "ITH5", services["IE05"][0]), ("ITH5", "IE05", services["ITH5"][0])):
        bus = KafkaBus(getattr(network, region.lower()).bootstrap)
        try:
            records = await bus.latest_records(heartbeat_pattern(region))
        finally:
            await bus.close()
        assert records and {k.rsplit("/", 1)[0] for k in records} == {f"{partner.lower()}.heartbeats"}
        beats = [parse_heartbeat(k, v) for k, v in records.values()]
        assert {(b.source, b.target) for b in beats} <= {("ie05", "ith5"), ("ith5", "ie05")}
        assert all(network.started_at <= b.at <= datetime.now(UTC) for b in beats), beats

        async def polled(f: FacilitiesService = service, partner: str = partner) -> bool:
            await f.network.poll_heartbeats(f.bus)
            return (await f.network.signs_of_life()).get(partner, (None, None))[1] is not None

        await eventually(polled, 60, f"{partner}'s heartbeat in {region}'s catalogue")


async def test_a_partners_assessment_is_a_peer_and_a_co_sponsors_answer_reaches_the_lead(
    network: Network, more: dict[str, tuple[CouncilsService, TrainingService]]
) -> None:
    """Across MirrorMaker 2: a PracticesAssessed published in Bologna (ITH5) becomes a peer in Cork's
    network group (keyed ITH5/<sme>, its organisation Bologna's); Cork's staff confirm Cork's co-sponsorship
    of Bologna's seeded initiative and Bologna's initiative shows Cork confirmed, by whom and when."""
    (cork_councils, cork_training), (bologna_councils, bologna_training) = more["IE05"], more["ITH5"]
    data = tev.PracticesAssessed(
        assessment_id="bo-as-1", sme_id="sme-bo-1", instrument="wms", instrument_version="1", region="ITH5",
        country="IT", nace_division="C28", nace_section="C", size_class="medium", councils=["Bologna"],
        scores={"lean_introduction": 4.0}, areas={}, overall=4.0, previous_assessment_id=None,
        assessed_at="2026-06-01T10:00:00Z", organisation="ITH5:ferrari",
    )  # fmt: skip
    event = make_event(data, key="sme-bo-1", region="ITH5", source="/regions/ITH5/training")
    await bologna_training.bus.publish(bologna_training.topic, [event])

    async def peer_in_cork() -> bool:
        collection = await peers.live_collection(cork_training.store)
        doc = await cork_training.store.get(collection, "sme|wms|ITH5/sme-bo-1")
        return doc is not None and doc["organisation"] == "ITH5:ferrari"

    await eventually(peer_in_cork, 120, "Bologna's assessment among Cork's peers")
    collection = await peers.live_collection(cork_training.store)
    net = await cork_training.store.get(collection, "wms|network")
    assert net is not None and (net["n"], net["overall"]["sum"]) == (1, 4.0)

    async def bolognas_initiative_in_cork() -> bool:
        return await cork_councils.store.get(councils_network.INITIATIVES, "ITH5:ini-bologna-1") is not None

    await eventually(bolognas_initiative_in_cork, 120, "Bologna's initiative replicated to Cork")
    staff = Principal(sub="rita", roles=frozenset({"region_admin"}), region="IE05", org=None)
    await councils_network.answer(cork_councils.councils, "council-cork", "ITH5", "ini-bologna-1", "confirmed", staff)

    async def confirmed_in_bologna() -> bool:
        doc = await bologna_councils.store.get("initiatives", "ini-bologna-1") or {}
        return any(c.get("answer") == "confirmed" for c in doc.get("co_sponsors", []))

    await eventually(confirmed_in_bologna, 120, "Cork's confirmation in Bologna's initiative")
    doc = await bologna_councils.store.get("initiatives", "ini-bologna-1") or {}
    (cork,) = doc["co_sponsors"]
    assert (cork["council_id"], cork["region"], cork["confirmed"], cork["answered_by"]) == (
        "council-cork",
        "IE05",
        True,
        staff.id,
    )
