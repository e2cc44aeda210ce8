"""Training modules through HTTP: a small training service (a ``ServiceComponent`` subclass with an
injected clock) with the modules router included and ``attach`` called, the way the integrator will wire
it. Enrolment up to capacity, one person waitlisted and promoted when a place frees, attendance,
completion, and a credential that an independent verifier (PyJWT with the JWKS fetched over the API, and
the status list decoded by hand) accepts, and refuses once tampered with, signed by another key, or
revoked. Every event on the log is validated against its committed schema."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi import APIRouter

from clustergrowth.bus import EventBus
from clustergrowth.component import ServiceComponent
from clustergrowth.context import Context
from clustergrowth.envelope import CloudEvent
from clustergrowth.settings import RuntimeSettings, ServiceSettings
from clustergrowth.store import DocumentStore
from clustergrowth.web import standalone_app
from contracts import training as ev
from services.training import modules, placements
from services.training.modules import CredentialSettings
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import eventually, pid, read_all

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"
START = datetime(2027, 3, 1, 9, tzinfo=UTC)
API = "/api/v1/training"


class Clock:
    """The service's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class PlansContext(Context):
    """A handler context with the plans' hook, as the training service's has."""

    modules_for: Any = None


class StubSettings(ServiceSettings):
    database: str = "training"


def training_router() -> APIRouter:
    router = APIRouter()
    router.include_router(modules.router)
    router.include_router(placements.router)
    return router


class Training(ServiceComponent):
    """The training service's shell as far as these parts need it: a store, a bus, an outbox relay and a
    handler context with a clock; the parts attached with one line each."""

    name = "training"
    router = training_router()
    settings_class = StubSettings
    events_topic = ev.TOPIC

    def __init__(
        self,
        settings: RuntimeSettings,
        own: ServiceSettings | None = None,
        *,
        store: DocumentStore | None = None,
        bus: EventBus | None = None,
        clock: Clock | None = None,
        credentials: CredentialSettings | None = None,
    ) -> None:
        super().__init__(settings, own, store=store, bus=bus)
        self.clock = clock or Clock(START)
        self.context = PlansContext(
            self.store, settings.region, service="training", notify=self.relay.notify, clock=self.clock
        )
        modules.attach(self, credentials or CredentialSettings(base_url="https://ie05.test/api/v1/training"))
        placements.attach(self)

    async def prepare(self) -> None:
        await modules.ensure_indexes(self.store)
        await placements.ensure_indexes(self.store)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def service(settings: RuntimeSettings, clock: Clock) -> Training:
    return Training(settings.model_copy(update={"seed_demo": False}), clock=clock)


@pytest.fixture
async def client(service: Training, settings: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(standalone_app(settings, service, "training")):
        yield c


async def events_of(service: Training, kind: type[ev.EventData], n: int) -> list[CloudEvent]:
    """Wait until ``n`` events of ``kind`` are on the log; each one valid against its committed schema."""
    found: list[CloudEvent] = []

    async def enough() -> bool:
        found[:] = [e for e in await read_all(service.bus, service.topic) if e.type == kind.event_type()]
        return len(found) >= n

    await eventually(enough, what=f"{n} {kind.name}")
    schema = json.loads((SCHEMAS / f"{kind.event_type()}.json").read_text())
    for e in found:
        jsonschema.validate(e.data, schema)
    return found


def at(day: int, hour: int) -> str:
    return datetime(2027, 3, day, hour, tzinfo=UTC).isoformat()


def module_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Lean operations for engineering SMEs",
        "description": "Flow, waste, daily boards.",
        "practices": ["ops_lean", "mon_kpi"],
        "language": "en",
        "format": "blended",
        "duration_hours": 8,
        "capacity": 2,
        "sessions": [
            {"title": "Flow", "start": at(2, 10), "end": at(2, 12), "place": "MTU Rubicon"},
            {"title": "Boards", "start": at(3, 10), "end": at(3, 12)},
        ],
    }
    return body | over


