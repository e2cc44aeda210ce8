"""The instrument routes in five languages, through the embedded gateway: ``?lang=es|it|fr|tr|en`` gives
the version's texts in that language (read here from the translation files, not from the service), the
answer says its ``lang``, English by default, and a 422 names ``lang`` for any other value. Ids, weights,
options and scoring do not change with the language: the same answers, keyed by the ids each language's
document gives, score the same (hand-worked) under every language, in mapping and in training."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clustergrowth.settings import RuntimeSettings
from instance.app import create_app
from tests.component.test_mapping_api import answers as needs_answers
from tests.component.test_mapping_api import sme as sme_body
from tests.conftest import TokenFactory, asgi_client

ROOT = Path(__file__).resolve().parents[2] / "services"
MAPPING = ROOT / "mapping" / "data" / "instruments"
TRAINING = ROOT / "training" / "data" / "instruments"
LANGS = ("en", "es", "it", "fr", "tr")


def words(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


@pytest.fixture
def bare(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(data_dir=tmp_path / "data", region="IE05", seed_demo=False, relay_interval_s=0.05)


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


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    return body


async def test_growth_needs_instrument_in_each_language(client: httpx.AsyncClient, tok: TokenFactory) -> None:
    h = {"Authorization": tok("anyone", "sme_member", org="org-a")}
    en = words(MAPPING / "v2.json")
    r = await client.get("/api/v1/mapping/instruments/2", headers=h)
    assert r.status_code == 200 and r.headers["content-language"] == "en"
    assert r.json() == {**en, "lang": "en"}  # the default is the English file itself
    structure = [(d["id"], [(q["id"], q["weight"]) for q in d["questions"]]) for d in en["dimensions"]]
    for lang in ("es", "it", "fr", "tr"):
        tr = words(MAPPING / f"v2.{lang}.json")
        r = await client.get("/api/v1/mapping/instruments/2", params={"lang": lang}, headers=h)
        assert r.status_code == 200 and r.headers["content-language"] == lang
        doc = r.json()
        assert doc["lang"] == lang and doc["version"] == "2" and doc["title"] == tr["title"]
        assert doc["scale"]["labels"] == tr["scale"]["labels"]
        assert doc["dimensions"][2]["name"] == tr["dimensions"]["internationalisation"]["name"]
        q = doc["dimensions"][0]["questions"][0]
        assert (q["id"], q["weight"], q["text"]) == (
            "innovation-1",
            2.0,
            tr["dimensions"]["innovation"]["questions"]["innovation-1"]["text"],
        )
        assert [(d["id"], [(q["id"], q["weight"]) for q in d["questions"]]) for d in doc["dimensions"]] == structure
        assert doc["scoring"]["method"] == "weighted_mean" and doc["scoring"]["top_needs"] == 3
        listed = (await client.get("/api/v1/mapping/instruments", params={"lang": lang}, headers=h)).json()
        assert listed == {"versions": ["1", "2"], "latest": "2", "title": tr["title"], "lang": lang}


@pytest.mark.parametrize("lang", ["de", "EN", "tr-TR", "english", ""])
async def test_another_language_is_a_422_naming_lang(client: httpx.AsyncClient, tok: TokenFactory, lang: str) -> None:
    h = {"Authorization": tok("anyone", "sme_member", org="org-a")}
    for url in (
        "/api/v1/mapping/instruments",
        "/api/v1/mapping/instruments/1",
        "/api/v1/training/instruments",
        "/api/v1/training/instruments/wms/1",
    ):
        p = problem(await client.get(url, params={"lang": lang}, headers=h), 422)
        assert [e["field"] for e in p["errors"]] == ["lang"], url


async def test_unknown_versions_are_named_as_before_in_any_language(
    client: httpx.AsyncClient, tok: TokenFactory
) -> None:
    h = {"Authorization": tok("anyone", "sme_member", org="org-a")}
    p = problem(await client.get("/api/v1/mapping/instruments/3", params={"lang": "tr"}, headers=h), 422)
    assert p["errors"][0]["field"] == "instrument_version"
    problem(await client.get("/api/v1/training/instruments/wms/2", params={"lang": "fr"}, headers=h), 404)
    problem(await client.get("/api/v1/training/instruments/efqm/1", params={"lang": "es"}, headers=h), 404)


async def test_the_same_growth_answers_score_the_same_in_every_language(
    client: httpx.AsyncClient, tok: TokenFactory
) -> None:
    h = {"Authorization": tok("owner", "sme_member", org="org-rubicon")}
    r = await client.post("/api/v1/mapping/smes", json=sme_body(), headers=h)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    # by hand, version 2 (innovation-1, digitalisation-2 and finance-1 weigh 2): innovation (1*2 + 4 + 4) / 4
    # = 2.5; digitalisation (5 + 2*2 + 5) / 4 = 3.5; finance (2*2 + 3 + 3) / 4 = 2.5; every other dimension 4
    # answered 4, 4, 4: 4.0. Needs: innovation and finance (2.5, instrument order), then digitalisation 3.5
    by_hand = {"innovation-1": 1, "digitalisation-1": 5, "digitalisation-2": 2, "digitalisation-3": 5}
    by_hand |= {"finance-1": 2, "finance-2": 3, "finance-3": 3}
    scores = {d: 4.0 for d in ("internationalisation", "talent", "rnd_facilities", "collaboration", "sustainability")}
    scores |= {"innovation": 2.5, "digitalisation": 3.5, "finance": 2.5}
    for lang in LANGS:
        doc = (await client.get("/api/v1/mapping/instruments/2", params={"lang": lang}, headers=h)).json()
        answers = {q["id"]: by_hand.get(q["id"], 4) for d in doc["dimensions"] for q in d["questions"]}
        body = {"instrument_version": doc["version"], "answers": answers}
        r = await client.post(f"/api/v1/mapping/smes/{sid}/assessments", json=body, headers=h)
        assert r.status_code == 201, (lang, r.text)
        assert r.json()["scores"] == scores, lang
        assert r.json()["top_needs"] == ["innovation", "finance", "digitalisation"], lang


async def test_practice_instruments_in_each_language_and_the_same_scores(
    client: httpx.AsyncClient, tok: TokenFactory
) -> None:
    h = {"Authorization": tok("owner", "sme_member", org="org-rubicon")}
    listed = (await client.get("/api/v1/training/instruments", params={"lang": "it"}, headers=h)).json()
    assert [(i["id"], i["title"], i["lang"]) for i in listed] == [
        ("mops", words(TRAINING / "mops-v1.it.json")["title"], "it"),
        ("wms", words(TRAINING / "wms-v1.it.json")["title"], "it"),
    ]
    for kind in ("wms", "mops"):
        en = words(TRAINING / f"{kind}-v1.json")
        r = await client.get(f"/api/v1/training/instruments/{kind}/1", headers=h)
        assert r.json() == {**en, "lang": "en"} and r.headers["content-language"] == "en"
        for lang in ("es", "it", "fr", "tr"):
            tr = words(TRAINING / f"{kind}-v1.{lang}.json")
            r = await client.get(f"/api/v1/training/instruments/{kind}/1", params={"lang": lang}, headers=h)
            assert r.status_code == 200 and r.headers["content-language"] == lang
            doc = r.json()
            assert doc["lang"] == lang and doc["title"] == tr["title"] and doc["scale"] == en["scale"]
            first = doc["areas"][0]["practices"][0]
            tr_first = tr["areas"][en["areas"][0]["id"]]["practices"][first["id"]]
            assert first["name"] == tr_first["name"]
            assert first.get("anchors", first.get("options")) == tr_first.get("anchors", tr_first.get("options"))
            assert [[p["id"] for p in a["practices"]] for a in doc["areas"]] == [
                [p["id"] for p in a["practices"]] for a in en["areas"]
            ]

    r = await client.post("/api/v1/mapping/smes", json=sme_body(), headers=h)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    needs = {"instrument_version": "1", "answers": needs_answers(4)}  # training knows an SME from its needs
    assert (await client.post(f"/api/v1/mapping/smes/{sid}/assessments", json=needs, headers=h)).status_code == 201
    # by hand (wms, 1-5): operations 1, 2, 3 -> 2.0; monitoring all 4 -> 4.0; targets all 3 -> 3.0; people
    # 5, 5, 5, 5, 2, 2 -> 4.0; overall (6 + 16 + 15 + 24) / 18 = 3.39
    by_hand = {"lean_introduction": 1, "lean_rationale": 2, "process_problem_documentation": 3}
    by_hand |= {"attracting_talent": 2, "retaining_talent": 2}
    area_of = {"operations": 3, "monitoring": 4, "targets": 3, "people": 5}
    for lang in LANGS:
        doc = (await client.get("/api/v1/training/instruments/wms/1", params={"lang": lang}, headers=h)).json()
        answers = {p["id"]: by_hand.get(p["id"], area_of[a["id"]]) for a in doc["areas"] for p in a["practices"]}
        body = {"sme_id": sid, "instrument": "wms", "instrument_version": doc["version"], "answers": answers}
        for _ in range(200):  # the SME reaches training with mapping's event
            r = await client.post("/api/v1/training/assessments", json=body, headers=h)
            if r.status_code != 422 or r.json()["errors"][0]["field"] != "sme_id":
                break
            await asyncio.sleep(0.05)
        assert r.status_code == 201, (lang, r.text)
        made = r.json()
        assert made["areas"] == {"operations": 2.0, "monitoring": 4.0, "targets": 3.0, "people": 4.0}, lang
        assert made["overall"] == 3.39 == round((1 + 2 + 3 + 4 * 4 + 3 * 5 + 5 * 4 + 2 + 2) / 18, 2), lang
