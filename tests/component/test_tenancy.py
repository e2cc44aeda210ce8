"""Tenancy tests generated from the gateway's route table: a person is (issuer, subject) and an
organisation a platform id, so a partner region's token that copies a home user's ``sub`` and ``org``
reaches none of their objects; staff roles act here only when this region grants them; and body fields
that point at an organisation's objects are checked against the caller's own organisation.

The expected answers come from the tenancy rules written out below, not from the code under test."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from clustergrowth.auth import ANY, PUBLIC, DevIssuer, person_id
from clustergrowth.settings import RuntimeSettings, TrustedIssuer
from gateway.app import GatewaySettings
from instance.app import create_app
from tests.component.test_authorization import (
    FOR_ONESELF,
    PUBLIC_OBJECTS,
    STAFF,
    VALID,
    _objects_of_org_a,
    call,
    fill,
    object_routes,
    operations,
)
from tests.component.test_facilities_api import slot
from tests.component.test_mapping_api import answers
from tests.component.test_matching_api import challenge, profile
from tests.component.test_training_api import wms as training_answers
from tests.component.test_training_placements import agreement, application, hosting
from tests.conftest import asgi_client
from tests.helpers import pid

PARTNER = "https://id.unibo.example/realms/unibo"
OWNERS = ("stu-a", "owner-a", "prof-a", "coordinator")  # the subjects that own organisation A's objects
PRIVATE_IDS: tuple[str, ...] = ("booking_id", "sme_id", "candidate_id", "match_id", "round_id")
PRIVATE_IDS += ("request_id", "member_id", "decision_id")  # a council's invitation, membership, decision
PRIVATE_IDS += ("assessment_id", "plan_id")  # an SME's management-practice assessment and its growth plan
PRIVATE_IDS += ("enrolment_id", "credential_id")  # a person's enrolment in a module, her credential
PRIVATE_IDS += ("applicant_id", "host_id", "placement_id")  # an application, a host not yet accepted, a placement
MEMBERS_SEE = {"host_id"}  # an organisation's objects that any of its members sees, whatever her roles
# Region-scoped staff roles: what a token from another region, or a partner without a grant, must not get.
REGION_STAFF = ["region_admin", "council_secretary", "platform_admin"]
# Body fields that point at something an organisation or a person owns, and what each route does with them.
POINTERS = {
    ("POST", "/api/v1/facilities/sites", "organisation"): "only your own organisation (region staff: any)",
    ("POST", "/api/v1/facilities/resources", "site_id"): "only at a site of your own organisation",
    ("POST", "/api/v1/facilities/trainings", "person"): "counts only at your own organisation's resources",
    ("POST", "/api/v1/matching/challenges", "sme_id"): "only an SME of your own organisation",
    ("POST", "/api/v1/matching/challenges/{challenge_id}/publish", "sme_id"): "only an SME of your organisation",
    ("POST", "/api/v1/matching/challenges", "supervisor"): "names a person; gives them no object of yours",
    ("POST", "/api/v1/matching/challenges/{challenge_id}/publish", "supervisor"): "names a person, as above",
    ("POST", "/api/v1/facilities/bookings", "resource_id"): "a catalogue object: anyone may book by the policy",
    ("POST", "/api/v1/facilities/series", "resource_id"): "a catalogue object: each occurrence is booked by the policy",
    # test_facilities_checkin.py: a student joining the line of the academics' desk is 403 naming the rule
    ("POST", "/api/v1/facilities/waitlist", "resource_id"): "a catalogue object: joining is checked by the policy",
    ("POST", "/api/v1/matching/rounds", "programme"): "not a pointer",
    ("POST", "/api/v1/councils/councils/{council_id}/invitations", "person"): "names the invitee; only she accepts",
    ("POST", "/api/v1/councils/councils/{council_id}/invitations", "organisation"): "the invitee's, as stated",
    ("POST", "/api/v1/councils/councils/{council_id}/meetings/{meeting_id}/check-ins", "person"): "an active member",
    ("POST", "/api/v1/training/assessments", "sme_id"): "only an SME of your own organisation",
    ("POST", "/api/v1/training/placements", "applicant_id"): "only an applicant the intermediary may see",
    ("POST", "/api/v1/training/placements", "host_id"): "only an accepted host, or one of the caller's region",
}
POINTER_NAMES = {"organisation", "site_id", "resource_id", "sme_id", "person", "supervisor", "challenge_id"}
POINTER_NAMES |= {"applicant_id", "host_id"}


@pytest.fixture
def partner_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def settings(tmp_path: Path, partner_key: ec.EllipticCurvePrivateKey) -> RuntimeSettings:
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(partner_key.public_key(), as_dict=True)
    jwks = tmp_path / "partner-jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "p1", "use": "sig", "alg": "ES256"}]}))
    grants = {r: [r] for r in ("student", "academic", "sme_member", "facility_manager", "analyst")}
    partner = TrustedIssuer(issuer=PARTNER, region="ITH5", jwks_file=jwks, roles=grants)
    return RuntimeSettings(data_dir=tmp_path / "data", relay_interval_s=0.05, auth_partners=[partner])


@pytest.fixture
async def client(settings: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(create_app(settings, GatewaySettings(rate_limits=False))):
        yield c


def partner(key: ec.EllipticCurvePrivateKey, sub: str, roles: list[str], org: str, region: str = "IE05") -> dict:
    now = int(time.time())
    claims = {
        "iss": PARTNER,
        "aud": "clustergrowth",
        "sub": sub,
        "roles": roles,
        "org": org,
        "region": region,  # a partner cannot make its people local by saying so
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    }
    return {"Authorization": "Bearer " + jwt.encode(claims, key, "ES256", headers={"kid": "p1"})}


def home(settings: RuntimeSettings, sub: str, roles: list[str], org: str | None, region: str = "IE05") -> dict:
    return {"Authorization": "Bearer " + DevIssuer(settings.data_dir).mint(settings, sub, roles, region, org)}


def test_a_person_is_issuer_and_subject() -> None:
    """The same sub from two issuers is two people; the id is stable, URL-safe and hides the sub."""
    a, b = person_id("urn:clustergrowth:dev-issuer", "alice"), person_id(PARTNER, "alice")
    assert a != b and a == person_id("urn:clustergrowth:dev-issuer", "alice")
    assert re.fullmatch(r"p-[a-z2-7]{26}", a) and "alice" not in a
    # the separator cannot be forged: moving characters between issuer and subject changes the id
    assert person_id("urn:x", "y:z") != person_id("urn:x:y", "z")


async def test_a_partner_token_copying_a_home_users_sub_and_org_reaches_nothing_of_theirs(
    client: httpx.AsyncClient, settings: RuntimeSettings, partner_key: ec.EllipticCurvePrivateKey
) -> None:
    """Every route with a private object's id: 404 for a partner token with the owner's sub and org,
    for every role the route admits and every owner's sub; catalogue objects: not changeable."""
    ids = await _objects_of_org_a(client, settings)
    failures, tried = [], 0
    for method, path, op, roles, private, body in await object_routes(client):
        for role in roles:
            for sub in OWNERS:
                r = await call(client, method, fill(path, ids), op, partner(partner_key, sub, [role], "org-a"), body)
                tried += 1
                if private and r.status_code != 404:
                    failures.append(f"partner {sub} ({role}) got {r.status_code} on {method} {path}")
                if not private and method != "GET" and r.is_success and (method, path) not in FOR_ONESELF:
                    failures.append(f"partner {sub} ({role}) changed {method} {path}: {r.status_code}")
    assert tried >= 60
    assert failures == [], "\n".join(failures)


