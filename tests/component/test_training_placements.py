"""Mobility placements through HTTP, across two regions: the Cork training service (the small service of
``test_training_modules``, both parts attached) trusting Bologna's issuer as a partner whose
``region_admin`` and ``sme_member`` are mapped here. A Cork entrepreneur applies, a Bologna SME offers to
host; each is screened by its own region's intermediary (the other region's cannot); the allocation
engine suggests the pair; Cork's intermediary proposes; nobody can accept for another party; three of
four acceptances is not agreed, the fourth is; reports from both sides; completion; a second placement
ends early; the cross-border share counts both. Every event is validated against its committed schema."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from clustergrowth.auth import person_id
from clustergrowth.settings import RuntimeSettings, TrustedIssuer
from clustergrowth.web import standalone_app
from contracts import training as ev
from tests.component.test_training_modules import API, Clock, Training, events_of
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import pid

PARTNER = "https://id.unibo.test/realms/unibo"
START = datetime(2027, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def partner_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def settings(tmp_path: Path, partner_key: ec.EllipticCurvePrivateKey) -> RuntimeSettings:
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(partner_key.public_key(), as_dict=True)
    jwks = tmp_path / "partner-jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "p1", "use": "sig", "alg": "ES256"}]}))
    grants = {"region_admin": ["region_admin"], "sme_member": ["sme_member"], "student": ["student"]}
    partner = TrustedIssuer(issuer=PARTNER, region="ITH5", jwks_file=jwks, roles=grants)
    return RuntimeSettings(
        data_dir=tmp_path / "data", region="IE05", seed_demo=False, relay_interval_s=0.05, auth_partners=[partner]
    )


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def service(settings: RuntimeSettings, clock: Clock) -> Training:
    return Training(settings, clock=clock)


@pytest.fixture
async def client(service: Training, settings: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(standalone_app(settings, service, "training")):
        yield c


def partner(key: ec.EllipticCurvePrivateKey, sub: str, roles: list[str], org: str | None = None) -> dict[str, str]:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": PARTNER, "aud": "clustergrowth", "sub": sub, "roles": roles}
    claims |= {"region": "IE05", "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex}  # it cannot say it is local
    if org:
        claims["org"] = org
    return {"Authorization": "Bearer " + jwt.encode(claims, key, "ES256", headers={"kid": "p1"})}


def application(**over: Any) -> dict[str, Any]:
    body = {
        "kind": "new_entrepreneur",
        "business_started": "2026-06-01",
        "offers": ["software"],
        "seeks": ["lean", "export"],
        "languages": ["en"],
        "statement": "Starting a controls company",
    }
    return body | over


def hosting(**over: Any) -> dict[str, Any]:
    body = {
        "name": "Officine Ferrari",
        "kind": "sme",
        "years_running": 12,
        "places": 1,
        "offers": ["lean", "export"],
        "seeks": ["software"],
        "languages": ["it", "en"],
    }
    return body | over


def agreement(*parts: tuple[str, int]) -> dict[str, Any]:
    return {
        "objectives": ["Run a lean line", "Meet Italian distributors"],
        "activity_plan": "Weeks 1-2 on the line; weeks 3-4 with sales.",
        "parts": [{"start": s, "weeks": w} for s, w in parts],
    }


async def test_a_cross_border_placement_agreed_by_four_parties_reported_and_completed(
    client: httpx.AsyncClient,
    service: Training,
    clock: Clock,
    token: TokenFactory,
    partner_key: ec.EllipticCurvePrivateKey,
) -> None:
    ann = {"Authorization": token("ann", "student")}
    cork = {"Authorization": token("cork-io", "region_admin")}
    cork_secretary = {"Authorization": token("cork-sec", "council_secretary")}
    bologna = partner(partner_key, "bo-io", ["region_admin"])
    ferrari = partner(partner_key, "hal", ["sme_member"], org="ferrari")
    analyst = {"Authorization": token("ana", "analyst")}

    r = await client.post(f"{API}/applicants", json=application(), headers=ann)
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    assert (r.json()["region"], r.json()["status"]) == ("IE05", "submitted")
    assert (await client.post(f"{API}/applicants", json=application(), headers=ann)).status_code == 409
    r = await client.post(f"{API}/hosts", json=hosting(), headers=ferrari)
    assert r.status_code == 201, r.text
    hid = r.json()["id"]
    assert (r.json()["organisation"], r.json()["region"]) == ("ITH5:ferrari", "ITH5")

    # each side is screened by its own region's intermediary
    accept_ = {"decision": "accepted", "note": ""}
    assert (await client.post(f"{API}/hosts/{hid}/screening", json=accept_, headers=cork)).status_code == 404
    assert (await client.post(f"{API}/applicants/{aid}/screening", json=accept_, headers=bologna)).status_code == 404
    assert (await client.post(f"{API}/applicants/{aid}/screening", json=accept_, headers=cork)).status_code == 200
    assert (await client.post(f"{API}/hosts/{hid}/screening", json=accept_, headers=bologna)).status_code == 200
    catalogue = (await client.get(f"{API}/hosts", headers=ann)).json()
    assert [h["id"] for h in catalogue] == [hid]

    # the engine suggests the pair; nothing is written
    r = await client.post(f"{API}/placements/suggestions", json={"mode": "stable"}, headers=cork)
    assert r.status_code == 200, r.text
    assert [(s["applicant_id"], s["host_id"], s["cross_border"]) for s in r.json()["suggestions"]] == [(aid, hid, True)]
    assert (await client.get(f"{API}/placements", headers=cork)).json() == []

    # proposed by Cork's intermediary
    body = {"applicant_id": aid, "host_id": hid, **agreement(("2027-04-05", 4))}
    assert (await client.post(f"{API}/placements", json=body, headers=ann)).status_code == 403
    r = await client.post(f"{API}/placements", json=body, headers=cork)
    assert r.status_code == 201, r.text
    plc = r.json()["id"]
    assert r.json()["cross_border"] is True and r.json()["terms"]["weeks"] == 4
    assert (await client.post(f"{API}/placements", json=body, headers=cork)).status_code == 409  # one open each
    (proposed,) = await events_of(service, ev.PlacementProposed, 1)
    assert (proposed.data["applicant"], proposed.data["host_id"], proposed.data["weeks"]) == (pid("ann"), hid, 4)
    assert (proposed.data["applicant_region"], proposed.data["host_region"]) == ("IE05", "ITH5")

    # nobody accepts for another party
    url = f"{API}/placements/{plc}/acceptances"
    for who, party in [
        (ann, "host"),
        (ferrari, "applicant"),
        (cork, "host_intermediary"),
        (bologna, "sending_intermediary"),
        (ferrari, "host_intermediary"),
    ]:
        r = await client.post(url, json={"party": party, "revision": 1}, headers=who)
        assert r.status_code == 403, (party, r.text)
    outsider = {"Authorization": token("eve", "student")}
    assert (await client.post(url, json={"party": "applicant", "revision": 1}, headers=outsider)).status_code == 404
    assert (await client.get(f"{API}/placements/{plc}", headers=outsider)).status_code == 404

    # three of four: not agreed
    for who, party in [(ann, "applicant"), (ferrari, "host"), (cork_secretary, "sending_intermediary")]:
        r = await client.post(url, json={"party": party, "revision": 1}, headers=who)
        assert r.status_code == 200, r.text
    assert r.json()["status"] == "proposed"
    assert (await client.post(url, json={"party": "host_intermediary", "revision": 1}, headers=cork)).status_code == 403
    r = await client.post(url, json={"party": "host_intermediary", "revision": 1}, headers=bologna)
    assert r.json()["status"] == "agreed" and r.json()["my_parties"] == ["host_intermediary"]
    (agreed,) = await events_of(service, ev.PlacementAgreed, 1)
    assert (agreed.data["start"], agreed.data["end"]) == ("2027-04-05", "2027-05-02")  # 4 weeks from Monday 5 April

    # active from its first day; reports from both sides; completed on its last day
    reports = f"{API}/placements/{plc}/reports"
    assert (await client.post(reports, json={"kind": "progress", "text": "x"}, headers=ann)).status_code == 409
    clock.now = datetime(2027, 4, 5, 8, tzinfo=UTC)
    assert (await client.get(f"{API}/placements/{plc}", headers=ann)).json()["status"] == "active"
    assert (
        await client.post(reports, json={"kind": "progress", "text": "Week 1 done"}, headers=ann)
    ).status_code == 200
    assert (await client.post(reports, json={"kind": "final", "text": "x"}, headers=cork)).status_code == 403
    clock.now = datetime(2027, 5, 2, 17, tzinfo=UTC)
    await client.post(reports, json={"kind": "final", "text": "Learnt lean"}, headers=ann)
    r = await client.post(f"{API}/placements/{plc}/complete", headers=bologna)
    assert r.status_code == 409 and r.json()["missing"] == ["host"]
    await client.post(reports, json={"kind": "final", "text": "Helpful"}, headers=ferrari)
    assert (await client.post(f"{API}/placements/{plc}/complete", headers=ferrari)).status_code == 403
    r = await client.post(f"{API}/placements/{plc}/complete", headers=bologna)
    assert r.status_code == 200 and r.json()["status"] == "completed"
    (done,) = await events_of(service, ev.PlacementCompleted, 1)
    assert (done.data["outcome"], done.data["reason"], done.data["cross_border"]) == ("completed", None, True)

    # the host sees its applicant; the applicant's own region lists her
    assert (await client.get(f"{API}/applicants/{aid}", headers=ferrari)).status_code == 200
    assert [a["id"] for a in (await client.get(f"{API}/applicants", headers=cork)).json()] == [aid]
    assert (await client.get(f"{API}/applicants", headers=bologna)).json() == []

    # a second placement, in Cork itself (not cross-border), agreed and ended early
    local = {"Authorization": token("lou", "sme_member", org="pharma")}
    bob = {"Authorization": token("bob", "student")}
    bid = (await client.post(f"{API}/applicants", json=application(kind="sme_staff"), headers=bob)).json()["id"]
    lid = (await client.post(f"{API}/hosts", json=hosting(name="Cork Pharma"), headers=local)).json()["id"]
    await client.post(f"{API}/applicants/{bid}/screening", json=accept_, headers=cork)
    await client.post(f"{API}/hosts/{lid}/screening", json=accept_, headers=cork)
    body = {"applicant_id": bid, "host_id": lid, **agreement(("2027-06-07", 1))}
    second = (await client.post(f"{API}/placements", json=body, headers=cork_secretary)).json()["id"]
    url = f"{API}/placements/{second}/acceptances"
    await client.post(url, json={"party": "applicant", "revision": 1}, headers=bob)
    await client.post(url, json={"party": "host", "revision": 1}, headers=local)
    await client.post(url, json={"party": "sending_intermediary", "revision": 1}, headers=cork)
    r = await client.post(url, json={"party": "host_intermediary", "revision": 1}, headers=cork)
    assert r.status_code == 409  # the same person for a second party
    r = await client.post(url, json={"party": "host_intermediary", "revision": 1}, headers=cork_secretary)
    assert r.json()["status"] == "agreed"
    r = await client.post(f"{API}/placements/{second}/end", json={"reason": "the host closed"}, headers=cork)
    assert r.status_code == 200 and r.json()["status"] == "ended_early"
    ended = (await events_of(service, ev.PlacementCompleted, 2))[1]
    assert (ended.data["outcome"], ended.data["reason"], ended.data["cross_border"]) == (
        "ended_early",
        "the host closed",
        False,
    )

    # the share: 2 agreed placements, 1 across a border
    counts = (await client.get(f"{API}/placements/cross-border", headers=analyst)).json()
    assert (counts["placements"], counts["cross_border"], counts["cross_border_share"]) == (2, 1, 0.5)
    assert counts["completed"] == {"total": 1, "cross_border": 1}
    assert counts["ended_early"] == {"total": 1, "cross_border": 0}
    assert (await client.get(f"{API}/placements/cross-border", headers=ann)).status_code == 403
    mine = (await client.get(f"{API}/placements", headers=ann)).json()
    assert [p["id"] for p in mine] == [plc]
    theirs = (await client.get(f"{API}/placements", headers=bologna)).json()
    assert [p["id"] for p in theirs] == [plc]  # Bologna's intermediary: the placement touching its region


async def test_a_revision_needs_every_acceptance_again(
    client: httpx.AsyncClient, token: TokenFactory, partner_key: ec.EllipticCurvePrivateKey
) -> None:
    cork = {"Authorization": token("cork-io", "region_admin")}
    bologna = partner(partner_key, "bo-io", ["region_admin"])
    ann = {"Authorization": token("ann", "student")}
    ferrari = partner(partner_key, "hal", ["sme_member"], org="ferrari")
    aid = (await client.post(f"{API}/applicants", json=application(), headers=ann)).json()["id"]
    hid = (await client.post(f"{API}/hosts", json=hosting(), headers=ferrari)).json()["id"]
    await client.post(f"{API}/applicants/{aid}/screening", json={"decision": "accepted"}, headers=cork)
    await client.post(f"{API}/hosts/{hid}/screening", json={"decision": "accepted"}, headers=bologna)
    body = {"applicant_id": aid, "host_id": hid, **agreement(("2027-04-05", 4))}
    plc = (await client.post(f"{API}/placements", json=body, headers=bologna)).json()["id"]
    url = f"{API}/placements/{plc}/acceptances"
    await client.post(url, json={"party": "applicant", "revision": 1}, headers=ann)
    terms = f"{API}/placements/{plc}/terms"
    assert (
        await client.put(terms, json={"revision": 1, **agreement(("2027-04-05", 6))}, headers=ann)
    ).status_code == 403
    r = await client.put(terms, json={"revision": 1, **agreement(("2027-04-05", 6))}, headers=cork)
    assert r.status_code == 200 and r.json()["revision"] == 2 and r.json()["acceptances"]["applicant"] is None
    r = await client.put(terms, json={"revision": 1, **agreement(("2027-04-05", 8))}, headers=bologna)
    assert r.status_code == 409 and r.json()["revision"] == 2  # a stale revision
    r = await client.post(url, json={"party": "applicant", "revision": 1}, headers=ann)
    assert r.status_code == 409


@pytest.mark.parametrize(
    ("parts", "field"),
    [
        ([{"start": "2027-04-05", "weeks": 0}], "parts.0.weeks"),
        ([{"start": "2027-04-05", "weeks": 27}], "parts.0.weeks"),
        ([{"start": "2027-04-05", "weeks": 13}, {"start": "2027-10-04", "weeks": 14}], "parts"),
        ([{"start": "2027-02-01", "weeks": 2}], "parts.0.start"),
        ([{"start": "2027-04-05", "weeks": 2}, {"start": "2027-04-10", "weeks": 2}], "parts.1.start"),
        ([], "parts"),
        ([{"start": "2027-04-05", "weeks": 1}] * 5, "parts"),
        ([{"start": "someday", "weeks": 1}], "parts.0.start"),
    ],
)
async def test_bad_agreement_dates_are_a_422_naming_the_field_and_nothing_is_stored(
    client: httpx.AsyncClient,
    token: TokenFactory,
    partner_key: ec.EllipticCurvePrivateKey,
    parts: list[dict[str, Any]],
    field: str,
) -> None:
    cork = {"Authorization": token("cork-io", "region_admin")}
    ann = {"Authorization": token("ann", "student")}
    ferrari = partner(partner_key, "hal", ["sme_member"], org="ferrari")
    aid = (await client.post(f"{API}/applicants", json=application(), headers=ann)).json()["id"]
    hid = (await client.post(f"{API}/hosts", json=hosting(), headers=ferrari)).json()["id"]
    await client.post(f"{API}/applicants/{aid}/screening", json={"decision": "accepted"}, headers=cork)
    await client.post(
        f"{API}/hosts/{hid}/screening",
        json={"decision": "accepted"},
        headers=partner(partner_key, "bo", ["region_admin"]),
    )
    body = {"applicant_id": aid, "host_id": hid, "objectives": ["x"], "activity_plan": "y", "parts": parts}
    r = await client.post(f"{API}/placements", json=body, headers=cork)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert field in {e["field"] for e in r.json()["errors"]}
    assert (await client.get(f"{API}/placements", headers=cork)).json() == []


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/applicants", {"kind": "tourist"}, "kind"),
        ("/applicants", {"seeks": []}, "seeks"),
        ("/applicants", {"seeks": ["Lean Ops"]}, "seeks.0"),
        ("/applicants", {"languages": ["english"]}, "languages.0"),
        ("/applicants", {"statement": "x" * 4001}, "statement"),
        ("/applicants", {"business_started": "2019-01-01"}, "business_started"),
        ("/applicants", {"region": "ITH5"}, "region"),
        ("/applicants", {"preferences": ["h"] * 11}, "preferences"),
        ("/hosts", {"years_running": 2}, "years_running"),
        ("/hosts", {"places": 6}, "places"),
        ("/hosts", {"organisation": "IE05:other"}, "organisation"),
        ("/hosts", {"offers": ["a"] * 21}, "offers"),
    ],
)
async def test_bad_applications_and_hosts_are_a_422_naming_the_field(
    client: httpx.AsyncClient, token: TokenFactory, path: str, body: dict[str, Any], field: str
) -> None:
    who = {"Authorization": token("sam", "sme_member", org="acme")}
    full = application(**body) if path == "/applicants" else hosting(**body)
    r = await client.post(API + path, json=full, headers=who)
    assert r.status_code == 422, r.text
    assert field in {e["field"] for e in r.json()["errors"]}
    mine = await client.get(f"{API}/applicants/mine", headers=who)
    assert mine.status_code == 404  # nothing stored


async def test_hosts_not_yet_screened_are_seen_by_their_organisation_and_intermediary_only(
    client: httpx.AsyncClient, token: TokenFactory, partner_key: ec.EllipticCurvePrivateKey
) -> None:
    ferrari = partner(partner_key, "hal", ["sme_member"], org="ferrari")
    colleague = partner(partner_key, "hal2", ["sme_member"], org="ferrari")
    copycat = {"Authorization": token("hal", "sme_member", org="ferrari")}  # the same sub and org, home issuer
    hid = (await client.post(f"{API}/hosts", json=hosting(), headers=ferrari)).json()["id"]
    assert (await client.get(f"{API}/hosts/{hid}", headers=colleague)).status_code == 200
    assert (await client.get(f"{API}/hosts/{hid}", headers=copycat)).status_code == 404
    assert (
        await client.get(f"{API}/hosts/{hid}", headers={"Authorization": token("x", "region_admin")})
    ).status_code == 404
    assert (
        await client.get(f"{API}/hosts/{hid}", headers=partner(partner_key, "bo", ["region_admin"]))
    ).status_code == 200
    listed = await client.get(f"{API}/hosts", params={"status": "submitted"}, headers=colleague)
    assert [h["id"] for h in listed.json()] == [hid]
    assert (await client.get(f"{API}/hosts", params={"status": "submitted"}, headers=copycat)).json() == []
    no_org = {"Authorization": token("nobody", "sme_member")}
    assert (await client.post(f"{API}/hosts", json=hosting(), headers=no_org)).status_code == 403
    assert (await client.post(f"{API}/hosts", json=hosting(), headers=colleague)).status_code == 409  # one per org
    assert person_id(PARTNER, "hal") != pid("hal")
