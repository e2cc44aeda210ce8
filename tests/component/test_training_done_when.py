"""Issue 15's done-when as one story through the embedded gateway (SQLite store and log): an SME assesses
its practices, sees a benchmark with its peer group named and sized, gets a plan that suggests a module,
enrols in it (the module full: one person waitlisted, then promoted when a place frees), attends, completes
it and receives an Open Badges credential that an independent verifier (PyJWT and the JWKS and status
list fetched from the public routes, no token) accepts; a colleague's cross-border placement with a
Bologna SME is screened by each side's intermediary, agreed by its four parties, reported on by both sides
and completed; the plan's due date passes, the SME is invited, re-assesses and sees the deltas. Every
training event of the story is on the log once and valid against its committed schema.

Bologna (ITH5) is a partner issuer trusted by the Cork gateway (its ``region_admin`` and ``sme_member``
mapped here), so the host side is a second region's SME and intermediary, as in
``test_training_placements`` and ``test_tenancy``. Every time-dependent step (sessions started and over,
the placement's first and last day, the plan's due date) moves the training service's injected clock; the
story starts on Monday 2 March 2026, 09:00 UTC.

``done_when`` is reused by ``tests/integration/test_training_real.py`` on Kafka and FerretDB."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI

from clustergrowth.auth import person_id
from clustergrowth.envelope import CloudEvent
from clustergrowth.settings import RuntimeSettings, TrustedIssuer
from instance.app import create_app
from services.training.handlers import plans
from services.training.handlers.context import Training
from tests.component.test_training_api import events, registered_sme, wms
from tests.component.test_training_modules import Clock
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import eventually, pid

API = "/api/v1/training"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"
PARTNER = "https://id.unibo.test/realms/unibo"
START = datetime(2026, 3, 2, 9, tzinfo=UTC)  # a Monday

Who = Callable[..., dict[str, str]]  # who(sub, *roles, org=None) -> the headers of that person
KnownSme = Callable[[httpx.AsyncClient, dict[str, str]], Awaitable[str]]  # an SME of the owner, known to training


def partner_issuer(tmp_path: Path) -> tuple[TrustedIssuer, ec.EllipticCurvePrivateKey]:
    """Bologna's issuer (ITH5): its key, and the trust Cork gives it (its JWKS as a file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwks = tmp_path / "partner-jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "p1", "use": "sig", "alg": "ES256"}]}))
    grants = {"region_admin": ["region_admin"], "sme_member": ["sme_member"]}
    return TrustedIssuer(issuer=PARTNER, region="ITH5", jwks_file=jwks, roles=grants), key


