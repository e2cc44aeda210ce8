"""The peer benchmark over the network (issue 18): partners' replicated ``PracticesAssessed`` fold into the
same peer groups as this region's, keyed apart, re-assessed and redelivered exactly as local ones; a
partner speaks only for its own region's SMEs and organisations; disclosure control counts partner firms
and still suppresses a group below the threshold (9 peers withheld, 10 shown). Expected values by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from clustergrowth.bus.federation import Origin, alias
from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import make_event
from clustergrowth.store.sqlite import SqliteStore
from contracts import mapping as mev
from contracts import training as ev
from services.training import projection as pj
from services.training.handlers.benchmarks import against_peers
from services.training.handlers.context import Training

LOCAL = "training.events"
NETWORK = "wms|network"
BOLOGNA_CELL = "wms|division_region_size|C28|ITH5|medium"


def assessed(
    aid: str,
    sme: str,
    overall: float,
    at: str,
    region: str = "IE05",
    *,
    sme_region: str | None = None,
    organisation: str | None = None,
) -> CloudEvent:
    """A ``PracticesAssessed`` published by ``region`` (Cork's SMEs: C28 small; Bologna's: C28 medium)."""
    home = sme_region or region
    country, size, council = {"IE05": ("IE", "small", "Cork"), "ITH5": ("IT", "medium", "Bologna")}[home]
    data = ev.PracticesAssessed(
        assessment_id=aid, sme_id=sme, instrument="wms", instrument_version="1", region=home, country=country,
        nace_division="C28", nace_section="C", size_class=size, councils=[council],
        scores={"lean_introduction": overall}, areas={}, overall=overall, previous_assessment_id=None, assessed_at=at,
        organisation=organisation,
    )  # fmt: skip
    return make_event(data, key=sme, region=region, source=f"/regions/{region}/training", subject=aid)


def came(region: str | None) -> Origin:
    """How the federated consumer hands an event over: local (None) or from a partner's replica."""
    if region is None:
        return Origin(region="IE05", partner=None, topic=LOCAL, local_topic=LOCAL)
    return Origin(region=region, partner=region, topic=f"{alias(region)}.{LOCAL}", local_topic=LOCAL)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "training.sqlite")
    yield s
    await s.close()


async def group(store: SqliteStore, gid: str) -> dict[str, Any]:
    doc = await store.get(await pj.live_collection(store), gid)
    if doc is None:
        return {"n": 0, "sum": 0.0, "hist": {}}
    return {"n": doc["n"], "sum": doc["overall"]["sum"], "hist": doc["overall"]["hist"]}


async def test_a_partners_firm_is_a_peer_in_the_network_keyed_apart_and_reassessed_as_a_local_one(
    store: SqliteStore,
) -> None:
    p = pj.PeerProjection(store)
    await p.handle(assessed("as-1", "sme-1", 2.0, "2026-01-01T00:00:00Z"), came(None))
    ith5 = assessed("bo-1", "sme-1", 4.0, "2026-01-02T00:00:00Z", "ITH5")  # Bologna's SME with the same id
    await p.handle(ith5, came("ITH5"))
    await p.handle(ith5, came("ITH5"))  # redelivered after a failover
    assert await group(store, NETWORK) == {"n": 2, "sum": 6.0, "hist": {"200": 1, "400": 1}}
    assert await group(store, BOLOGNA_CELL) == {"n": 1, "sum": 4.0, "hist": {"400": 1}}
    assert await group(store, "wms|division_region_size|C28|IE05|small") == {"n": 1, "sum": 2.0, "hist": {"200": 1}}
    collection = await pj.live_collection(store)
    theirs = await store.get(collection, "sme|wms|ITH5/sme-1")
    ours = await store.get(collection, "sme|wms|sme-1")
    assert theirs is not None and theirs["partner"] == "ITH5" and theirs["organisation"] == "sme:ITH5/sme-1"
    assert ours is not None and ours["partner"] is None and ours["contribution"]["overall"] == 2.0

    await p.handle(assessed("bo-2", "sme-1", 5.0, "2026-02-01T00:00:00Z", "ITH5"), came("ITH5"))  # re-assessed
    assert await group(store, NETWORK) == {"n": 2, "sum": 7.0, "hist": {"200": 1, "500": 1}}
    await p.handle(assessed("bo-0", "sme-1", 1.0, "2025-12-01T00:00:00Z", "ITH5"), came("ITH5"))  # older, late
    assert await group(store, NETWORK) == {"n": 2, "sum": 7.0, "hist": {"200": 1, "500": 1}}


