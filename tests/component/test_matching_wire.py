"""The matching API answers its wire models (``services/matching/wire.py``), never the stored documents:
a field stored beside the ones the API answers, at the top of a document or inside one of its nested
parts (a need, the metrics, an explanation, a milestone, a rating), never reaches an answer; nor do the
outbox, the version, or what is stored but not answered (who posted a challenge and when, a profile's
issuer and subject, a match's host key). Reads and changes alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from clustergrowth.auth import DevIssuer
from clustergrowth.settings import RuntimeSettings
from clustergrowth.store.port import Doc, DocumentStore, put
from instance.app import create_app
from services.matching import handlers as h
from services.matching import store as st
from services.matching import wire
from tests.conftest import asgi_client
from tests.helpers import pid

API = "/api/v1/matching"
SECRET = "internal-only-secret"
EXTRA = {"internal_note": SECRET, "risk_score": 0.93}  # stored, never answered
NEVER = {"_id", "outbox", "outbox_pending", "version", *EXTRA}
STORED_ONLY = {  # stored fields the API has never answered
    "challenge": {"created_by", "posted_at"},
    "profile": {"issuer", "subject"},
    "match": {"host"},
}


@pytest.fixture
def settings(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(data_dir=tmp_path / "data", seed_demo=False)


@pytest.fixture
async def app(
    settings: RuntimeSettings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    monkeypatch.setenv("CG_MATCHING_RUN_RELAY", "false")  # the events stay in the stored outboxes
    a = create_app(settings)
    async for c in asgi_client(a):
        yield a, c


def person(settings: RuntimeSettings, sub: str, *roles: str, org: str | None = None) -> dict[str, str]:
    return {"Authorization": "Bearer " + DevIssuer(settings.data_dir).mint(settings, sub, list(roles), "IE05", org)}


CHALLENGE = {
    "title": "Energy audit of a machining line",
    "scope": "Measure and model the energy use of the CNC line and propose savings.",
    "skills": ["energy efficiency"],
    "languages": ["en"],
    "region": "IE05",
    "work_mode": "on_site",
    "term": "2027-spring",
    "starts_on": "2027-02-01",
    "ends_on": "2027-05-15",
    "capacity": 1,
    "ip_template": "nda-portfolio-safe",
    "supervisor": pid("prof-ucc"),
}
PROFILE = {
    "kind": "student",
    "skills": ["energy efficiency"],
    "languages": ["en"],
    "available_from": "2027-01-15",
    "available_until": "2027-06-30",
}


async def tamper(store: DocumentStore, collection: str, id: str, change: Any) -> None:
    """Store fields the API does not answer into a stored document (``change`` edits it in place)."""
    doc = await store.get(collection, id)
    assert doc is not None
    doc.update(EXTRA)
    change(doc)
    await put(store, collection, doc)


def with_extra(part: Doc) -> Doc:
    return {**part, **EXTRA}


def leaks(value: Any, path: str = "") -> list[str]:
    """Where in an answer a never-answered key or value shows up."""
    if isinstance(value, dict):
        return [f"{path}.{k}" for k in value if k in NEVER] + [
            x for k, v in value.items() for x in leaks(v, f"{path}.{k}")
        ]
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in leaks(v, f"{path}[{i}]")]
    return [path or "."] if value == SECRET else []


def answered(r: httpx.Response, model: type[BaseModel], kind: str | None = None) -> dict[str, Any]:
    """The answer holds exactly the wire model's fields, in its order, and nothing stored beside them."""
    assert r.status_code in (200, 201), r.text
    body: dict[str, Any] = r.json()
    assert list(body) == list(model.model_fields), r.url
    assert leaks(body) == [] and SECRET not in r.text, r.url
    assert not STORED_ONLY.get(kind or "", set()) & set(body), r.url
    return body


