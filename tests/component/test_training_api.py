"""The training API through the embedded gateway (SQLite store and log), via httpx's ASGI transport: an
SME assesses its practices, sees a benchmark with its peer group named and sized (and a fallback where
its cell is too small), gets a plan, edits it with If-Match, is invited to re-assess when the plan's due
date passes (the service's clock set by hand), re-assesses and sees the deltas as JSON and SVG; every
event checked against its committed schema; a 422 naming the field on every input path."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from fastapi import FastAPI

from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.settings import RuntimeSettings
from clustergrowth.store.sqlite import SqliteStore
from instance.app import create_app
from services.training import projection as pj
from services.training.handlers import plans
from tests.component.test_mapping_api import answers as needs_answers
from tests.component.test_mapping_api import sme as sme_body
from tests.conftest import TokenFactory, asgi_client

API = "/api/v1/training"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"
WMS_IDS = [
    *("lean_introduction", "lean_rationale", "process_problem_documentation"),
    *("performance_tracking", "performance_review", "performance_dialogue", "consequence_management"),
    *("target_balance", "target_interconnection", "time_horizon", "stretching_targets", "clarity_comparability"),
    *("managing_human_capital", "rewarding_high_performers", "removing_poor_performers"),
    *("promoting_high_performers", "attracting_talent", "retaining_talent"),
]


def wms(value: int, **over: int) -> dict[str, int]:
    return {**{p: value for p in WMS_IDS}, **over}


@pytest.fixture
def app(settings: RuntimeSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(app):
        yield c


async def events(settings: RuntimeSettings) -> list[Any]:
    bus = SqliteBus(settings.data_dir / "events.sqlite")
    try:
        return [e async for _, e in bus.read(["training.events"])]
    finally:
        await bus.close()


async def published(settings: RuntimeSettings, name: str, subject: str, n: int = 1) -> list[dict[str, Any]]:
    """The events of one type about one subject once ``n`` are on the bus, each valid against its schema."""
    for _ in range(200):
        found = [e for e in await events(settings) if e.name == name and e.subject == subject]
        if len(found) >= n:
            schema = json.loads((SCHEMAS / f"{found[0].type}.json").read_text())
            for e in found:
                jsonschema.validate(e.data, schema)
            return [e.data for e in found]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{n} {name} about {subject} not published")


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    return body


async def registered_sme(client: httpx.AsyncClient, owner: dict[str, str], **over: Any) -> str:
    """An SME registered and needs-assessed in mapping, known to training once its SMEAssessed arrives. Its
    needs by hand: finance (1, 1, 4: 2.0), internationalisation (3, 3, 3: 3.0), talent (2, 4, 4: 3.33), the
    other dimensions 4.0."""
    r = await client.post("/api/v1/mapping/smes", json=sme_body(**over), headers=owner)
    assert r.status_code == 201, r.text
    sme_id: str = r.json()["id"]
    needs = {
        "instrument_version": "1",
        "answers": needs_answers(
            4,
            finance_1=1,
            finance_2=1,
            talent_1=2,
            internationalisation_1=3,
            internationalisation_2=3,
            internationalisation_3=3,
        ),
    }
    r = await client.post(f"/api/v1/mapping/smes/{sme_id}/assessments", json=needs, headers=owner)
    assert r.status_code == 201, r.text
    return sme_id


async def assess(client: httpx.AsyncClient, owner: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    """POST an assessment, waiting while the SME is not yet known here (mapping's event on its way)."""
    for _ in range(200):
        r = await client.post(f"{API}/assessments", json=body, headers=owner)
        if r.status_code != 422 or r.json()["errors"][0]["field"] != "sme_id":
            return r
        await asyncio.sleep(0.05)
    return r


async def benchmark_when(
    client: httpx.AsyncClient, owner: dict[str, str], aid: str, n: int, level: str = "division_region_size"
) -> dict[str, Any]:
    """The benchmark once the projection has the seeded peers (its group, at ``level``, reaches ``n``; partners'
    replicated peers fold in beside this region's, so a wider group may pass ``n`` on the way)."""
    for _ in range(300):
        b: dict[str, Any] = (await client.get(f"{API}/assessments/{aid}/benchmark", headers=owner)).json()
        if b["group"] is not None and (b["group"]["level"], b["group"]["n"]) == (level, n):
            return b
        await asyncio.sleep(0.05)
    raise AssertionError(f"benchmark of {aid} never reached n={n}: {b}")


async def test_assess_benchmark_plan_reassess_and_deltas(
    app: FastAPI, client: httpx.AsyncClient, settings: RuntimeSettings, token: TokenFactory
) -> None:
    owner = {"Authorization": token("owner-rubicon", "sme_member", org="org-rubicon")}
    sme_id = await registered_sme(client, owner)  # C28.29, IE05, 40 staff: small; council Cork

    # assess: operations weak (1), people middling (2), the rest 4
    answers = wms(4, lean_introduction=1, lean_rationale=1, process_problem_documentation=2)
    answers |= {"managing_human_capital": 2, "retaining_talent": 2}
    r = await assess(client, owner, {"sme_id": sme_id, "instrument": "wms", "answers": answers})
    assert r.status_code == 201, r.text
    a = r.json()
    aid = a["id"]
    assert a["instrument_version"] == "1" and a["scores"]["lean_introduction"] == 1.0
    assert a["areas"] == {"operations": round(4 / 3, 2), "monitoring": 4.0, "targets": 4.0, "people": 3.33}
    assert a["overall"] == round((1 + 1 + 2 + 4 * 4 + 4 * 5 + 2 + 4 + 4 + 4 + 4 + 2) / 18, 2)
    assert (await published(settings, "PracticesAssessed", aid))[0]["nace_division"] == "C28"

    # benchmark: the seeded C28 x IE05 x small cell has 24 firms of 24 organisations; its releases are cut
    # at 10 and 20 of them (the last 4 and the SME itself wait for the next); the SME is not among its peers
    b = await benchmark_when(client, owner, aid, 20)
    assert b["group"]["level"] == "division_region_size"
    assert b["group"]["about"] == {"nace_division": "C28", "region": "IE05", "size_class": "small"}
    assert b["passed_over"] == []
    ov = b["overall"]
    assert b["release"]["no"] == 2 and b["release"]["n"] == 20 and b["group"]["organisations"] == 20
    assert ov["n"] == 20 and ov["ci95"][0] < ov["mean"] < ov["ci95"][1]
    assert len(ov["quartiles"]) == 3 and ov["band"] in ("below Q1", "Q1 to median", "median to Q3", "Q3 and above")
    assert b["status"] == "current" and "percentile_rank" not in ov
    assert not {"min", "max", "sum", "hist", "values"} & set(ov)

    # a second SME of a cell with three firms widens to its council (Cork: 24 + 12 + 3 seeded firms, then the
    # first SME: the 40th organisation cuts the council's fourth release; this SME waits for the next). Its
    # narrow groups never had 10 organisations: no release, no peers released
    other = {"Authorization": token("owner-lone", "sme_member", org="org-lone")}
    lone = await registered_sme(client, other, legal_name="Lone Repairs Ltd", nace_primary="C33", headcount=120)
    r = await assess(client, other, {"sme_id": lone, "instrument": "wms", "answers": wms(3)})
    assert r.status_code == 201, r.text
    b2 = await benchmark_when(client, other, r.json()["id"], 24 + 12 + 3 + 1, "council")  # + the first SME
    assert b2["group"]["level"] == "council" and b2["group"]["about"] == {"council": "Cork"}
    assert [(p["level"], p["n"]) for p in b2["passed_over"]] == [
        ("division_region_size", 0),
        ("section_region_size", 0),
        ("section_country_size", 0),
    ]
    assert all(p["why_not"].startswith("no release yet") for p in b2["passed_over"])

    # a plan from the weakest practices and the growth needs: finance and internationalisation lead to
    # targets (and monitoring), talent to people; share of the scale less 0.25 where linked: lean_introduction
    # 0, lean_rationale 0, managing_human_capital 0.25 - 0.25, retaining_talent 0, process documentation 0.25,
    # targets 0.75 - 0.25; ties in instrument order
    r = await client.post(f"{API}/plans", json={"assessment_id": aid}, headers=owner)
    assert r.status_code == 201, r.text
    plan = r.json()
    focus = [f["practice"] for f in plan["focus_areas"]]
    assert focus == ["lean_introduction", "lean_rationale", "managing_human_capital"], plan
    assert [f["target"] for f in plan["focus_areas"]] == [2.0, 2.0, 3.0]
    assert plan["growth_needs"] == ["finance", "internationalisation", "talent"]
    assert [f["needs"] for f in plan["focus_areas"]] == [[], [], ["talent"]]
    created = (await published(settings, "ActionPlanCreated", plan["id"]))[0]
    assert created["focus_areas"] == focus and created["assessment_id"] == aid
    assert problem(await client.post(f"{API}/plans", json={"assessment_id": aid}, headers=owner), 409)

    # edit with If-Match: 428 without, 412 with a stale tag, 200 with the current one
    got = await client.get(f"{API}/plans/{plan['id']}", headers=owner)
    tag = got.headers["etag"]
    edit = {
        "focus_areas": [{"practice": "lean_introduction", "target": 3}, {"practice": "retaining_talent", "target": 3}]
    }
    problem(await client.patch(f"{API}/plans/{plan['id']}", json=edit, headers=owner), 428)
    problem(await client.patch(f"{API}/plans/{plan['id']}", json=edit, headers={**owner, "If-Match": '"x"'}), 412)
    r = await client.patch(f"{API}/plans/{plan['id']}", json=edit, headers={**owner, "If-Match": tag})
    assert r.status_code == 200, r.text
    assert [(f["practice"], f["target"], f["baseline"]) for f in r.json()["focus_areas"]] == [
        ("lean_introduction", 3.0, 1.0),
        ("retaining_talent", 3.0, 2.0),
    ]
    updated = (await published(settings, "ActionPlanUpdated", plan["id"]))[0]
    assert updated["focus_areas"] == ["lean_introduction", "retaining_talent"]

    # the due date passes: invited once, on the service's clock
    t = app.state.training
    due = datetime.fromisoformat(r.json()["due"]).replace(tzinfo=UTC)
    t.clock = lambda: due + timedelta(hours=23)  # still the due date: not yet
    assert await plans.invite_due(t) == 0
    t.clock = lambda: due + timedelta(days=1)  # the day after
    assert await plans.invite_due(t) == 1
    assert await plans.invite_due(t) == 0  # once
    invited = await published(settings, "ReassessmentInvited", plan["id"])
    assert len(invited) == 1 and invited[0]["due"] == r.json()["due"]
    assert (await client.get(f"{API}/plans/{plan['id']}", headers=owner)).json()["status"] == "reassessment_invited"

    # re-assess and see the deltas against the baseline, goals met or not
    again = answers | {"lean_introduction": 3, "retaining_talent": 2, "target_balance": 5}
    body = {"sme_id": sme_id, "instrument": "wms", "answers": again, "previous_assessment_id": aid}
    r = await client.post(f"{API}/assessments", json=body, headers=owner)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert (await published(settings, "PracticesAssessed", rid))[0]["previous_assessment_id"] == aid
    c = (await client.get(f"{API}/assessments/{rid}/comparison", headers=owner)).json()
    rows = {x["practice"]: x for x in c["practices"]}
    assert rows["lean_introduction"] == {
        "practice": "lean_introduction",
        "baseline": 1.0,
        "current": 3.0,
        "delta": 2.0,
        "target": 3.0,
        "goal_met": True,
    }
    assert rows["retaining_talent"]["delta"] == 0.0 and rows["retaining_talent"]["goal_met"] is False
    assert rows["target_balance"]["delta"] == 1.0 and rows["target_balance"]["goal_met"] is None
    assert c["goals"] == {"set": 2, "met": 1} and c["plan_id"] == plan["id"]
    assert c["overall"]["delta"] == round(c["overall"]["current"] - c["overall"]["baseline"], 2) > 0
    svg = await client.get(f"{API}/assessments/{rid}/comparison.svg", headers=owner)
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    text = " ".join(ET.fromstring(svg.text).itertext())
    for label in ("baseline", "re-assessment", "plan target", "Practice", "score (1-5, WMS scale)"):
        assert label in text, label
    problem(await client.get(f"{API}/assessments/{aid}/comparison", headers=owner), 409)  # aid is no re-assessment


async def test_another_organisation_sees_nothing_and_cannot_assess_the_sme(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    owner = {"Authorization": token("owner-a", "sme_member", org="org-a")}
    other = {"Authorization": token("owner-b", "sme_member", org="org-b")}
    sme_id = await registered_sme(client, owner)
    r = await assess(
        client, owner, {"sme_id": sme_id, "instrument": "mops", "answers": {f"mops{i:02d}": 1 for i in range(1, 17)}}
    )
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    assert r.json()["scale"] == {"min": 0.0, "max": 1.0}
    for path in (f"/assessments/{aid}", f"/assessments/{aid}/benchmark", f"/assessments/{aid}/comparison"):
        problem(await client.get(API + path, headers=other), 404)
    assert (await client.get(f"{API}/assessments", headers=other)).json() == []
    assert [x["id"] for x in (await client.get(f"{API}/assessments", headers=owner)).json()] == [aid]
    body = {"sme_id": sme_id, "instrument": "mops", "answers": {f"mops{i:02d}": 1 for i in range(1, 17)}}
    assert (
        problem(await client.post(f"{API}/assessments", json=body, headers=other), 422)["errors"][0]["field"]
        == "sme_id"
    )
    problem(await client.post(f"{API}/plans", json={"assessment_id": aid}, headers=other), 404)


async def test_bad_input_is_a_422_naming_each_field_and_nothing_is_stored(
    client: httpx.AsyncClient, settings: RuntimeSettings, token: TokenFactory
) -> None:
    owner = {"Authorization": token("owner-c", "sme_member", org="org-c")}
    analyst = {"Authorization": token("ana", "analyst")}
    sme_id = await registered_sme(client, owner)
    ok = await assess(client, owner, {"sme_id": sme_id, "instrument": "wms", "answers": wms(3)})
    assert ok.status_code == 201
    await published(settings, "PracticesAssessed", ok.json()["id"])
    before = len(await events(settings))
    # every bad answer named at once: missing, unknown, out of range, not whole, a boolean
    bad = wms(3, lean_rationale=6, performance_review=0) | {"nonsense": 3, "time_horizon": 2.5, "target_balance": True}  # type: ignore[dict-item]
    del bad["retaining_talent"]
    errors = problem(
        await client.post(
            f"{API}/assessments", json={"sme_id": sme_id, "instrument": "wms", "answers": bad}, headers=owner
        ),
        422,
    )["errors"]
    assert {e["field"] for e in errors} == {
        "answers.lean_rationale",
        "answers.performance_review",
        "answers.nonsense",
        "answers.time_horizon",
        "answers.target_balance",
        "answers.retaining_talent",
    }
    mops = {f"mops{i:02d}": 0 for i in range(1, 17)} | {"mops16": 3, "mops02": -1}
    errors = problem(
        await client.post(
            f"{API}/assessments", json={"sme_id": sme_id, "instrument": "mops", "answers": mops}, headers=owner
        ),
        422,
    )["errors"]
    assert {e["field"] for e in errors} == {"answers.mops16", "answers.mops02"}
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/assessments", {"sme_id": sme_id, "instrument": "efqm", "answers": wms(3)}, "instrument"),
        (
            "POST",
            "/assessments",
            {"sme_id": sme_id, "instrument": "wms", "instrument_version": "9", "answers": wms(3)},
            "instrument_version",
        ),
        (
            "POST",
            "/assessments",
            {"sme_id": sme_id, "instrument": "wms", "answers": wms(3), "previous_assessment_id": "as-nope"},
            "previous_assessment_id",
        ),
        ("POST", "/assessments", {"sme_id": "x" * 81, "instrument": "wms", "answers": wms(3)}, "sme_id"),
        (
            "POST",
            "/assessments",
            {"sme_id": sme_id, "instrument": "wms", "answers": {f"q{i}": 1 for i in range(41)}},
            "answers",
        ),
        ("POST", "/plans", {"assessment_id": ""}, "assessment_id"),
    ]
    for method, path, body, field in cases:
        r = await client.request(method, API + path, json=body, headers=owner)
        assert field in {e["field"] for e in problem(r, 422)["errors"]}, (path, field, r.text)
    # plan edits: each problem named, nothing changed
    plan = (await client.post(f"{API}/plans", json={"assessment_id": ok.json()["id"]}, headers=owner)).json()
    got = await client.get(f"{API}/plans/{plan['id']}", headers=owner)
    h = {**owner, "If-Match": got.headers["etag"]}
    edit = {
        "focus_areas": [
            {"practice": "nope", "target": 3},
            {"practice": "lean_rationale", "target": 3},
            {"practice": "lean_rationale", "target": 3},
        ],
        "due": "2001-01-01",
    }
    errors = problem(await client.patch(f"{API}/plans/{plan['id']}", json=edit, headers=h), 422)["errors"]
    assert {e["field"] for e in errors} == {"focus_areas.0.practice", "focus_areas.2.practice", "due"}
    too_many = {"focus_areas": [{"practice": p, "target": 3} for p in WMS_IDS[:4]]}
    assert (
        problem(await client.patch(f"{API}/plans/{plan['id']}", json=too_many, headers=h), 422)["errors"][0]["field"]
        == "focus_areas"
    )
    out_of_scale = {"focus_areas": [{"practice": "lean_rationale", "target": 6}]}
    assert (
        problem(await client.patch(f"{API}/plans/{plan['id']}", json=out_of_scale, headers=h), 422)["errors"][0][
            "field"
        ]
        == "focus_areas.0.target"
    )
    assert (await client.get(f"{API}/plans/{plan['id']}", headers=owner)).headers["etag"] == got.headers["etag"]
    # benchmark queries: the fields a level needs are named
    r = await client.get(
        f"{API}/benchmarks",
        params={"instrument": "wms", "level": "division_region_size", "region": "IE05"},
        headers=analyst,
    )
    assert {e["field"] for e in problem(r, 422)["errors"]} == {"nace_division", "size_class"}
    r = await client.get(
        f"{API}/benchmarks", params={"instrument": "wms", "level": "council", "council": "x" * 81}, headers=analyst
    )
    assert problem(r, 422)["errors"][0]["field"] == "council"
    # nothing of the refused requests was stored or reached the log (the plan is the only new event)
    listed = (await client.get(f"{API}/assessments", params={"sme_id": sme_id}, headers=owner)).json()
    assert [a["id"] for a in listed] == [ok.json()["id"]]
    await published(settings, "ActionPlanCreated", plan["id"])
    assert [e.name for e in (await events(settings))[before:]] == ["ActionPlanCreated"]


async def test_analysts_see_only_statistics_that_pass_disclosure_control(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    analyst = {"Authorization": token("ana", "analyst")}
    q = {"instrument": "wms", "level": "division_region_size", "region": "IE05", "size_class": "small"}
    for _ in range(300):  # the seeded events reach the projection
        big = (await client.get(f"{API}/benchmarks", params={**q, "nace_division": "C28"}, headers=analyst)).json()
        mid = (
            await client.get(
                f"{API}/benchmarks", params={**q, "nace_division": "C26", "size_class": "micro"}, headers=analyst
            )
        ).json()
        small = (
            await client.get(
                f"{API}/benchmarks", params={**q, "nace_division": "C33", "size_class": "medium"}, headers=analyst
            )
        ).json()
        if (big["group"]["n"], mid["group"]["n"]) == (20, 10):  # released at 10 and 20 organisations
            break
        await asyncio.sleep(0.05)
    assert "quartiles" in big["overall"] and "mean" in big["overall"]
    figures = [big["overall"]["mean"], *big["overall"]["ci95"], *big["overall"]["quartiles"]]
    assert all(abs(x * 10 - round(x * 10)) < 1e-9 for x in figures), figures  # to the nearest 0.1 (WMS)
    assert "mean" in mid["overall"] and "quartiles" not in mid["overall"]
    assert small["overall"] == {"n": 0, "withheld": "no release yet (contributions of 10 organisations make one)"}
    assert small["practices"] == {} and small["release"] == {"no": 0, "at": None, "n": 0}
    coordinator = {"Authorization": token("adm", "region_admin")}
    s = (await client.get(f"{API}/summary", headers=coordinator)).json()
    assert s["region"] == "IE05" and s["assessments"] >= 24 + 12 + 3


# Disclosure control against a determined reader (the security tester's probes, turned around) ---------------------
VICTIM = wms(3, lean_introduction=5, lean_rationale=1, performance_review=4, retaining_talent=2)


async def sme_with(
    client: httpx.AsyncClient, owner: dict[str, str], answers: dict[str, int], **over: Any
) -> tuple[str, str]:
    sid = await registered_sme(client, owner, **over)
    r = await assess(client, owner, {"sme_id": sid, "instrument": "wms", "answers": answers})
    assert r.status_code == 201, r.text
    return sid, str(r.json()["id"])


async def group_when(client: httpx.AsyncClient, h: dict[str, str], params: dict[str, str], n: int) -> dict[str, Any]:
    """An analyst's answer for one group once the projection counts ``n`` firms in it."""
    for _ in range(400):
        b: dict[str, Any] = (await client.get(f"{API}/benchmarks", params=params, headers=h)).json()
        if b["group"]["n"] == n:
            return b
        await asyncio.sleep(0.05)
    raise AssertionError(b)


async def projected(settings: RuntimeSettings, sme_ids: list[str]) -> None:
    """Wait until the benchmark projection has applied these SMEs' latest assessments (read from the
    service's store: releases hide every change short of 10 organisations, so the API cannot tell)."""
    store = SqliteStore(settings.data_dir / "store" / "training.sqlite")
    try:
        for _ in range(400):
            collection = await pj.live_collection(store)
            if all([await store.get(collection, pj.contribution_id("wms", s)) for s in sme_ids]):
                return
            await asyncio.sleep(0.05)
    finally:
        await store.close()
    raise AssertionError(f"{sme_ids} not projected")


async def test_two_shown_divisions_do_not_give_a_third_division_s_firm_away(
    client: httpx.AsyncClient, settings: RuntimeSettings, token: TokenFactory
) -> None:
    """The probe: section C x IE05 x small = C28 (24 seeded) + one victim of C24 + C22 (10 firms of 10
    organisations); 35 x section - 24 x C28 - 10 x C22 gave the victim's answers. Now: among the groups
    shown, the section less its shown divisions leaves 0 or at least 10 firms, and the probe's arithmetic on
    what is shown does not give the victim's answers."""
    vic = {"Authorization": token("vic2", "sme_member", org="org-vic2")}
    victim, _ = await sme_with(client, vic, VICTIM, legal_name="Victim Chem", nace_primary="C24.5", headcount=20)
    foods = []
    for i in range(10):
        h = {"Authorization": token(f"food-{i}", "sme_member", org=f"org-food-{i}")}
        sid, _ = await sme_with(client, h, wms(2 + i % 3), legal_name=f"Food {i}", nace_primary="C22.2", headcount=20)
        foods.append(sid)
    await projected(settings, [victim, *foods])
    ana = {"Authorization": token("ana", "analyst")}
    q = {"instrument": "wms", "region": "IE05", "size_class": "small"}
    s, d28, d22 = [
        (await client.get(f"{API}/benchmarks", params={**q, **p}, headers=ana)).json()
        for p in (
            {"level": "section_region_size", "nace_section": "C"},
            {"level": "division_region_size", "nace_division": "C28"},
            {"level": "division_region_size", "nace_division": "C22"},
        )
    ]
    # by hand: releases at 10/20/30 organisations: the section's third holds the 24 seeded, the victim and 5
    # foods; C28's second its first 20 seeded; C22's first all 10 foods
    assert (s["group"]["n"], d28["group"]["n"], d22["group"]["n"]) == (30, 20, 10)
    shown_n = {k: g["group"]["n"] for k, g in (("s", s), ("c28", d28), ("c22", d22)) if "mean" in g["overall"]}
    if "s" in shown_n:
        for subset in ([], ["c28"], ["c22"], ["c28", "c22"]):
            if all(k in shown_n for k in subset):
                assert not 0 < shown_n["s"] - sum(shown_n[k] for k in subset) < 10, subset
    if len(shown_n) == 3:
        rec = {
            p: round(
                30 * s["practices"][p]["mean"] - 20 * d28["practices"][p]["mean"] - 10 * d22["practices"][p]["mean"]
            )
            for p in WMS_IDS
        }
        assert rec != VICTIM


async def test_an_organisation_s_own_fake_smes_never_read_back_another_s_answers(
    client: httpx.AsyncClient, settings: RuntimeSettings, token: TokenFactory
) -> None:
    """The Sybil probe: one organisation registers 10 SMEs in an empty cell (C22 x IE05 x small) with known
    answers, a victim of another organisation joins, then 8 firms of 8 more organisations: the 10th
    organisation cuts a release of 19 firms. The attacker's organisation has more than half of them
    (analysts: withheld), and taken out of the attacker's peers leaves 9: no mean to read the victim from."""
    att = {"Authorization": token("att", "sme_member", org="org-att")}
    aids = []
    for i in range(10):
        _, aid = await sme_with(client, att, wms(3), legal_name=f"Sybil {i}", nace_primary="C22.2", headcount=20)
        aids.append(aid)
    vic = {"Authorization": token("vic", "sme_member", org="org-vic")}
    await sme_with(client, vic, VICTIM, legal_name="Victim Foods", nace_primary="C22.2", headcount=20)
    for i in range(8):
        h = {"Authorization": token(f"by-{i}", "sme_member", org=f"org-by-{i}")}
        await sme_with(client, h, wms(2), legal_name=f"Bystander {i}", nace_primary="C22.2", headcount=20)
    ana = {"Authorization": token("ana", "analyst")}
    q = {"instrument": "wms", "region": "IE05", "size_class": "small", "level": "division_region_size"}
    cell = await group_when(client, ana, {**q, "nace_division": "C22"}, 19)
    assert cell["overall"] == {"n": 19, "withheld": "one organisation has more than half of its firms"}
    b = (await client.get(f"{API}/assessments/{aids[0]}/benchmark", headers=att)).json()
    assert b["passed_over"][0] == {
        "level": "division_region_size",
        "group": "wms|division_region_size|C22|IE05|small",
        "n": 9,
        "why_not": "one organisation has more than half of its firms",
    }
    assert b["group"] is None or b["group"]["level"] != "division_region_size"


async def test_a_newcomer_is_not_read_back_from_before_and_after(
    client: httpx.AsyncClient, settings: RuntimeSettings, token: TokenFactory
) -> None:
    """The probe: an analyst reads C28 x IE05 x small, a firm joins, the analyst reads again. The answer is
    the same release (number, date, n, every statistic) until firms of 10 organisations have changed since
    it: the seeded 21st-24th, the newcomer and 4 more are 9; the 10th cuts a release of 30."""
    ana = {"Authorization": token("ana", "analyst")}
    q = {"instrument": "wms", "region": "IE05", "size_class": "small", "level": "division_region_size"}
    before = await group_when(client, ana, {**q, "nace_division": "C28"}, 20)
    await projected(settings, [f"demo-ie05-c28-small-{i:02d}" for i in range(1, 25)])
    joined = []
    for i in range(6):
        h = {"Authorization": token(f"new-{i}", "sme_member", org=f"org-new-{i}")}
        sid, _ = await sme_with(client, h, VICTIM if i == 0 else wms(4), legal_name=f"Newcomer {i}")
        joined.append(sid)
        if i < 5:
            await projected(settings, joined)
            after = (await client.get(f"{API}/benchmarks", params={**q, "nace_division": "C28"}, headers=ana)).json()
            assert after == before, i
    cut = await group_when(client, ana, {**q, "nace_division": "C28"}, 30)
    assert cut["release"]["no"] == before["release"]["no"] + 1


async def test_only_the_latest_assessment_is_benchmarked_and_only_as_a_quartile_band(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    """The rank probe: an SME assessed at 1, 2, 3, 4 and 5 and read its percentile rank each time, which gave
    the peers' histogram back. Now the four earlier assessments are superseded (no statistic, the latest
    named) and the latest says only its quartile band, beside the quartiles."""
    owner = {"Authorization": token("o", "sme_member", org="org-o")}
    sid = await registered_sme(client, owner)  # C28 IE05 small: 24 seeded peers
    aids = []
    for v in range(1, 6):
        r = await assess(client, owner, {"sme_id": sid, "instrument": "wms", "answers": wms(v)})
        assert r.status_code == 201, r.text
        aids.append(r.json()["id"])
    for aid in aids[:4]:
        b = (await client.get(f"{API}/assessments/{aid}/benchmark", headers=owner)).json()
        assert (b["status"], b["superseded_by"], b["group"], b["overall"]) == ("superseded", aids[4], None, None)
    b = await benchmark_when(client, owner, aids[4], 20)
    assert b["status"] == "current"
    for stats in (b["overall"], *b["practices"].values()):
        assert "percentile_rank" not in stats
        assert stats["band"] == "Q3 and above"  # 5 is the top of the scale: no quartile above it


async def test_no_invitation_to_re_assess_once_the_sme_has_re_assessed_since_the_plan(
    app: FastAPI, client: httpx.AsyncClient, settings: RuntimeSettings, token: TokenFactory
) -> None:
    """Two SMEs with a plan each, due the same day; one re-assesses after its plan was made, the other only
    before. When the due date passes only the other is invited; the first plan is marked reassessed, naming
    the re-assessment, with no event, and is not looked at again."""
    owners, plan_ids, aids = [], [], []
    for name in ("early", "late"):
        owner = {"Authorization": token(f"owner-{name}", "sme_member", org=f"org-{name}")}
        sid = await registered_sme(client, owner, legal_name=f"{name.title()} Ltd")
        r = await assess(client, owner, {"sme_id": sid, "instrument": "wms", "answers": wms(2)})
        assert r.status_code == 201, r.text
        p = await client.post(f"{API}/plans", json={"assessment_id": r.json()["id"]}, headers=owner)
        assert p.status_code == 201, p.text
        owners.append((owner, sid))
        plan_ids.append(p.json()["id"])
        aids.append(r.json()["id"])
    owner, sid = owners[0]
    body = {"sme_id": sid, "instrument": "wms", "answers": wms(3), "previous_assessment_id": aids[0]}
    r = await client.post(f"{API}/assessments", json=body, headers=owner)
    assert r.status_code == 201, r.text
    t = app.state.training
    due = datetime.fromisoformat((await client.get(f"{API}/plans/{plan_ids[1]}", headers=owners[1][0])).json()["due"])
    t.clock = lambda: due.replace(tzinfo=UTC) + timedelta(days=1)
    assert await plans.invite_due(t) == 1  # the late one only
    assert await plans.invite_due(t) == 0
    first = (await client.get(f"{API}/plans/{plan_ids[0]}", headers=owner)).json()
    assert first["status"] == "reassessed" and first["invited_at"] is None
    await published(settings, "ReassessmentInvited", plan_ids[1])
    assert [e for e in await events(settings) if e.name == "ReassessmentInvited" and e.subject == plan_ids[0]] == []