async def test_a_partner_speaks_only_for_its_own_smes_and_organisations(store: SqliteStore) -> None:
    p = pj.PeerProjection(store)
    # Bologna's replica about a Cork SME: not folded anywhere
    await p.handle(assessed("bo-x", "sme-x", 3.0, "2026-01-01T00:00:00Z", "ITH5", sme_region="IE05"), came("ITH5"))
    assert await group(store, NETWORK) == {"n": 0, "sum": 0.0, "hist": {}}
    # two of Bologna's SMEs of its organisation acme: one organisation of 2 firms
    for i, sme in enumerate(("sme-a", "sme-b")):
        e = assessed(f"bo-{i}", sme, 3.0, f"2026-01-0{i + 2}T00:00:00Z", "ITH5", organisation="ITH5:acme")
        await p.handle(e, came("ITH5"))
    # one naming Cork's acme (not Bologna's to name) and one naming none: each is its own organisation
    await p.handle(
        assessed("bo-c", "sme-c", 3.0, "2026-01-05T00:00:00Z", "ITH5", organisation="IE05:acme"), came("ITH5")
    )
    await p.handle(assessed("bo-d", "sme-d", 3.0, "2026-01-06T00:00:00Z", "ITH5"), came("ITH5"))
    collection = await pj.live_collection(store)
    cell = await store.get(collection, BOLOGNA_CELL)
    assert cell is not None and cell["n"] == 4 and cell["org_sizes"] == {"2": 1, "1": 2}
    orgs = {d["_id"]: d["organisation"] for d in await store.find(collection, {"kind": "contribution"})}
    assert orgs == {
        "sme|wms|ITH5/sme-a": "ITH5:acme",
        "sme|wms|ITH5/sme-b": "ITH5:acme",
        "sme|wms|ITH5/sme-c": "sme:ITH5/sme-c",
        "sme|wms|ITH5/sme-d": "sme:ITH5/sme-d",
    }


def mine(organisation: str = "IE05:rubicon") -> dict[str, Any]:
    """Cork's SME's stored assessment (overall 2.0), as the benchmark handler reads it."""
    return {
        "_id": "as-mine", "sme_id": "sme-mine", "organisation": organisation, "instrument": "wms",
        "scale": {"min": 1, "max": 5}, "nace_division": "C28", "nace_section": "C", "region": "IE05",
        "country": "IE", "size_class": "small", "councils": ["Cork"], "overall": 2.0,
        "scores": {"lean_introduction": 2.0},
    }  # fmt: skip


@pytest.mark.parametrize("partners", [9, 10])
async def test_partner_firms_count_as_peers_and_a_group_below_the_threshold_stays_suppressed(
    store: SqliteStore, partners: int
) -> None:
    """Cork's SME is alone in its region's groups and its council; the network holds it and ``partners`` of
    Bologna's firms (each its own organisation, overall 3.0). A release is cut at 10 organisations:
    9 partners after the SME cut it at 10 firms, the SME's own taken out leaves 9 peers: withheld (so is
    every narrower group: no release). 10 partners cut it before the SME joined: 10 peers, mean 3.0 (every
    peer 3.0: the interval is the mean's), no quartiles below 20."""
    t = Training(store, "IE05")
    p = pj.PeerProjection(store)
    await store.insert("assessments", {"_id": "as-mine", "organisation": "IE05:rubicon"})
    local = assessed("as-mine", "sme-mine", 2.0, "2026-01-01T00:00:00Z")
    bologna = [assessed(f"bo-{i}", f"sme-{i}", 3.0, f"2026-01-02T00:00:{i:02d}Z", "ITH5") for i in range(partners)]
    order = [(local, None), *((e, "ITH5") for e in bologna)]
    for e, region in order if partners == 9 else order[1:] + order[:1]:
        await p.handle(e, came(region))

    b = await against_peers(t, mine())
    if partners == 9:
        assert b["group"] is None
        assert [(x["level"], x["n"]) for x in b["passed_over"]][-1] == ("network", 9)
        assert b["passed_over"][-1]["why_not"] == "fewer than 10 peers"
    else:
        assert b["group"] == {"level": "network", "id": NETWORK, "about": {}, "n": 10, "organisations": 10}
        assert b["overall"] == {
            "n": 10,
            "mean": 3.0,
            "ci95": [3.0, 3.0],
            "withheld": "fewer than 20 peers or their organisations: no quartiles or quartile band",
        }
        assert [x["level"] for x in b["passed_over"]] == [
            "division_region_size",
            "section_region_size",
            "section_country_size",
            "council",
        ]