async def test_lists_show_a_partner_token_nothing_of_the_home_user_it_copies(
    client: httpx.AsyncClient, settings: RuntimeSettings, partner_key: ec.EllipticCurvePrivateKey
) -> None:
    """Every list route, for each owner's sub with organisation A's string: none of A's private ids."""
    ids = await _objects_of_org_a(client, settings)
    secret = [ids[k] for k in PRIVATE_IDS]
    home_view = (
        await client.get("/api/v1/facilities/bookings/mine", headers=home(settings, "stu-a", [], "org-a"))
    ).text
    assert ids["booking_id"] in home_view  # the oracle sees the object, so its absence below means something
    listed = 0
    for method, path, op in await operations(client):
        if method != "GET" or "{" in path or (ANY not in op["x-roles"] and "sme_member" not in op["x-roles"]):
            continue
        for sub in OWNERS:
            for role in ("student", "sme_member", "academic"):
                r = await client.get(path, headers=partner(partner_key, sub, [role], "org-a"))
                leaked = [x for x in secret if x in r.text]
                assert leaked == [], (path, sub, role, leaked)
        listed += 1
    assert listed >= 8


async def test_staff_roles_act_only_when_this_region_grants_them(
    client: httpx.AsyncClient, settings: RuntimeSettings, partner_key: ec.EllipticCurvePrivateKey
) -> None:
    """A home token for another region, and a partner token without a grant, carrying every region-scoped
    staff role: on every route, exactly what a caller without roles gets (403 by rule, 404 by object)."""
    ids = await _objects_of_org_a(client, settings)
    callers = {
        "home token for FR10": home(settings, "sec-fr", REGION_STAFF, "org-a", region="FR10"),
        "partner without grant": partner(partner_key, "admin-it", REGION_STAFF, "org-a"),
    }
    wrong = []
    for method, path, op in await operations(client):
        rule = op["x-roles"]
        private = [p for p in re.findall(r"\{(\w+)\}", path) if p not in PUBLIC_OBJECTS]
        body = next((b for suffix, b in VALID.items() if path.endswith(suffix)), None)
        for name, h in callers.items():
            r = await call(client, method, fill(path, ids), op, h, body)
            if rule == [PUBLIC] and r.status_code in (401, 403):
                wrong.append(f"{name}: {method} {path} -> {r.status_code}, a public route")
            if ANY not in rule and PUBLIC not in rule and r.status_code != 403:
                wrong.append(f"{name}: {method} {path} -> {r.status_code}, not 403")
            # the home token names organisation A itself (IE05:org-a): what A shows any of its members, with
            # no role (its host offer before screening), it sees; nothing more
            member = name == "home token for FR10" and method == "GET" and set(private) <= MEMBERS_SEE
            if ANY in rule and private and r.status_code != (200 if member else 404):
                wrong.append(f"{name}: {method} {path} -> {r.status_code}, not {200 if member else 404}")
    assert wrong == [], "\n".join(wrong)
    # just inside: the same roles for this region act (the boundary is the region, not the roles)
    local = home(settings, "sec-ie", REGION_STAFF, "org-a", region="IE05")
    assert (await client.get(f"/api/v1/mapping/smes/{ids['sme_id']}/export", headers=local)).status_code == 200