def partner_who(key: ec.EllipticCurvePrivateKey) -> Who:
    def who(sub: str, *roles: str, org: str | None = None) -> dict[str, str]:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": PARTNER, "aud": "clustergrowth", "sub": sub, "roles": list(roles)}
        claims |= {"iat": now, "exp": now + 600, "jti": uuid.uuid4().hex}
        if org:
            claims["org"] = org
        return {"Authorization": "Bearer " + jwt.encode(claims, key, "ES256", headers={"kid": "p1"})}

    return who


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 for an OKP key: the required members in lexicographic order, no whitespace, SHA-256."""
    canonical = json.dumps({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode()).digest())


def verify_independently(
    token: str, jwks: dict[str, Any], issuer: dict[str, Any], status_jwt: str, now: datetime
) -> dict[str, Any]:
    """The credential's claims, checked with PyJWT and the public documents only: the key by its kid (the
    RFC 7638 thumbprint computed here), EdDSA signature, issuer, validity window at ``now`` (the story's
    clock, not the wall clock), and its bit in the status list (gzip, base64url, bit i from the left)
    clear. Raises on any failure."""
    keys = {k["kid"]: k for k in jwks["keys"]}
    assert all(kid == thumbprint(k) for kid, k in keys.items())
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA" and header["kid"] in keys
    claims: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(keys[header["kid"]]).key,
        algorithms=["EdDSA"],
        issuer=issuer["id"],
        options={"verify_exp": False, "verify_nbf": False, "require": ["iss", "sub", "jti", "nbf", "exp"]},
    )
    assert claims["nbf"] <= now.timestamp() < claims["exp"]
    assert claims["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    status_kid = jwt.get_unverified_header(status_jwt)["kid"]
    status = jwt.decode(
        status_jwt, jwt.PyJWK(keys[status_kid]).key, algorithms=["EdDSA"], options={"verify_nbf": False}
    )
    assert status["iss"] == claims["iss"] and status["credentialSubject"]["statusPurpose"] == "revocation"
    entry = claims["credentialStatus"]
    assert entry["statusPurpose"] == "revocation" and entry["statusListCredential"] == status["id"]
    encoded = status["credentialSubject"]["encodedList"]
    assert encoded[0] == "u"  # multibase base64url
    bits = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    index = int(entry["statusListIndex"])
    assert len(bits) * 8 >= 131072 and not bits[index // 8] >> (7 - index % 8) & 1, "revoked"
    return claims


async def until(
    call: Callable[[], Awaitable[httpx.Response]], ready: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    """The JSON of ``call()`` once ``ready`` says so: a wait for the projections and consumers (generous:
    on FerretDB the seeded peers take tens of seconds to fold), never a timed assertion."""
    got: dict[str, Any] = {}

    async def check() -> bool:
        got.clear()
        got.update((await call()).json())
        return ready(got)

    await eventually(check, timeout_s=240, what=what)
    return got


async def done_when(
    client: httpx.AsyncClient, who: Who, partner: Who, t: Training, known_sme: KnownSme
) -> dict[str, Any]:
    """The whole story through ``client``; ``who`` makes this region's people, ``partner`` Bologna's, ``t``
    is the training service's handler context (its clock is set here), ``known_sme`` gives an SME of the
    owner's organisation (C28.29, IE05, 40 staff, council Cork) that training knows. The ids it made."""
    clock = Clock(START)
    t.clock = clock
    owner = who("owner-rubicon", "sme_member", org="org-rubicon")
    colleague = who("eng-rubicon", "sme_member", org="org-rubicon")
    cork, cork_sec = who("cork-io", "region_admin"), who("cork-sec", "council_secretary")
    analyst = who("ana", "analyst")
    bologna = partner("bo-io", "region_admin")
    ferrari = partner("hal", "sme_member", org="ferrari")

    # the seeded C28 x IE05 x small cell (24 firms of 24 organisations) has cut its release of 20 before the
    # SME joins, so the release the SME reads is the same whatever order the log delivers the seed in
    q = {"instrument": "wms", "level": "division_region_size", "nace_division": "C28", "region": "IE05"}
    cell = await until(
        lambda: client.get(f"{API}/benchmarks", params={**q, "size_class": "small"}, headers=analyst),
        lambda c: (c.get("release") or {}).get("n") == 20,
        "the seeded cell's release of 20",
    )
    assert cell["release"]["no"] == 2  # cut at 10 and at 20 organisations

    # assess: operations weak (1, 1, 2), people middling (2), the rest 4
    sme_id = await known_sme(client, owner)
    answers = wms(4, lean_introduction=1, lean_rationale=1, process_problem_documentation=2)
    answers |= {"managing_human_capital": 2, "retaining_talent": 2}
    body = {"sme_id": sme_id, "instrument": "wms", "answers": answers}
    a = await until(  # mapping's SMEAssessed on its way: 422 naming sme_id until the SME is known here
        lambda: client.post(f"{API}/assessments", json=body, headers=owner),
        lambda a: "id" in a or a["errors"][0]["field"] != "sme_id",
        "the SME known to training",
    )
    assert "id" in a, a
    aid = a["id"]
    assert a["scores"]["lean_introduction"] == 1.0 and a["areas"]["operations"] == round(4 / 3, 2), a

    # the benchmark names its peer group and its size: the SME is not among its 20 peers
    b = await until(
        lambda: client.get(f"{API}/assessments/{aid}/benchmark", headers=owner),
        lambda b: b["group"] is not None,
        "the SME's benchmark",
    )
    assert b["group"]["level"] == "division_region_size", b
    assert b["group"]["about"] == {"nace_division": "C28", "region": "IE05", "size_class": "small"}
    assert (b["group"]["n"], b["group"]["organisations"], b["release"]["n"]) == (20, 20, 20)
    assert b["passed_over"] == [] and b["status"] == "current"
    assert b["overall"]["n"] == 20 and b["overall"]["ci95"][0] < b["overall"]["mean"] < b["overall"]["ci95"][1]

    # a coordinator puts a module on the catalogue: one place, sessions on Monday 9 and Tuesday 10 March
    module = {
        "title": "Lean operations for engineering SMEs",
        "description": "Flow, waste, daily boards.",
        "practices": ["lean_introduction", "lean_rationale"],
        "language": "en",
        "format": "blended",
        "duration_hours": 4,
        "capacity": 1,
        "sessions": [
            {"title": "Flow", "start": "2026-03-09T10:00:00Z", "end": "2026-03-09T12:00:00Z"},
            {"title": "Boards", "start": "2026-03-10T10:00:00Z", "end": "2026-03-10T12:00:00Z"},
        ],
    }
    r = await client.post(f"{API}/modules", json=module, headers=cork)
    assert r.status_code == 201, r.text
    mid = r.json()["id"]

    # the plan: the weakest practices (ties in instrument order), due six months on (2 September), and the
    # module, whose sessions are ahead on the service's clock, suggested
    r = await client.post(f"{API}/plans", json={"assessment_id": aid}, headers=owner)
    assert r.status_code == 201, r.text
    plan = r.json()
    assert [f["practice"] for f in plan["focus_areas"]] == [
        "lean_introduction",
        "lean_rationale",
        "managing_human_capital",
    ]
    assert plan["due"] == "2026-09-02" and plan["suggested_modules"] == [mid]

    # the colleague takes the one place, the owner is waitlisted; the colleague cancels: the owner is promoted
    first = await client.post(f"{API}/modules/{mid}/enrolments", headers=colleague)
    second = await client.post(f"{API}/modules/{mid}/enrolments", headers=owner)
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert (first.json()["status"], second.json()["status"], second.json()["waitlist_position"]) == (
        "confirmed",
        "waitlisted",
        1,
    )
    eid = second.json()["id"]
    r = await client.post(f"{API}/enrolments/{first.json()['id']}/cancel", headers=colleague)
    assert r.status_code == 200 and r.json()["promoted"] == [eid], r.text
    assert (await client.get(f"{API}/enrolments/{eid}", headers=owner)).json()["status"] == "confirmed"

    # attendance at both sessions, each recorded once it has started; completion once the last has ended
    attend = f"{API}/modules/{mid}/sessions/{{}}/attendance"
    clock.now = datetime(2026, 3, 9, 10, tzinfo=UTC)
    r = await client.put(attend.format(1), json={"present": [pid("owner-rubicon")]}, headers=cork)
    assert r.status_code == 200, r.text
    clock.now = datetime(2026, 3, 10, 11, 59, tzinfo=UTC)  # session 2 under way
    r = await client.put(attend.format(2), json={"present": [pid("owner-rubicon")]}, headers=cork)
    assert r.status_code == 200, r.text
    r = await client.post(f"{API}/enrolments/{eid}/complete", headers=cork)
    assert r.status_code == 409, r.text  # a minute before the last session ends
    clock.now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    r = await client.post(f"{API}/enrolments/{eid}/complete", headers=cork)
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    cid = r.json()["credential_id"]

    # the credential, checked with the public documents only (no token) and PyJWT
    held = await client.get(f"{API}/credentials/{cid}", headers=owner)
    assert held.status_code == 200 and held.json()["revoked"] is False, held.text
    jwks = await client.get(f"{API}/credentials/jwks.json")
    issuer = await client.get(f"{API}/credentials/issuer")
    status = await client.get(f"{API}/credentials/status")
    assert (jwks.status_code, issuer.status_code, status.status_code) == (200, 200, 200)
    assert status.headers["content-type"].startswith("application/vc+jwt")
    claims = verify_independently(held.json()["jwt"], jwks.json(), issuer.json(), status.text, clock.now)
    assert claims["sub"] == f"urn:smeclustergrowth:person:{pid('owner-rubicon')}"
    assert claims["jti"] == f"urn:uuid:{cid}" and claims["nbf"] == int(clock.now.timestamp())
    assert claims["credentialSubject"]["achievement"]["name"] == module["title"]
    assert claims["credentialSubject"]["achievement"]["tag"] == module["practices"]

    # a placement: the colleague (Cork) applies, a Bologna SME offers to host; each side screened by its own
    # region's intermediary
    application = {
        "kind": "sme_staff",
        "offers": ["software"],
        "seeks": ["lean", "export"],
        "languages": ["en"],
        "statement": "Lean lines and Italian distributors",
    }
    r = await client.post(f"{API}/applicants", json=application, headers=colleague)
    assert r.status_code == 201 and r.json()["region"] == "IE05", r.text
    applicant = r.json()["id"]
    hosting = {
        "name": "Officine Ferrari",
        "kind": "sme",
        "years_running": 12,
        "places": 1,
        "offers": ["lean", "export"],
        "seeks": ["software"],
        "languages": ["it", "en"],
    }
    r = await client.post(f"{API}/hosts", json=hosting, headers=ferrari)
    assert r.status_code == 201 and (r.json()["organisation"], r.json()["region"]) == ("ITH5:ferrari", "ITH5"), r.text
    host = r.json()["id"]
    accept = {"decision": "accepted", "note": ""}
    assert (await client.post(f"{API}/applicants/{applicant}/screening", json=accept, headers=cork)).status_code == 200
    assert (await client.post(f"{API}/hosts/{host}/screening", json=accept, headers=bologna)).status_code == 200

    # proposed by Cork's intermediary: four weeks from Monday 6 April; agreed at the fourth acceptance
    terms = {
        "applicant_id": applicant,
        "host_id": host,
        "objectives": ["Run a lean line", "Meet Italian distributors"],
        "activity_plan": "Weeks 1-2 on the line; weeks 3-4 with sales.",
        "parts": [{"start": "2026-04-06", "weeks": 4}],
    }
    r = await client.post(f"{API}/placements", json=terms, headers=cork)
    assert r.status_code == 201 and r.json()["cross_border"] is True, r.text
    placement = r.json()["id"]
    url = f"{API}/placements/{placement}/acceptances"
    parties = [(colleague, "applicant"), (ferrari, "host"), (cork_sec, "sending_intermediary")]
    for h, party in [*parties, (bologna, "host_intermediary")]:
        r = await client.post(url, json={"party": party, "revision": 1}, headers=h)
        assert r.status_code == 200, (party, r.text)
        assert r.json()["status"] == ("agreed" if party == "host_intermediary" else "proposed"), party

    # active from its first day; both sides report; completed on its last day (Sunday 3 May)
    clock.now = datetime(2026, 4, 5, 23, 59, tzinfo=UTC)
    assert (await client.get(f"{API}/placements/{placement}", headers=colleague)).json()["status"] == "agreed"
    clock.now = datetime(2026, 4, 6, 8, tzinfo=UTC)
    assert (await client.get(f"{API}/placements/{placement}", headers=colleague)).json()["status"] == "active"
    reports = f"{API}/placements/{placement}/reports"
    r = await client.post(reports, json={"kind": "progress", "text": "Week 1 on the line"}, headers=colleague)
    assert r.status_code == 200, r.text
    clock.now = datetime(2026, 5, 3, 17, tzinfo=UTC)
    for h, text in ((colleague, "Ran a lean line"), (ferrari, "A useful month")):
        r = await client.post(reports, json={"kind": "final", "text": text}, headers=h)
        assert r.status_code == 200, r.text
    r = await client.post(f"{API}/placements/{placement}/complete", headers=bologna)
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    share = (await client.get(f"{API}/placements/cross-border", headers=analyst)).json()
    assert (share["placements"], share["cross_border"], share["cross_border_share"]) == (1, 1, 1.0)

    # the due date (2 September) passes: invited once, the day after
    clock.now = datetime(2026, 9, 2, 23, 59, tzinfo=UTC)
    assert await plans.invite_due(t) == 0
    clock.now = datetime(2026, 9, 3, 0, 0, tzinfo=UTC)
    assert await plans.invite_due(t) == 1
    r = await client.get(f"{API}/plans/{plan['id']}", headers=owner)
    assert r.json()["status"] == "reassessment_invited", r.text

    # re-assessed: lean_introduction 1 -> 2 (target 2 met), lean_rationale 1 -> 3, managing_human_capital
    # 2 -> 2 (target 3 not met), target_balance 4 -> 5 (no goal)
    again = answers | {"lean_introduction": 2, "lean_rationale": 3, "target_balance": 5}
    body = {"sme_id": sme_id, "instrument": "wms", "answers": again, "previous_assessment_id": aid}
    r = await client.post(f"{API}/assessments", json=body, headers=owner)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    c = (await client.get(f"{API}/assessments/{rid}/comparison", headers=owner)).json()
    rows = {
        x["practice"]: (x["baseline"], x["current"], x["delta"], x["target"], x["goal_met"]) for x in c["practices"]
    }
    assert rows["lean_introduction"] == (1.0, 2.0, 1.0, 2.0, True)
    assert rows["lean_rationale"] == (1.0, 3.0, 2.0, 2.0, True)
    assert rows["managing_human_capital"] == (2.0, 2.0, 0.0, 3.0, False)
    assert rows["target_balance"] == (4.0, 5.0, 1.0, None, None)
    assert rows["retaining_talent"][2] == 0.0
    return {
        "sme_id": sme_id,
        "aid": aid,
        "rid": rid,
        "plan": plan["id"],
        "mid": mid,
        "enrolments": [first.json()["id"], eid],
        "cid": cid,
        "placement": placement,
        "host": host,
    }