def b64json(segment: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return data


def independent_check(token: str, jwks: dict[str, Any], status_jwt: str, now: datetime) -> tuple[bool, str]:
    """A verifier that shares no code with the product: PyJWT, the JWKS as published, the status list
    decoded by hand (gzip, base64url, bit i from the left)."""
    keys = {k["kid"]: jwt.PyJWK(k) for k in jwks["keys"]}
    header = jwt.get_unverified_header(token)
    if header.get("kid") not in keys:
        return False, "unknown key"
    try:
        claims = jwt.decode(
            token, keys[header["kid"]].key, algorithms=["EdDSA"], options={"verify_exp": False, "verify_nbf": False}
        )
    except jwt.InvalidSignatureError:
        return False, "signature"
    if not claims["nbf"] <= now.timestamp() < claims["exp"]:
        return False, "expiry"
    status_key = keys[jwt.get_unverified_header(status_jwt)["kid"]].key
    status = jwt.decode(status_jwt, status_key, algorithms=["EdDSA"], options={"verify_nbf": False})
    if status["iss"] != claims["iss"] or claims["credentialStatus"]["statusListCredential"] != status["id"]:
        return False, "status list of another issuer"
    encoded = status["credentialSubject"]["encodedList"]
    raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    index = int(claims["credentialStatus"]["statusListIndex"])
    if raw[index // 8] >> (7 - index % 8) & 1:
        return False, "revoked"
    return True, "ok"


async def test_enrol_waitlist_promotion_attendance_completion_and_a_credential_that_verifies(
    client: httpx.AsyncClient, service: Training, clock: Clock, token: TokenFactory
) -> None:
    staff = {"Authorization": token("coord", "region_admin")}
    ann, ben, cat = ({"Authorization": token(s, "sme_member", org="acme")} for s in ("ann", "ben", "cat"))
    r = await client.post(f"{API}/modules", json=module_body(), headers=staff)
    assert r.status_code == 201, r.text
    mid = r.json()["id"]
    assert r.json()["sessions"][0]["n"] == 1 and r.json()["free"] == 2 and r.json()["required_sessions"] == 2

    enrolled = [await client.post(f"{API}/modules/{mid}/enrolments", headers=h) for h in (ann, ben, cat)]
    assert [e.status_code for e in enrolled] == [201, 201, 201]
    assert [e.json()["status"] for e in enrolled] == ["confirmed", "confirmed", "waitlisted"]
    assert enrolled[2].json()["waitlist_position"] == 1
    full = (await client.get(f"{API}/modules/{mid}", headers=cat)).json()
    assert (full["confirmed"], full["waitlisted"], full["free"]) == (2, 1, 0)
    assert "enrolments" not in full

    # ben frees his place: cat is promoted
    r = await client.post(f"{API}/enrolments/{enrolled[1].json()['id']}/cancel", headers=ben)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["promoted"] == [enrolled[2].json()["id"]]
    confirmed = await events_of(service, ev.EnrolmentConfirmed, 3)
    assert [(e.data["person"], e.data["from_waitlist"]) for e in confirmed] == [
        (pid("ann"), False),
        (pid("ben"), False),
        (pid("cat"), True),
    ]
    assert confirmed[0].data["organisation"] == "IE05:acme" and confirmed[0].data["practices"] == [
        "ops_lean",
        "mon_kpi",
    ]
    roster = (await client.get(f"{API}/modules/{mid}/enrolments", headers=staff)).json()
    assert [(x["person"], x["status"]) for x in roster] == [
        (pid("ann"), "confirmed"),
        (pid("ben"), "cancelled"),
        (pid("cat"), "confirmed"),
    ]

    # attendance: ann at both sessions, cat at the first only
    clock.now = datetime(2027, 3, 2, 12, tzinfo=UTC)
    r = await client.put(
        f"{API}/modules/{mid}/sessions/1/attendance", json={"present": [pid("ann"), pid("cat")]}, headers=staff
    )
    assert r.status_code == 200 and r.json()["present"] == sorted([pid("ann"), pid("cat")])
    r = await client.put(f"{API}/modules/{mid}/sessions/2/attendance", json={"present": [pid("ann")]}, headers=staff)
    assert r.status_code == 409  # session 2 has not started
    clock.now = datetime(2027, 3, 3, 12, tzinfo=UTC)  # the last session ends now
    await client.put(f"{API}/modules/{mid}/sessions/2/attendance", json={"present": [pid("ann")]}, headers=staff)
    ann_e, cat_e = enrolled[0].json()["id"], enrolled[2].json()["id"]
    r = await client.post(f"{API}/enrolments/{cat_e}/complete", headers=staff)
    assert r.status_code == 409 and "attended 1 of the 2" in r.json()["detail"]
    r = await client.post(f"{API}/enrolments/{ann_e}/complete", headers=ann)
    assert r.status_code == 403
    r = await client.post(f"{API}/enrolments/{ann_e}/complete", headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "completed"
    cid = r.json()["credential_id"]
    (done,) = await events_of(service, ev.ModuleCompleted, 1)
    assert (done.data["credential_id"], done.data["person"], done.data["module_id"]) == (cid, pid("ann"), mid)

    # the credential, its holder's; nobody else's
    mine = await client.get(f"{API}/credentials/{cid}", headers=ann)
    assert mine.status_code == 200 and mine.json()["revoked"] is False
    assert (await client.get(f"{API}/credentials/{cid}", headers=cat)).status_code == 404
    assert [c["id"] for c in (await client.get(f"{API}/credentials/mine", headers=ann)).json()] == [cid]
    vc = mine.json()["credential"]
    assert vc["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert vc["credentialSubject"]["achievement"]["name"] == "Lean operations for engineering SMEs"
    token_ = mine.json()["jwt"]

    # an independent verifier with the JWKS fetched over the API
    jwks = (await client.get(f"{API}/credentials/jwks.json", headers=cat)).json()
    status = await client.get(f"{API}/credentials/status", headers=cat)
    assert status.headers["content-type"].startswith("application/vc+jwt")
    assert independent_check(token_, jwks, status.text, clock.now) == (True, "ok")
    head, body, sig = token_.split(".")
    forged_claims = b64json(body) | {"name": "Master of everything"}
    forged = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode()
    tampered = f"{head}.{forged}.{sig}"
    assert independent_check(tampered, jwks, status.text, clock.now) == (False, "signature")
    stranger = ed25519.Ed25519PrivateKey.generate()
    foreign = jwt.encode(b64json(body), stranger, algorithm="EdDSA", headers={"kid": jwks["keys"][0]["kid"]})
    assert independent_check(foreign, jwks, status.text, clock.now) == (False, "signature")

    # the product's own verify agrees
    verify = f"{API}/credentials/verify"
    assert (await client.post(verify, json={"credential": token_}, headers=cat)).json()["valid"] is True
    for bad in (tampered, foreign):
        r = await client.post(verify, json={"credential": bad}, headers=cat)
        assert r.json()["valid"] is False and r.json()["checks"]["signature"] is False

    # revoked: the holder cannot, the coordinator can; both verifiers refuse it after
    assert (await client.post(f"{API}/credentials/{cid}/revoke", json={"reason": "x"}, headers=ann)).status_code == 403
    r = await client.post(f"{API}/credentials/{cid}/revoke", json={"reason": "attendance forged"}, headers=staff)
    assert r.status_code == 200 and r.json()["revoked"] is True
    r = await client.post(f"{API}/credentials/{cid}/revoke", json={"reason": "again"}, headers=staff)
    assert r.status_code == 409
    status = await client.get(f"{API}/credentials/status", headers=cat)
    assert independent_check(token_, jwks, status.text, clock.now) == (False, "revoked")
    r = await client.post(verify, json={"credential": token_}, headers=cat)
    assert r.json()["valid"] is False and r.json()["checks"]["revocation"] is False


async def test_a_second_credential_gets_another_status_index_and_only_it_is_revoked(
    client: httpx.AsyncClient, clock: Clock, token: TokenFactory
) -> None:
    staff = {"Authorization": token("coord", "council_secretary")}
    people = [{"Authorization": token(s, "student")} for s in ("dan", "eve")]
    mid = (await client.post(f"{API}/modules", json=module_body(min_sessions=1), headers=staff)).json()["id"]
    eids = [(await client.post(f"{API}/modules/{mid}/enrolments", headers=h)).json()["id"] for h in people]
    clock.now = datetime(2027, 3, 3, 12, tzinfo=UTC)
    await client.put(
        f"{API}/modules/{mid}/sessions/1/attendance", json={"present": [pid("dan"), pid("eve")]}, headers=staff
    )
    cids = [(await client.post(f"{API}/enrolments/{e}/complete", headers=staff)).json()["credential_id"] for e in eids]
    tokens = [
        (await client.get(f"{API}/credentials/{c}", headers=h)).json()["jwt"] for c, h in zip(cids, people, strict=True)
    ]
    indices = [
        jwt.decode(t, options={"verify_signature": False})["credentialStatus"]["statusListIndex"] for t in tokens
    ]
    assert indices[0] != indices[1]
    await client.post(f"{API}/credentials/{cids[0]}/revoke", json={"reason": "error"}, headers=staff)
    jwks = (await client.get(f"{API}/credentials/jwks.json", headers=staff)).json()
    status = (await client.get(f"{API}/credentials/status", headers=staff)).text
    assert [independent_check(t, jwks, status, clock.now)[1] for t in tokens] == ["revoked", "ok"]


async def test_another_region_key_does_not_verify_here(
    settings: RuntimeSettings, tmp_path: Path, token: TokenFactory
) -> None:
    """A credential signed with another key (another region's key file, the same issuer URL) fails this
    region's verify."""
    from services.training.modules import badges

    bare = settings.model_copy(update={"seed_demo": False})
    badges.load_or_create_key(tmp_path / "other.pem")
    other = Training(
        bare,
        StubSettings(database="training_other"),
        credentials=CredentialSettings(key_file=tmp_path / "other.pem", base_url="https://ie05.test/api/v1/training"),
    )
    here = Training(bare)
    assert other.context.training_modules.issuer.jwk != here.context.training_modules.issuer.jwk  # type: ignore[attr-defined]
    staff = {"Authorization": token("coord", "region_admin")}
    person = {"Authorization": token("fay", "student")}
    async for c in asgi_client(standalone_app(other.settings, other, "other")):
        mid = (await c.post(f"{API}/modules", json=module_body(min_sessions=1), headers=staff)).json()["id"]
        eid = (await c.post(f"{API}/modules/{mid}/enrolments", headers=person)).json()["id"]
        other.clock.now = datetime(2027, 3, 3, 12, tzinfo=UTC)
        await c.put(f"{API}/modules/{mid}/sessions/1/attendance", json={"present": [pid("fay")]}, headers=staff)
        cid = (await c.post(f"{API}/enrolments/{eid}/complete", headers=staff)).json()["credential_id"]
        foreign = (await c.get(f"{API}/credentials/{cid}", headers=person)).json()["jwt"]
    async for c in asgi_client(standalone_app(bare, here, "here")):
        r = await c.post(f"{API}/credentials/verify", json={"credential": foreign}, headers=person)
        assert r.json()["valid"] is False and r.json()["checks"]["signature"] is False


async def test_who_may_manage_modules_and_see_enrolments(client: httpx.AsyncClient, token: TokenFactory) -> None:
    staff = {"Authorization": token("coord", "region_admin")}
    ann = {"Authorization": token("ann", "sme_member", org="acme")}
    away = {"Authorization": token("coord2", "region_admin", region="ITH5")}  # a home token naming another region
    assert (await client.post(f"{API}/modules", json=module_body(), headers=ann)).status_code == 403
    assert (await client.post(f"{API}/modules", json=module_body(), headers=away)).status_code == 403
    mid = (await client.post(f"{API}/modules", json=module_body(), headers=staff)).json()["id"]
    eid = (await client.post(f"{API}/modules/{mid}/enrolments", headers=ann)).json()["id"]
    assert (await client.post(f"{API}/modules/{mid}/enrolments", headers=ann)).status_code == 409
    other = {"Authorization": token("bob", "sme_member", org="acme")}  # same organisation, another person
    assert (await client.get(f"{API}/enrolments/{eid}", headers=other)).status_code == 404
    assert (await client.post(f"{API}/enrolments/{eid}/cancel", headers=other)).status_code == 404
    assert (await client.get(f"{API}/enrolments/{eid}", headers=ann)).json()["module_id"] == mid
    assert (await client.get(f"{API}/enrolments/{eid}", headers=staff)).status_code == 200
    assert [e["id"] for e in (await client.get(f"{API}/enrolments/mine", headers=ann)).json()] == [eid]
    assert (await client.get(f"{API}/enrolments/mine", headers=other)).json() == []
    r = await client.patch(f"{API}/modules/{mid}", json={"capacity": 5}, headers=staff)
    assert r.status_code == 200 and r.json()["free"] == 4
    listed = (await client.get(f"{API}/modules", params={"practice": "ops_lean"}, headers=ann)).json()
    assert [m["id"] for m in listed] == [mid]
    assert (await client.get(f"{API}/modules", params={"practice": "ppl_hiring"}, headers=ann)).json() == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"practices": ["Ops Lean"]}, "practices.0"),
        ({"practices": []}, "practices"),
        ({"practices": ["a"] * 19}, "practices"),
        ({"practices": ["ops_lean", "ops_lean"]}, "practices"),
        ({"format": "by_post"}, "format"),
        ({"language": "english"}, "language"),
        ({"capacity": 0}, "capacity"),
        ({"capacity": 201}, "capacity"),
        ({"title": "x" * 201}, "title"),
        ({"duration_hours": 0}, "duration_hours"),
        ({"sessions": []}, "sessions"),
        ({"min_sessions": 3}, "min_sessions"),
        ({"sessions": [{"title": "A", "start": at(2, 12), "end": at(2, 10)}]}, "sessions.0.end"),
        ({"sessions": [{"title": "A", "start": 1700000000, "end": at(2, 10)}]}, "sessions.0.start"),
        ({"owner": "p-x"}, "owner"),
    ],
)
async def test_bad_module_input_is_a_422_naming_the_field(
    client: httpx.AsyncClient, token: TokenFactory, change: dict[str, Any], field: str
) -> None:
    staff = {"Authorization": token("coord", "region_admin")}
    r = await client.post(f"{API}/modules", json=module_body(**change), headers=staff)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert field in {e["field"] for e in r.json()["errors"]}
    assert (await client.get(f"{API}/modules", headers=staff)).json() == []  # nothing stored


