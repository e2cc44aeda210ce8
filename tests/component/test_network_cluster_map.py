"""The network cluster map (issue 18): partners' SME events, replicated here as ``ith5.mapping.events``,
are folded into partner cells beside this region's own; the stars are computed over every region's
cells. Oracle: the figures below are worked out by hand from the events sent (no employment statistics
imported, classic thresholds: size top 10 % of the sector's regions, LQ >= 2, focus top 10 % of cells).

  cells          employment  region total  share of region  sector total  LQ = share / (sector / 60)
  IE05 C28 (L)   10          10            1.0              C28: 40       1.0 / (40/60) = 1.5
  ITH5 C28 (P1)  30          50            0.6              C28: 40       0.6 / (40/60) = 0.9
  ITH5 C29 (P2)  20          50            0.4              C29: 20       0.4 / (20/60) = 1.2

Size: in C28, L has one region (P1) above it: 1/2 is not < 10 %, no star (rank 2); P1 and P2 lead their
sectors (rank 1, star). Focus: shares 1.0 > 0.6 > 0.4: only L is in the top 10 % of 3 cells (0 above).
So L has 1 star in the network view, where alone it would have 2 (size rank 1 of 1, focus); the region's
own cluster map (GET /cluster-map) reads the partner cells too, so it says the same."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from clustergrowth.envelope import CloudEvent
from clustergrowth.events import make_event
from clustergrowth.settings import RuntimeSettings
from contracts import mapping as mev
from instance.app import create_app
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import eventually, publish_on

API = "/api/v1/mapping"
DIMS = ["innovation", "digitalisation", "internationalisation", "talent", "finance", "rnd_facilities",
        "collaboration", "sustainability"]  # fmt: skip


def assessed(sme: str, region: str, sector: str, headcount: int, scores: dict[str, float], n: int = 1,
             data_region: str | None = None) -> CloudEvent:  # fmt: skip
    data = mev.SMEAssessed(
        sme_id=sme,
        assessment_id=f"{sme}-a{n}",
        region=data_region or region,
        nace=f"{sector}.1",
        sector=sector,
        size_class="small",
        headcount=headcount,
        councils=[],
        instrument_version="1",
        scores=scores,
        top_needs=sorted(scores, key=lambda d: scores[d])[:3],
        assessed_at=f"2027-0{n}-10T09:00:00+00:00",
    )
    e = make_event(data, key=sme, region=region, source=f"/regions/{region}/mapping")
    return dataclasses.replace(e, time=f"2027-0{n}-10T09:00:01+00:00")


def erased(sme: str, region: str, sector: str) -> CloudEvent:
    data = mev.SMEErased(sme_id=sme, region=region, sector=sector)
    return make_event(data, key=sme, region=region, source=f"/regions/{region}/mapping")


def flat(value: float, **over: float) -> dict[str, float]:
    return {d: over.get(d, value) for d in DIMS}


@pytest.fixture
def settings(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(data_dir=tmp_path / "data", region="IE05", seed_demo=False, relay_interval_s=0.05)


@pytest.fixture
async def app(settings: RuntimeSettings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async for client in asgi_client(app):
        yield app, client


async def publish(app: FastAPI, topic: str, *events: CloudEvent) -> None:
    await publish_on(app, "mapping", topic, *events)


def by_cell(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["region"], r["sector"]): r for r in rows}


async def network(client: httpx.AsyncClient, who: dict[str, str], **params: str) -> dict[tuple[str, str], Any]:
    r = await client.get(f"{API}/network/cluster-map", params=params, headers=who)
    assert r.status_code == 200, r.text
    return by_cell(r.json())


async def test_partner_cells_beside_ours_with_stars_relative_to_the_network(
    app: tuple[FastAPI, httpx.AsyncClient], token: TokenFactory
) -> None:
    a, client = app
    who = {"Authorization": token("ana", "analyst")}
    await publish(a, "mapping.events", assessed("ork-1", "IE05", "C28", 10, flat(2.0, talent=4.0)))
    c29 = assessed("blq-2", "ITH5", "C29", 20, flat(4.0))
    # the same event twice: a replica redelivered after a MirrorMaker 2 failover
    await publish(a, "ith5.mapping.events", assessed("blq-1", "ITH5", "C28", 30, flat(3.0)), c29, c29)

    async def three() -> bool:
        return len(await network(client, who)) == 3

    await eventually(three, 30, "the local cell and the two partner cells")
    cells = await network(client, who)
    local, p1, p2 = cells[("IE05", "C28")], cells[("ITH5", "C28")], cells[("ITH5", "C29")]
    assert (local["origin"], p1["origin"], p2["origin"]) == ("local", "partner", "partner")
    assert (local["as_of"], p1["as_of"]) == (None, "2027-01-10T09:00:01+00:00")
    assert local["mean_scores"] == flat(2.0, talent=4.0)
    assert (p1["mean_scores"], p2["mean_scores"]) == (flat(3.0), flat(4.0))
    assert [(c["smes"], c["assessed_smes"], c["assessments"]) for c in (local, p1, p2)] == [(1, 1, 1)] * 3
    s = {k: c["strength"] for k, c in cells.items()}
    assert [(x["stars"], x["size"]["star"], x["size"]["rank_in_sector"]) for x in s.values()] == [
        (1, False, 2),  # IE05 C28: second of two regions in C28
        (1, True, 1),  # ITH5 C28
        (1, True, 1),  # ITH5 C29
    ]
    assert [x["specialisation"]["location_quotient"] for x in s.values()] == [1.5, 0.9, 1.2]
    assert [(x["focus"]["star"], x["focus"]["rank"], x["focus"]["cells"]) for x in s.values()] == [
        (True, 1, 3), (False, 2, 3), (False, 3, 3)
    ]  # fmt: skip
    assert s[("IE05", "C28")]["specialisation"]["total_employment"] == 60

    # the region's cluster map is the network's too: the same cells, the same stars (Cork's size rank 2 of
    # 2 in C28; alone it would be 1 of 1 with 2 stars)
    classic = by_cell((await client.get(f"{API}/cluster-map", headers=who)).json())
    assert {k: c["strength"] for k, c in classic.items()} == s
    assert {k: c["mean_scores"] for k, c in classic.items()} == {k: c["mean_scores"] for k, c in cells.items()}
    # one region's cells
    assert list(await network(client, who, region="ITH5")) == [("ITH5", "C28"), ("ITH5", "C29")]


async def test_a_partners_reassessment_and_erasure_change_its_cells(
    app: tuple[FastAPI, httpx.AsyncClient], token: TokenFactory
) -> None:
    a, client = app
    who = {"Authorization": token("ana", "analyst")}
    first = assessed("blq-1", "ITH5", "C28", 30, flat(3.0))
    await publish(a, "ith5.mapping.events", first, assessed("blq-2", "ITH5", "C29", 20, flat(4.0)))
    await publish(a, "ith5.mapping.events", assessed("blq-1", "ITH5", "C28", 30, flat(1.0), n=2), first)
    await publish(a, "ith5.mapping.events", erased("blq-2", "ITH5", "C29"))

    async def settled() -> bool:
        cells = await network(client, who)
        c28, c29 = cells.get(("ITH5", "C28")), cells.get(("ITH5", "C29"))
        return bool(c28 and c29 and c28["assessments"] == 2 and c29["smes"] == 0)

    await eventually(settled, 30, "the re-assessment and the erasure folded")
    cells = await network(client, who)
    c28 = cells[("ITH5", "C28")]
    # the latest assessment counts for the means; both for the trend (Jan: 3.0, Feb: 1.0); the first
    # assessment delivered again after the second changed nothing (assessments stays 2)
    assert (c28["smes"], c28["assessed_smes"], c28["mean_scores"]) == (1, 1, flat(1.0))
    assert c28["trend"] == {"2027Q1": 2.0}
    assert cells[("ITH5", "C29")]["assessed_smes"] == 0
    assert cells[("ITH5", "C29")]["as_of"] is not None


async def test_a_partner_event_naming_another_region_is_not_folded(
    app: tuple[FastAPI, httpx.AsyncClient], token: TokenFactory
) -> None:
    a, client = app
    who = {"Authorization": token("ana", "analyst")}
    # ITH5's replica carrying data about a TR10 SME (its envelope says ITH5): ITH5 cannot speak for TR10
    await publish(a, "ith5.mapping.events", assessed("ist-1", "ITH5", "C30", 50, flat(2.0), data_region="TR10"))
    await publish(a, "ith5.mapping.events", assessed("blq-1", "ITH5", "C28", 30, flat(3.0)))

    async def one() -> bool:
        return len(await network(client, who)) == 1

    await eventually(one, 30, "the valid partner event folded")
    assert list(await network(client, who)) == [("ITH5", "C28")]


@pytest.mark.parametrize(
    ("params", "reason"),
    [({"region": "XX99"}, "unknown NUTS-2 code"), ({"region": "IE055"}, "at most 4"), ({"format": "xml"}, "match")],
)
async def test_bad_filters_are_422(
    app: tuple[FastAPI, httpx.AsyncClient], token: TokenFactory, params: dict[str, str], reason: str
) -> None:
    _, client = app
    r = await client.get(f"{API}/network/cluster-map", params=params, headers={"Authorization": token("a", "analyst")})
    assert r.status_code == 422
    assert any(reason in e["reason"] for e in r.json()["errors"]), r.json()
