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

from clustergrowth.settings import TrustedIssuer
from services.facilities.app import FacilitiesService
from services.facilities.network import projection as catalogue
from services.facilities.settings import FacilitiesSettings
from services.mapping import network as netmap
from services.mapping.app import MappingService
from services.mapping.settings import MappingSettings
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