async def test_bad_attendance_verify_and_revoke_bodies_name_the_field(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    staff = {"Authorization": token("coord", "region_admin")}
    mid = (await client.post(f"{API}/modules", json=module_body(), headers=staff)).json()["id"]
    cases = [
        ("PUT", f"{API}/modules/{mid}/sessions/1/attendance", {"present": ["bob"]}, "present.0"),
        ("PUT", f"{API}/modules/{mid}/sessions/41/attendance", {"present": []}, "n"),
        ("POST", f"{API}/credentials/verify", {"credential": "x" * 20001}, "credential"),
        ("POST", f"{API}/credentials/nope/revoke", {"reason": ""}, "reason"),
        ("GET", f"{API}/modules?language=english", None, "language"),
    ]
    for method, url, body, field in cases:
        r = await client.request(method, url, json=body, headers=staff)
        assert r.status_code == 422 and field in {e["field"] for e in r.json()["errors"]}, (url, r.text)


def test_production_needs_a_key_file(settings: RuntimeSettings) -> None:
    prod = settings.model_copy(update={"environment": "production", "auth_issuer": "https://id.test"})
    with pytest.raises(ValueError, match="KEY_FILE"):
        Training(prod)


def test_a_configured_key_file_is_used(settings: RuntimeSettings, tmp_path: Path) -> None:
    from services.training.modules import badges

    key_path = tmp_path / "region.pem"
    key = badges.load_or_create_key(key_path)
    service = Training(settings, credentials=CredentialSettings(key_file=key_path, base_url="https://x.test/t"))
    issuer = service.context.training_modules.issuer  # type: ignore[attr-defined]
    assert issuer.jwk == badges.public_jwk(key.public_key()) and issuer.id == "https://x.test/t/credentials/issuer"
    assert not (settings.data_dir / "training-credentials").exists()


async def test_the_plans_hook_suggests_running_modules_for_the_practices(
    client: httpx.AsyncClient, service: Training, clock: Clock, token: TokenFactory
) -> None:
    staff = {"Authorization": token("coord", "region_admin")}
    late = [{"title": "Late", "start": at(20, 10), "end": at(20, 12)}]
    lean = (await client.post(f"{API}/modules", json=module_body(sessions=late), headers=staff)).json()["id"]
    soon = (await client.post(f"{API}/modules", json=module_body(), headers=staff)).json()["id"]
    people = (await client.post(f"{API}/modules", json=module_body(practices=["ppl_hiring"]), headers=staff)).json()
    hook = service.context.modules_for
    assert await hook(service.store, ["ops_lean"]) == [soon, lean]  # soonest first
    assert await hook(service.store, ["ppl_hiring", "tgt_stretch"]) == [people["id"]]
    assert await hook(service.store, []) == []
    clock.now = datetime(2027, 3, 3, 12, tzinfo=UTC)  # the early modules' last session ends now: over
    assert await hook(service.store, ["ops_lean", "ppl_hiring"]) == [lean]


async def test_a_coordinator_neither_records_her_own_attendance_nor_completes_her_own_enrolment(
    client: httpx.AsyncClient, clock: Clock, token: TokenFactory
) -> None:
    """The tester's probe: a coordinator enrolled in her own module, recorded herself present and issued
    her own badge. Both are 403 naming the rule, nothing recorded; another coordinator of the region does
    both, and the badge is issued."""
    me = {"Authorization": token("coord", "region_admin")}
    colleague = {"Authorization": token("coord-b", "council_secretary")}
    mid = (await client.post(f"{API}/modules", json=module_body(min_sessions=1), headers=me)).json()["id"]
    e = await client.post(f"{API}/modules/{mid}/enrolments", headers=me)
    assert e.status_code == 201, e.text
    clock.now = datetime(2027, 3, 2, 11, tzinfo=UTC)
    r = await client.put(f"{API}/modules/{mid}/sessions/1/attendance", json={"present": [pid("coord")]}, headers=me)
    assert r.status_code == 403 and "your own attendance" in r.json()["detail"], r.text
    assert (await client.get(f"{API}/enrolments/{e.json()['id']}", headers=me)).json().get("attended") in (None, [])
    clock.now = datetime(2027, 3, 4, 11, tzinfo=UTC)
    r = await client.post(f"{API}/enrolments/{e.json()['id']}/complete", headers=me)
    assert r.status_code == 403 and "your own enrolment" in r.json()["detail"], r.text
    clock.now = datetime(2027, 3, 2, 11, tzinfo=UTC)
    r = await client.put(
        f"{API}/modules/{mid}/sessions/1/attendance", json={"present": [pid("coord")]}, headers=colleague
    )
    assert r.status_code == 200 and r.json()["present"] == [pid("coord")], r.text
    clock.now = datetime(2027, 3, 4, 11, tzinfo=UTC)
    r = await client.post(f"{API}/enrolments/{e.json()['id']}/complete", headers=colleague)
    assert r.status_code == 200 and r.json()["status"] == "completed" and r.json()["credential_id"], r.text