SUBJECTS = ("sme_id", "plan", "mid", "placement")  # the story's events' partition keys
N_EVENTS = 10  # 2 PracticesAssessed, ActionPlanCreated, ReassessmentInvited, 2 EnrolmentConfirmed,
# ModuleCompleted, PlacementProposed, PlacementAgreed, PlacementCompleted


def check_done_when_events(found: list[CloudEvent], ids: dict[str, Any]) -> None:
    """Every training event of ``done_when`` is in ``found`` once, valid against its committed schema, with
    the facts of the story."""

    def of(key: str, name: str, n: int = 1) -> list[dict[str, Any]]:
        got = [e for e in found if e.name == name and e.partitionkey == ids[key]]
        assert len(got) == n, f"{len(got)} {name} about {key}, not {n}"
        schema = json.loads((SCHEMAS / f"{got[0].type}.json").read_text())
        for e in got:
            jsonschema.validate(e.data, schema)
            assert e.region == "IE05"
        return [e.data for e in got]

    assert len({e.id for e in found}) == N_EVENTS, sorted(e.name for e in found)
    first, again = of("sme_id", "PracticesAssessed", 2)  # keyed by the SME: its assessments in order
    assert (first["assessment_id"], again["assessment_id"]) == (ids["aid"], ids["rid"])
    assert (first["sme_id"], first["nace_division"], first["size_class"], first["councils"]) == (
        ids["sme_id"],
        "C28",
        "small",
        ["Cork"],
    )
    assert (first["previous_assessment_id"], again["previous_assessment_id"]) == (None, ids["aid"])
    (created,) = of("plan", "ActionPlanCreated")
    (invited,) = of("plan", "ReassessmentInvited")
    assert created["focus_areas"] == ["lean_introduction", "lean_rationale", "managing_human_capital"]
    assert created["due"] == invited["due"] == "2026-09-02" and invited["invited_at"].startswith("2026-09-03T00:00")
    confirmed = of("mid", "EnrolmentConfirmed", 2)
    assert [(e["enrolment_id"], e["person"], e["from_waitlist"]) for e in confirmed] == [
        (ids["enrolments"][0], pid("eng-rubicon"), False),
        (ids["enrolments"][1], pid("owner-rubicon"), True),
    ]
    assert all(e["organisation"] == "IE05:org-rubicon" for e in confirmed)
    (completed,) = of("mid", "ModuleCompleted")
    assert (completed["credential_id"], completed["person"]) == (ids["cid"], pid("owner-rubicon"))
    assert completed["completed_at"].startswith("2026-03-10T12:00")
    placement = [of("placement", n)[0] for n in ("PlacementProposed", "PlacementAgreed", "PlacementCompleted")]
    for p in placement:
        assert (p["applicant"], p["host_id"], p["weeks"], p["cross_border"]) == (
            pid("eng-rubicon"),
            ids["host"],
            4,
            True,
        )
        assert (p["applicant_region"], p["host_region"]) == ("IE05", "ITH5")
    assert (placement[1]["start"], placement[1]["end"]) == ("2026-04-06", "2026-05-03")
    assert (placement[2]["outcome"], placement[2]["reason"]) == ("completed", None)
    assert person_id(PARTNER, "hal") not in json.dumps([e.data for e in found])  # no host person in events