async def test_fields_stored_beside_the_wire_never_reach_an_answer(
    app: tuple[FastAPI, httpx.AsyncClient], settings: RuntimeSettings
) -> None:
    a, client = app
    store = a.state.matching.store
    sme = person(settings, "aoife", "sme_member", org="rubicon")
    student = person(settings, "s1", "student")
    coordinator = person(settings, "co", "region_admin")

    academic = {**PROFILE, "kind": "academic"}
    prof = person(settings, "prof-ucc", "academic")
    assert (await client.put(f"{API}/candidates/me", json=academic, headers=prof)).status_code == 200
    cid = (await client.post(f"{API}/challenges", json=CHALLENGE, headers=sme)).json()["id"]
    assert (await client.put(f"{API}/candidates/me", json=PROFILE, headers=student)).status_code == 200
    await client.put(f"{API}/candidates/me/preferences", json={"ranking": [cid]}, headers=student)
    run = {"programme": "consultancy", "term": "2027-spring"}
    rid = (await client.post(f"{API}/rounds", json=run, headers=coordinator)).json()["id"]
    mid = h.match_id(rid, pid("s1"))
    for collection, id in ((st.CHALLENGES, cid), (st.MATCHES, mid)):  # ChallengePosted, MatchProposed
        assert (await store.get(collection, id) or {}).get("outbox"), f"{collection}/{id} has no outbox to hide"

    def challenge(doc: Doc) -> None:
        doc["need"] = with_extra({"dimension": "sustainability", "score": 2.0})

    def round_(doc: Doc) -> None:
        doc["metrics"] = with_extra(doc["metrics"])
        doc["assignments"] = [with_extra(x) for x in doc["assignments"]]
        doc["explanations"] = [with_extra(x) for x in doc["explanations"]]

    def match(doc: Doc) -> None:
        doc["responses"] = with_extra(doc["responses"])
        doc["milestones"] = [with_extra({"n": 1, "title": "Kick-off", "due_on": "2027-02-10", "done_at": None})]
        rating = {"score": 4, "comment": None, "by": pid("s1"), "at": "2027-06-01T00:00:00.000000Z"}
        doc["ratings"] = {"candidate": with_extra(rating), "host": None}

    await tamper(store, st.CHALLENGES, cid, challenge)
    await tamper(store, st.CANDIDATES, pid("s1"), lambda doc: None)
    await tamper(store, st.ROUNDS, rid, round_)
    await tamper(store, st.MATCHES, mid, match)

    # reads
    got = answered(await client.get(f"{API}/challenges/{cid}", headers=sme), wire.ChallengeOut, "challenge")
    assert got["need"] == {"dimension": "sustainability", "score": 2.0}
    listed = (await client.get(f"{API}/challenges", headers=sme)).json()
    assert [list(x) for x in listed] == [list(wire.ChallengeOut.model_fields)] and leaks(listed) == []
    answered(await client.get(f"{API}/candidates/me", headers=student), wire.ProfileOut, "profile")
    answered(await client.get(f"{API}/candidates/{pid('s1')}", headers=coordinator), wire.ProfileOut, "profile")
    report = answered(await client.get(f"{API}/rounds/{rid}", headers=coordinator), wire.RoundOut)
    assert list(report["metrics"]) == list(wire.RoundMetrics.model_fields)
    assert [list(x) for x in report["explanations"]] == [list(wire.CandidateExplanation.model_fields)]
    mine = answered(await client.get(f"{API}/rounds/{rid}", headers=student), wire.RoundExplanation)
    assert mine["explanation"]["project"] == cid and leaks(mine) == []
    rounds = (await client.get(f"{API}/rounds", headers=coordinator)).json()
    assert [list(x) for x in rounds] == [list(wire.RoundSummary.model_fields)] and rounds[0]["explanations"] is None
    assert leaks(rounds) == []
    got = answered(await client.get(f"{API}/matches/{mid}", headers=student), wire.MatchOut, "match")
    assert got["milestones"] == [{"n": 1, "title": "Kick-off", "due_on": "2027-02-10", "done_at": None}]
    assert list(got["ratings"]["candidate"]) == ["score", "comment", "by", "at"]
    listed = (await client.get(f"{API}/matches", headers=student)).json()
    assert [list(x) for x in listed] == [list(wire.MatchOut.model_fields)] and leaks(listed) == []

    # changes answer what they saved, which keeps the stored extras: the wire still leaves them out
    answered(await client.put(f"{API}/candidates/me", json=PROFILE, headers=student), wire.ProfileOut, "profile")
    ranked = {"ranking": [pid("s1")]}
    prof = person(settings, "prof-ucc", "academic")
    tag = (await client.get(f"{API}/challenges/{cid}", headers=prof)).headers["etag"]
    r = await client.put(f"{API}/challenges/{cid}/ranking", json=ranked, headers={**prof, "If-Match": tag})
    answered(r, wire.ChallengeOut, "challenge")
    answered(await client.post(f"{API}/matches/{mid}/accept", headers=student), wire.MatchOut, "match")
    assert (await store.get(st.MATCHES, mid) or {})["internal_note"] == SECRET  # still stored, never answered