async def test_a_rebuild_replays_partners_replicas_beside_the_local_log(tmp_path: Path, store: SqliteStore) -> None:
    """Rebuilt from the bus: the local topic and every partner's replica that exists (Bologna's, and a
    replica of this region's own topic coming back, which is never read: ie05.training.events), with a
    replica claiming another region skipped; the same groups as the live projection."""
    bus = SqliteBus(tmp_path / "events.sqlite")
    local = [assessed("as-1", "sme-1", 2.0, "2026-01-01T00:00:00Z")]
    ith5 = [
        assessed("bo-1", "sme-1", 4.0, "2026-01-02T00:00:00Z", "ITH5"),
        assessed("bo-2", "sme-2", 3.0, "2026-01-03T00:00:00Z", "ITH5"),
        assessed("bo-3", "sme-1", 5.0, "2026-01-04T00:00:00Z", "ITH5"),  # sme-1 re-assessed
    ]
    forged = assessed("fr-1", "sme-9", 1.0, "2026-01-05T00:00:00Z", "IE05")  # on Paris's replica, says Cork
    await bus.publish(LOCAL, local)
    await bus.publish(f"ith5.{LOCAL}", ith5)
    await bus.publish(f"fr10.{LOCAL}", [forged])
    await bus.publish(f"ie05.{LOCAL}", [assessed("cy-1", "sme-7", 1.0, "2026-01-06T00:00:00Z")])
    live = pj.PeerProjection(store)
    await live.handle(local[0], came(None))
    for e in ith5:
        await live.handle(e, came("ITH5"))
    fields = ("n", "overall", "org_sizes", "release", "pending", "organisation", "contribution", "partner")
    before = {d["_id"]: [d.get(k) for k in fields] for d in await store.find("peers_g1", {})}
    report = await pj.rebuild(store, bus, [LOCAL], "IE05")
    after = {d["_id"]: [d.get(k) for k in fields] for d in await store.find("peers_g2", {})}
    assert (report["events"], report["partners"]) == (4, {"ITH5": 3}) and after == before
    assert await group(store, NETWORK) == {"n": 3, "sum": 10.0, "hist": {"200": 1, "300": 1, "500": 1}}
    # without a region (the benchmark's old call), only the local log: Cork's one firm
    report = await pj.rebuild(store, bus)
    assert (report["events"], report["partners"]) == (1, {})
    assert await group(store, NETWORK) == {"n": 1, "sum": 2.0, "hist": {"200": 1}}
    await bus.close()


def erased(sme: str, region: str = "IE05", *, sme_region: str | None = None) -> CloudEvent:
    """Mapping's ``SMEErased`` published by ``region`` (local, or replicated as ``<alias>.mapping.events``)."""
    data = mev.SMEErased(sme_id=sme, region=sme_region or region, sector="C28")
    return make_event(data, key=sme, region=region, source=f"/regions/{region}/mapping")


def came_on(region: str | None, topic: str) -> Origin:
    if region is None:
        return Origin(region="IE05", partner=None, topic=topic, local_topic=topic)
    return Origin(region=region, partner=region, topic=f"{alias(region)}.{topic}", local_topic=topic)