@pytest.fixture
def bologna(tmp_path: Path) -> tuple[TrustedIssuer, ec.EllipticCurvePrivateKey]:
    return partner_issuer(tmp_path)


@pytest.fixture
def settings(tmp_path: Path, bologna: tuple[TrustedIssuer, ec.EllipticCurvePrivateKey]) -> RuntimeSettings:
    return RuntimeSettings(
        data_dir=tmp_path / "data", region="IE05", seed_demo=True, relay_interval_s=0.05, auth_partners=[bologna[0]]
    )


@pytest.fixture
def app(settings: RuntimeSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(app):
        yield c


async def test_the_done_when_story_through_the_gateway(
    app: FastAPI,
    client: httpx.AsyncClient,
    settings: RuntimeSettings,
    token: TokenFactory,
    bologna: tuple[TrustedIssuer, ec.EllipticCurvePrivateKey],
) -> None:
    def who(sub: str, *roles: str, org: str | None = None) -> dict[str, str]:
        return {"Authorization": token(sub, *roles, org=org)}

    ids = await done_when(client, who, partner_who(bologna[1]), app.state.training, registered_sme)
    subjects = {ids[k] for k in SUBJECTS}
    for _ in range(200):  # the relay publishes what the writes put in their outboxes
        found = [e for e in await events(settings) if e.partitionkey in subjects]
        if len(found) >= N_EVENTS:
            break
        await asyncio.sleep(0.05)
    check_done_when_events(found, ids)