async def test_every_body_field_that_points_at_an_owned_object_has_a_rule(client: httpx.AsyncClient) -> None:
    """A new body field named like an owner or an owned object must be listed in POINTERS (and tested)."""
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    found = set()
    for method, path, op in await operations(client):
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if not body:
            continue
        ref = body["schema"].get("$ref", "")
        schema = schemas[ref.split("/")[-1]] if ref else body["schema"]
        for name in schema.get("properties", {}):
            if name in POINTER_NAMES:
                found.add((method, path, name))
    assert found <= set(POINTERS), f"body fields pointing at owned objects without a rule: {found - set(POINTERS)}"
    assert len(found) >= 7


async def test_body_fields_pointing_at_another_organisations_objects_are_refused(
    client: httpx.AsyncClient, settings: RuntimeSettings, partner_key: ec.EllipticCurvePrivateKey
) -> None:
    key = partner_key
    api = "/api/v1/facilities"
    mgr_a = home(settings, "mgr-a", ["facility_manager"], "Munster Technological University")
    mgr_b = home(settings, "mgr-b", ["facility_manager"], "Org B")
    admin = home(settings, "adm", ["region_admin"], None)
    site = {
        "name": "B's lab",
        "kind": "university",
        "city": "Cork",
        "address": "1 Street",
        "timezone": "Europe/Dublin",
        "opening_hours": {"mon": [{"open": "08:00", "close": "18:00"}]},
    }
    # a site for another organisation: refused to its non-manager, nothing written; allowed to region staff
    before = len((await client.get(f"{api}/sites", params={"limit": 200}, headers=mgr_b)).json())
    r = await client.post(
        f"{api}/sites", json={**site, "organisation": "IE05:Munster Technological University"}, headers=mgr_b
    )
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "organisation", r.text
    assert len((await client.get(f"{api}/sites", params={"limit": 200}, headers=mgr_b)).json()) == before
    own = await client.post(f"{api}/sites", json={**site, "organisation": "IE05:Org B"}, headers=mgr_b)
    assert own.status_code == 201 and own.json()["organisation"] == "IE05:Org B"
    r = await client.post(f"{api}/sites", json={**site, "organisation": "IE05:Org C"}, headers=admin)
    assert r.status_code == 201 and r.json()["organisation"] == "IE05:Org C"
    bad = await client.post(f"{api}/sites", json={**site, "organisation": "Org C"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "organisation"

    # trainings: B's grant does not unlock A's laser cutter, and cannot overwrite A's grant with an expired one
    alice = home(settings, "alice", ["student"], None)
    grant = {"person": pid("alice"), "training": "laser-safety", "valid_until": "2099-01-01T00:00:00Z"}
    assert (await client.post(f"{api}/trainings", json=grant, headers=mgr_b)).status_code == 201
    r = await client.post(f"{api}/bookings", json=slot("ork-rubicon-eq-1"), headers=alice)
    assert r.status_code == 403 and r.json()["required_training"] == "laser-safety"
    assert (await client.post(f"{api}/trainings", json=grant, headers=mgr_a)).status_code == 201
    expired = {**grant, "valid_until": "2020-01-01T00:00:00Z"}
    assert (await client.post(f"{api}/trainings", json=expired, headers=mgr_b)).status_code == 201
    r = await client.post(f"{api}/bookings", json=slot("ork-rubicon-eq-1"), headers=alice)
    assert r.status_code == 201, r.text

    # challenges name only an SME of the poster's organisation (known to matching once it is assessed)
    ids = await _objects_of_org_a(client, settings)
    a_sme, b_sme = (home(settings, f"owner-{x}", ["sme_member"], f"org-{x}") for x in "ab")
    assessed = {"instrument_version": "1", "answers": answers(4)}
    url = f"/api/v1/mapping/smes/{ids['sme_id']}/assessments"
    assert (await client.post(url, json=assessed, headers=a_sme)).status_code == 201
    post = "/api/v1/matching/challenges"
    # a supervisor is an academic who offers supervision here (a profile): not a student, not an unknown id
    student = home(settings, "stu-x", ["student"], None)
    await client.put("/api/v1/matching/candidates/me", json=profile(), headers=student)
    for who in (pid("stu-x"), pid("nobody-at-all")):
        r = await client.post(post, json=challenge(supervisor=who), headers=a_sme)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "supervisor", r.text
    prof = home(settings, "prof-ucc", ["academic"], None)
    await client.put("/api/v1/matching/candidates/me", json=profile(kind="academic"), headers=prof)
    for _ in range(100):  # the assessment reaches matching through the event log
        r = await client.post(post, json=challenge(sme_id=ids["sme_id"], title="Mine"), headers=a_sme)
        if r.status_code == 201:
            break
        await asyncio.sleep(0.05)
    assert r.status_code == 201, r.text
    r = await client.post(post, json=challenge(sme_id=ids["sme_id"]), headers=b_sme)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "sme_id", r.text
    r = await client.post(
        post, json=challenge(sme_id=ids["sme_id"]), headers=partner(key, "owner-a", ["sme_member"], "org-a")
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "sme_id", r.text

    # training assesses only an SME of the caller's organisation (A's SME is known there: ids has its assessment)
    post = "/api/v1/training/assessments"
    body = {"sme_id": ids["sme_id"], "instrument": "wms", "answers": training_answers(2)}
    mine = await client.get(post, params={"sme_id": ids["sme_id"]}, headers=a_sme)
    assert [x["id"] for x in mine.json()] == [ids["assessment_id"]]
    for outsider in (b_sme, partner(key, "owner-a", ["sme_member"], "org-a")):
        r = await client.post(post, json=body, headers=outsider)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "sme_id", r.text
    assert len((await client.get(post, params={"sme_id": ids["sme_id"]}, headers=a_sme)).json()) == 1  # nothing written
    assert (await client.post(post, json=body, headers=a_sme)).status_code == 201  # just inside: A's own member


async def test_a_placement_names_only_applicants_and_hosts_its_intermediary_may_see(
    client: httpx.AsyncClient, settings: RuntimeSettings, partner_key: ec.EllipticCurvePrivateKey
) -> None:
    """An intermediary proposes only an applicant it may see (its region's, or one accepted into the
    programme) with a host it may see (accepted, or of its region): a partner region's application and host
    offer, not yet screened there, are refused naming the field (422, the same answer as an id that does
    not exist), and nothing is written; with this region's own accepted pair the same call succeeds."""
    api = "/api/v1/training"
    cork = home(settings, "cork-io", ["region_admin"], None)
    accept = {"decision": "accepted", "note": ""}
    ids = {}
    for name, h, url, body in [
        ("ours", home(settings, "ann", ["student"], "org-a"), "applicants", application(kind="sme_staff")),
        ("theirs", partner(partner_key, "ann", ["student"], "org-a"), "applicants", application(kind="sme_staff")),
        ("our host", home(settings, "lou", ["sme_member"], "org-c"), "hosts", hosting()),
        ("their host", partner(partner_key, "lou", ["sme_member"], "org-c"), "hosts", hosting()),
    ]:
        r = await client.post(f"{api}/{url}", json=body, headers=h)
        assert r.status_code == 201, (name, r.text)
        ids[name] = r.json()["id"]
    for kind, mine in (("applicants", "ours"), ("hosts", "our host")):  # the partner's stay submitted
        assert (await client.post(f"{api}/{kind}/{ids[mine]}/screening", json=accept, headers=cork)).is_success
    start = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    terms = agreement((start, 2))
    cases = [
        ({"applicant_id": ids["theirs"], "host_id": ids["our host"]}, "applicant_id"),
        ({"applicant_id": "apl-" + "x" * 26, "host_id": ids["our host"]}, "applicant_id"),  # no such applicant
        ({"applicant_id": ids["ours"], "host_id": ids["their host"]}, "host_id"),
        ({"applicant_id": ids["ours"], "host_id": "host-" + "0" * 20}, "host_id"),  # no such host
    ]
    for pointers, field in cases:
        r = await client.post(f"{api}/placements", json={**pointers, **terms}, headers=cork)
        assert r.status_code == 422, (pointers, r.status_code, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [field], r.text
    assert (await client.get(f"{api}/placements", headers=cork)).json() == []  # nothing written
    both = {"applicant_id": ids["ours"], "host_id": ids["our host"], **terms}
    assert (await client.post(f"{api}/placements", json=both, headers=cork)).status_code == 201  # just inside


async def test_a_manager_of_another_organisation_sees_no_sites_usage(
    client: httpx.AsyncClient, settings: RuntimeSettings, partner_key: ec.EllipticCurvePrivateKey
) -> None:
    usage = "/api/v1/facilities/sites/ork-rubicon/usage"
    own = home(settings, "mgr-a", ["facility_manager"], "Munster Technological University")
    assert (await client.get(usage, headers=own)).status_code == 200
    for other in (
        home(settings, "mgr-b", ["facility_manager"], "UCC"),
        partner(partner_key, "mgr-a", ["facility_manager"], "Munster Technological University"),
    ):
        r = await client.get(usage, headers=other)
        assert r.status_code == 403, r.text


async def test_a_role_that_may_only_read_lends_no_reach_to_another_roles_write(
    client: httpx.AsyncClient, settings: RuntimeSettings
) -> None:
    """Every route with a private object: organisation B's caller holding a role the route admits AND a
    staff role the route does NOT admit (each of them) reaches nothing of organisation A's: the staff role's
    reach counts only for the routes that admit it. (Found from outside: sme_member + analyst erased SMEs.)"""
    ids = await _objects_of_org_a(client, settings)
    failures = []
    for method, path, op, roles, private, body in await object_routes(client):
        if not private or method == "GET":
            continue
        for role in roles:
            not_admitted = set() if ANY in op["x-roles"] else STAFF - set(op["x-roles"]) - {"platform_admin"}
            for staff in sorted(not_admitted):
                h = home(settings, f"b-{role}-{staff}", [role, staff], "org-b")
                r = await call(client, method, fill(path, ids), op, h, body)
                if r.is_success:
                    failures.append(f"{role}+{staff} of org B got {r.status_code} on {method} {path}")
    assert failures == [], "\n".join(failures)
    r = await client.get(
        f"/api/v1/mapping/smes/{ids['sme_id']}/export",
        headers=home(settings, "b-mix", ["sme_member", "analyst"], "org-b"),
    )
    assert r.status_code == 404  # export is a read of contact data that analysts are not granted