async def test_an_erased_smes_contribution_leaves_every_group_local_or_partner(store: SqliteStore) -> None:
    """Cork's sme-1 (2.0), Bologna's sme-1 (4.0, the same id) and sme-2 (3.0): Cork erasing its sme-1 leaves
    Bologna's; Bologna erasing its sme-2 leaves 4.0 alone; Bologna's replica erasing a Cork SME, an erased
    SME's assessment delivered again and a newer assessment of it (another event) change nothing."""
    p = pj.PeerProjection(store)
    local_1 = assessed("as-1", "sme-1", 2.0, "2026-01-01T00:00:00Z")
    bologna_2 = assessed("bo-2", "sme-2", 3.0, "2026-01-02T00:00:00Z", "ITH5")
    await p.handle(local_1, came(None))
    await p.handle(assessed("bo-1", "sme-1", 4.0, "2026-01-02T00:00:00Z", "ITH5"), came("ITH5"))
    await p.handle(bologna_2, came("ITH5"))
    assert await group(store, NETWORK) == {"n": 3, "sum": 9.0, "hist": {"200": 1, "300": 1, "400": 1}}

    await p.handle(erased("sme-1"), came_on(None, "mapping.events"))
    assert await group(store, NETWORK) == {"n": 2, "sum": 7.0, "hist": {"300": 1, "400": 1}}
    assert await group(store, "wms|division_region_size|C28|IE05|small") == {"n": 0, "sum": 0.0, "hist": {}}
    await p.handle(erased("sme-2", "ITH5"), came_on("ITH5", "mapping.events"))
    assert await group(store, NETWORK) == {"n": 1, "sum": 4.0, "hist": {"400": 1}}
    cell = await store.get(await pj.live_collection(store), BOLOGNA_CELL)
    assert cell is not None and (cell["n"], cell["org_sizes"]) == (1, {"1": 1})

    await p.handle(erased("sme-1", "ITH5", sme_region="IE05"), came_on("ITH5", "mapping.events"))  # not Bologna's
    await p.handle(bologna_2, came("ITH5"))  # redelivered after the erasure
    await p.handle(assessed("bo-3", "sme-2", 5.0, "2026-03-01T00:00:00Z", "ITH5"), came("ITH5"))  # a newer one
    await p.handle(local_1, came(None))
    assert await group(store, NETWORK) == {"n": 1, "sum": 4.0, "hist": {"400": 1}}
    tomb = await store.get(await pj.live_collection(store), "sme|wms|ITH5/sme-2")
    assert tomb is not None and tomb["kind"] == "erased" and "contribution" not in tomb


async def test_a_rebuild_with_erasures_gives_the_live_groups(tmp_path: Path, store: SqliteStore) -> None:
    bus = SqliteBus(tmp_path / "events.sqlite")
    log = [
        (LOCAL, assessed("as-1", "sme-1", 2.0, "2026-01-01T00:00:00Z"), None),
        (f"ith5.{LOCAL}", assessed("bo-1", "sme-1", 4.0, "2026-01-02T00:00:00Z", "ITH5"), "ITH5"),
        (f"ith5.{LOCAL}", assessed("bo-2", "sme-2", 3.0, "2026-01-03T00:00:00Z", "ITH5"), "ITH5"),
        ("ith5.mapping.events", erased("sme-2", "ITH5"), "ITH5"),
        ("mapping.events", erased("sme-1"), None),
    ]
    live = pj.PeerProjection(store)
    for topic, e, region in log:
        await bus.publish(topic, [e])
        await live.handle(e, came_on(region, topic.split(".", 1)[1] if region else topic))
    fields = ("n", "overall", "org_sizes", "release", "pending", "organisation", "contribution", "kind")
    before = {d["_id"]: [d.get(k) for k in fields] for d in await store.find("peers_g1", {})}
    report = await pj.rebuild(store, bus, region="IE05")
    after = {d["_id"]: [d.get(k) for k in fields] for d in await store.find("peers_g2", {})}
    assert (report["events"], report["partners"]) == (5, {"ITH5": 3}) and after == before
    assert await group(store, NETWORK) == {"n": 1, "sum": 4.0, "hist": {"400": 1}}
    await bus.close()
