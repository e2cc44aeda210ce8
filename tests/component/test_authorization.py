"""Authorization tests generated from the gateway's route table (its OpenAPI description), so that a new
route cannot escape them: every route has a role rule (x-roles), the rule is enforced by the service
(function level, OWASP API5), another organisation's objects are invisible (object level, API1), and
input models refuse ids, versions, owners and roles (mass assignment, API3)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from clustergrowth.auth import ANY, PUBLIC, ROLES, SCOPES, DevIssuer
from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings
from gateway.routes import roles_markdown
from instance.app import create_app
from tests.component.test_councils_api import council, meeting
from tests.component.test_mapping_api import answers as mapping_answers
from tests.component.test_mapping_api import sme as sme_body
from tests.component.test_matching_api import challenge, profile
from tests.component.test_training_api import wms as training_answers
from tests.component.test_training_placements import agreement, application, hosting
from tests.conftest import asgi_client
from tests.helpers import pid

STAFF = {"region_admin", "analyst", "council_secretary", "facility_manager", "platform_admin"}
PUBLIC_OBJECTS = {"site_id", "resource_id", "challenge_id", "version"}  # catalogues: visible to all callers
PUBLIC_OBJECTS |= {"council_id", "meeting_id", "initiative_id"}  # a council's profile, meeting times, initiatives
PUBLIC_OBJECTS |= {"kind"}  # training: an instrument (its kind and version)
PUBLIC_OBJECTS |= {"module_id"}  # training: a module of the region's catalogue (its roster is not shown)
PUBLIC_OBJECTS |= {"region"}  # councils: the partner region of a replicated initiative (a NUTS-2 code)
# Staff of one organisation, not of the region (auth.SCOPES): a region's staff see their region by role.
ORG_STAFF = {r for r in STAFF if SCOPES.get(r) == "organisation"}
# Routes that act on a catalogue object for the caller herself: organisation B's people succeed on them
# (enrolling takes a place for oneself; it changes nothing of A's but the places left).
FOR_ONESELF = {("POST", "/api/v1/training/modules/{module_id}/enrolments")}
VALID = {  # well-formed bodies, so that the object check (not validation) decides
    "/assessments": {"instrument_version": "1", "answers": {}},
    "/milestones": {"title": "Baseline", "due_on": "2027-03-01"},
    "/ratings": {"score": 5},
    "/end": {"reason": "removed"},
    "/votes/mine": {"option": "endorse", "reason": "fits"},
    "/close": {"statement": "Endorsed", "chosen_option": "endorse"},
    "/attendance": {"present": []},
    "/revoke": {"reason": "issued in error"},
    "/screening": {"decision": "accepted", "note": ""},
    "/terms": {
        "objectives": ["Learn lean"],
        "activity_plan": "On the line",
        "parts": [{"start": "2099-01-05", "weeks": 2}],
        "revision": 1,
    },
    "/acceptances": {"party": "applicant", "revision": 1},
    "/reports": {"kind": "progress", "text": "Week 1"},
    "/answer": {"answer": "confirmed"},
    "/series/{series_id}/cancel": {"scope": "all"},
    "/series/{series_id}/move": {"scope": "all", "start_time": "10:00", "end_time": "11:00"},
}
PRIVILEGED = {
    *("id", "version", "organisation", "org", "created_by", "owner", "roles", "sub", "status"),
    *("region", "home_region", "person", "person_region"),
}


# The specification the route table is judged by, written by hand from the API tables (docs/api.md) ("who"
# column), not read from the route table (x-roles) or from docs/authorization.md (generated from it).
# Translation of the API tables' words into roles: "any", "the person", "holder", "its managers" and other
# object-level rules are role-level `any` or the roles that can be that party; "managers" = facility_manager,
# region_admin; "the candidate" / "the profile's owner" = student, academic; "host side" = sme_member (the
# challenge's organisation), academic (its supervisor); "either side" = both. platform_admin passes every
# rule and is never listed. Where the tables say "as above" for the SME routes it means the object-level
# rule (its organisation or registrant); the roles below are the narrower ones docs/authorization.md
# publishes (an analyst only reads; only the SME and the region erase it).
# Changing who may call a route means changing this table too: on purpose, in review.
SPEC_ANY = frozenset({ANY})
MANAGERS = frozenset({"facility_manager", "region_admin"})
PERSON = frozenset({"student", "academic"})
HOST = frozenset({"sme_member", "academic"})
SIDES = PERSON | HOST
SME_OWNERS = frozenset({"sme_member", "council_secretary", "region_admin"})
SME_ONLY = frozenset({"sme_member"})
SPEC_PUBLIC = frozenset({PUBLIC})  # no token needed (what a stranger checks: a credential)
COORDINATORS = frozenset({"region_admin", "council_secretary"})  # training's: the region's staff
SPEC: dict[tuple[str, str], frozenset[str]] = {
    # facilities
    ("GET", "/api/v1/facilities/sites"): SPEC_ANY,
    ("POST", "/api/v1/facilities/sites"): MANAGERS,
    ("GET", "/api/v1/facilities/sites/{site_id}"): SPEC_ANY,
    ("GET", "/api/v1/facilities/sites/{site_id}/availability"): SPEC_ANY,
    ("GET", "/api/v1/facilities/sites/{site_id}/usage"): MANAGERS,
    ("GET", "/api/v1/facilities/resources"): SPEC_ANY,
    ("POST", "/api/v1/facilities/resources"): MANAGERS,
    ("GET", "/api/v1/facilities/resources/{resource_id}"): SPEC_ANY,
    ("GET", "/api/v1/facilities/resources/{resource_id}/availability"): SPEC_ANY,
    ("GET", "/api/v1/facilities/resources/{resource_id}/bookings"): MANAGERS,
    ("GET", "/api/v1/facilities/resources/{resource_id}/calendar.ics"): SPEC_ANY,
    ("POST", "/api/v1/facilities/bookings"): SPEC_ANY,
    ("GET", "/api/v1/facilities/bookings/mine"): SPEC_ANY,
    ("GET", "/api/v1/facilities/me/calendar.ics"): SPEC_ANY,
    ("GET", "/api/v1/facilities/bookings/{booking_id}"): SPEC_ANY,
    ("POST", "/api/v1/facilities/bookings/{booking_id}/cancel"): SPEC_ANY,
    ("POST", "/api/v1/facilities/bookings/{booking_id}/approve"): MANAGERS,
    ("POST", "/api/v1/facilities/bookings/{booking_id}/reject"): MANAGERS,
    ("POST", "/api/v1/facilities/bookings/{booking_id}/check-in"): SPEC_ANY,  # holder, managers; else 404
    ("GET", "/api/v1/facilities/sites/{site_id}/no-shows"): MANAGERS,
    ("POST", "/api/v1/facilities/waitlist"): SPEC_ANY,
    ("GET", "/api/v1/facilities/waitlist/mine"): SPEC_ANY,
    ("GET", "/api/v1/facilities/waitlist/{entry_id}"): SPEC_ANY,  # the person, managers; else 404
    ("POST", "/api/v1/facilities/waitlist/{entry_id}/claim"): SPEC_ANY,  # the person; else 404
    ("POST", "/api/v1/facilities/waitlist/{entry_id}/leave"): SPEC_ANY,  # the person, managers; else 404
    ("POST", "/api/v1/facilities/trainings"): MANAGERS,
    ("POST", "/api/v1/facilities/series"): SPEC_ANY,
    ("GET", "/api/v1/facilities/series/mine"): SPEC_ANY,  # the person: her own only
    ("GET", "/api/v1/facilities/series/{series_id}"): SPEC_ANY,  # the holder, managers; else 404
    ("POST", "/api/v1/facilities/series/{series_id}/cancel"): SPEC_ANY,  # the holder, managers; else 404
    ("POST", "/api/v1/facilities/series/{series_id}/move"): SPEC_ANY,  # the holder (managers: 403); else 404
    ("GET", "/api/v1/facilities/network/resources"): SPEC_ANY,  # partners' catalogue, read-only
    ("GET", "/api/v1/facilities/network/partners"): SPEC_ANY,
    # mapping
    ("GET", "/api/v1/mapping/instruments"): SPEC_ANY,
    ("GET", "/api/v1/mapping/instruments/{version}"): SPEC_ANY,
    ("POST", "/api/v1/mapping/smes"): SME_OWNERS,
    ("GET", "/api/v1/mapping/smes"): SME_OWNERS | {"analyst"},
    ("GET", "/api/v1/mapping/smes/{sme_id}"): SME_OWNERS | {"analyst"},
    ("DELETE", "/api/v1/mapping/smes/{sme_id}"): frozenset({"sme_member", "region_admin"}),
    ("GET", "/api/v1/mapping/smes/{sme_id}/export"): SME_OWNERS,
    ("POST", "/api/v1/mapping/smes/{sme_id}/assessments"): SME_OWNERS,
    ("GET", "/api/v1/mapping/smes/{sme_id}/assessments"): SME_OWNERS | {"analyst"},
    ("POST", "/api/v1/mapping/employment-statistics"): frozenset({"council_secretary", "region_admin"}),
    ("GET", "/api/v1/mapping/cluster-map"): SPEC_ANY,
    ("GET", "/api/v1/mapping/cluster-map.svg"): SPEC_ANY,
    ("GET", "/api/v1/mapping/network/cluster-map"): SPEC_ANY,  # every region's cells, read-only
    ("GET", "/api/v1/mapping/spotlight"): SPEC_ANY,
    ("GET", "/api/v1/mapping/spotlight.svg"): SPEC_ANY,
    # matching (the programme's coordinator is region_admin)
    ("GET", "/api/v1/matching/ip-templates"): SPEC_ANY,
    ("POST", "/api/v1/matching/challenges"): frozenset({"sme_member", "region_admin"}),
    ("GET", "/api/v1/matching/challenges"): SPEC_ANY,
    ("GET", "/api/v1/matching/challenges/{challenge_id}"): SPEC_ANY,
    ("POST", "/api/v1/matching/challenges/{challenge_id}/publish"): frozenset({"sme_member", "region_admin"}),
    ("PUT", "/api/v1/matching/challenges/{challenge_id}/ranking"): HOST | {"region_admin"},
    ("GET", "/api/v1/matching/challenges/{challenge_id}/applicants"): HOST | {"region_admin"},  # else 404
    ("GET", "/api/v1/matching/candidates/me"): PERSON,
    ("PUT", "/api/v1/matching/candidates/me"): PERSON,
    ("GET", "/api/v1/matching/candidates/{candidate_id}"): PERSON | {"region_admin"},
    ("PUT", "/api/v1/matching/candidates/me/preferences"): PERSON,
    ("GET", "/api/v1/matching/supervisors"): frozenset({"sme_member", "region_admin"}),  # who posts challenges
    ("POST", "/api/v1/matching/rounds"): frozenset({"region_admin"}),
    ("GET", "/api/v1/matching/rounds"): frozenset({"region_admin", "analyst"}),
    ("GET", "/api/v1/matching/rounds/{round_id}"): PERSON | {"region_admin", "analyst"},
    ("GET", "/api/v1/matching/matches"): SIDES | {"region_admin", "analyst"},
    ("GET", "/api/v1/matching/matches/{match_id}"): SIDES | {"region_admin", "analyst"},
    ("POST", "/api/v1/matching/matches/{match_id}/accept"): SIDES,
    ("POST", "/api/v1/matching/matches/{match_id}/decline"): SIDES,
    ("POST", "/api/v1/matching/matches/{match_id}/milestones"): HOST,
    ("POST", "/api/v1/matching/matches/{match_id}/milestones/{n}/done"): SIDES,
    ("POST", "/api/v1/matching/matches/{match_id}/complete"): HOST,
    ("GET", "/api/v1/matching/network/challenges"): SPEC_ANY,  # partners' challenges, read-only
    ("POST", "/api/v1/matching/matches/{match_id}/ratings"): SIDES,
    # councils: object rules in the handlers (the council's secretary-member, its members, the person
    # concerned), so most routes admit any caller; forming a council is for the region's staff
    ("GET", "/api/v1/councils/councils"): SPEC_ANY,
    ("POST", "/api/v1/councils/councils"): frozenset({"region_admin", "council_secretary"}),
    ("GET", "/api/v1/councils/councils/{council_id}"): SPEC_ANY,
    ("GET", "/api/v1/councils/councils/{council_id}/partner-initiatives"): SPEC_ANY,  # replicated, read-only
    ("PUT", "/api/v1/councils/councils/{council_id}/partner-initiatives/{region}/{initiative_id}/answer"): SPEC_ANY,
    ("GET", "/api/v1/councils/network/councils"): SPEC_ANY,
    ("PATCH", "/api/v1/councils/councils/{council_id}"): SPEC_ANY,
    ("GET", "/api/v1/councils/councils/{council_id}/composition"): SPEC_ANY,
    ("GET", "/api/v1/councils/councils/{council_id}/members"): SPEC_ANY,
    ("POST", "/api/v1/councils/councils/{council_id}/invitations"): SPEC_ANY,
    ("POST", "/api/v1/councils/applications"): SPEC_ANY,
    ("GET", "/api/v1/councils/requests/mine"): SPEC_ANY,
    ("GET", "/api/v1/councils/requests/mine/export"): SPEC_ANY,  # the person's own requests only
    ("DELETE", "/api/v1/councils/requests/mine/{request_id}"): SPEC_ANY,  # the person herself, else 404
    ("GET", "/api/v1/councils/councils/{council_id}/requests"): SPEC_ANY,
    ("POST", "/api/v1/councils/councils/{council_id}/requests/{request_id}/accept"): SPEC_ANY,
    ("POST", "/api/v1/councils/councils/{council_id}/requests/{request_id}/decline"): SPEC_ANY,
    ("POST", "/api/v1/councils/councils/{council_id}/requests/{request_id}/approve"): SPEC_ANY,
    ("POST", "/api/v1/councils/councils/{council_id}/requests/{request_id}/reject"): SPEC_ANY,
    ("POST", "/api/v1/councils/councils/{council_id}/requests/{request_id}/withdraw"): SPEC_ANY,  # its managers
    ("POST", "/api/v1/councils/councils/{council_id}/members/{member_id}/end"): SPEC_ANY,
    ("GET", "/api/v1/councils/councils/{council_id}/members/{member_id}/export"): SPEC_ANY,
    ("DELETE", "/api/v1/councils/councils/{council_id}/members/{member_id}"): SPEC_ANY,
    ("GET", "/api/v1/councils/councils/{council_id}/meetings"): SPEC_ANY,
    ("POST", "/api/v1/councils/councils/{council_id}/meetings"): SPEC_ANY,
    ("GET", "/api/v1/councils/councils/{council_id}/meetings/{meeting_id}"): SPEC_ANY,
    ("PATCH", "/api/v1/councils/councils/{council_id}/meetings/{meeting_id}"): SPEC_ANY,
    ("POST", "/api/v1/councils/councils/{council_id}/meetings/{meeting_id}/cancel"): SPEC_ANY,
    ("POST", "/api/v1/councils/councils/{council_id}/meetings/{meeting_id}/registrations"): SPEC_ANY,
    ("DELETE", "/api/v1/councils/councils/{council_id}/meetings/{meeting_id}/registrations/mine"): SPEC_ANY,
    ("GET", "/api/v1/councils/councils/{council_id}/meetings/{meeting_id}/registrations"): SPEC_ANY,
    ("POST", "/api/v1/councils/councils/{council_id}/meetings/{meeting_id}/check-ins"): SPEC_ANY,
    ("PUT", "/api/v1/councils/councils/{council_id}/meetings/{meeting_id}/minutes"): SPEC_ANY,
    ("POST", "/api/v1/councils/councils/{council_id}/meetings/{meeting_id}/close"): SPEC_ANY,
    ("GET", "/api/v1/councils/councils/{council_id}/calendar.ics"): SPEC_ANY,
    ("GET", "/api/v1/councils/me/calendar.ics"): SPEC_ANY,
    ("GET", "/api/v1/councils/councils/{council_id}/decisions"): SPEC_ANY,
    ("POST", "/api/v1/councils/councils/{council_id}/decisions"): SPEC_ANY,
    ("GET", "/api/v1/councils/councils/{council_id}/decisions/{decision_id}"): SPEC_ANY,
    ("PUT", "/api/v1/councils/councils/{council_id}/decisions/{decision_id}/votes/mine"): SPEC_ANY,
    ("POST", "/api/v1/councils/councils/{council_id}/decisions/{decision_id}/close"): SPEC_ANY,
    ("GET", "/api/v1/councils/councils/{council_id}/initiatives"): SPEC_ANY,
    ("POST", "/api/v1/councils/councils/{council_id}/initiatives"): SPEC_ANY,
    ("GET", "/api/v1/councils/councils/{council_id}/initiatives/{initiative_id}"): SPEC_ANY,
    ("POST", "/api/v1/councils/councils/{council_id}/initiatives/{initiative_id}/launch"): SPEC_ANY,
    ("PUT", "/api/v1/councils/councils/{council_id}/initiatives/{initiative_id}/progress"): SPEC_ANY,
    ("POST", "/api/v1/councils/councils/{council_id}/initiatives/{initiative_id}/complete"): SPEC_ANY,
    ("POST", "/api/v1/councils/councils/{council_id}/initiatives/{initiative_id}/abandon"): SPEC_ANY,
    # council dashboards: members of the council, the region's staff and analysts (aggregates); 404 otherwise
    ("GET", "/api/v1/councils/councils/{council_id}/dashboard"): SPEC_ANY,
    ("GET", "/api/v1/councils/councils/{council_id}/dashboard/{indicator}.svg"): SPEC_ANY,
    # training: the SME (its organisation's sme_member) its own assessments and plans; analysts and the
    # region's coordinators benchmark statistics that pass disclosure control; coordinators the region's counts
    ("GET", "/api/v1/training/instruments"): SPEC_ANY,
    ("GET", "/api/v1/training/instruments/{kind}/{version}"): SPEC_ANY,
    ("POST", "/api/v1/training/assessments"): SME_ONLY,
    ("GET", "/api/v1/training/assessments"): SME_ONLY,
    ("GET", "/api/v1/training/assessments/{assessment_id}"): SME_ONLY,
    ("GET", "/api/v1/training/assessments/{assessment_id}/benchmark"): SME_ONLY,
    ("GET", "/api/v1/training/assessments/{assessment_id}/comparison"): SME_ONLY,
    ("GET", "/api/v1/training/assessments/{assessment_id}/comparison.svg"): SME_ONLY,
    ("POST", "/api/v1/training/plans"): SME_ONLY,
    ("GET", "/api/v1/training/plans"): SME_ONLY,
    ("GET", "/api/v1/training/plans/{plan_id}"): SME_ONLY,
    ("PATCH", "/api/v1/training/plans/{plan_id}"): SME_ONLY,
    ("GET", "/api/v1/training/benchmarks"): frozenset({"analyst", "region_admin", "council_secretary"}),
    ("GET", "/api/v1/training/summary"): frozenset({"region_admin", "council_secretary"}),
    # training modules: the region's coordinators (region_admin, council_secretary of the module's region,
    # else 403) run modules; the catalogue is for anyone; anyone enrols herself; an enrolment and a
    # credential are their person's and the region's coordinators' (404 for anyone else)
    ("POST", "/api/v1/training/modules"): COORDINATORS,
    ("GET", "/api/v1/training/modules"): SPEC_ANY,
    ("GET", "/api/v1/training/modules/{module_id}"): SPEC_ANY,
    ("PATCH", "/api/v1/training/modules/{module_id}"): COORDINATORS,
    ("POST", "/api/v1/training/modules/{module_id}/enrolments"): SPEC_ANY,
    ("GET", "/api/v1/training/modules/{module_id}/enrolments"): COORDINATORS,
    ("PUT", "/api/v1/training/modules/{module_id}/sessions/{n}/attendance"): COORDINATORS,
    ("GET", "/api/v1/training/enrolments/mine"): SPEC_ANY,
    ("GET", "/api/v1/training/enrolments/{enrolment_id}"): SPEC_ANY,
    ("POST", "/api/v1/training/enrolments/{enrolment_id}/cancel"): SPEC_ANY,
    ("POST", "/api/v1/training/enrolments/{enrolment_id}/complete"): COORDINATORS,
    ("GET", "/api/v1/training/credentials/mine"): SPEC_ANY,
    # a credential is checked by anyone, an employer without an account too: keys, issuer, status list, verify
    ("GET", "/api/v1/training/credentials/jwks.json"): SPEC_PUBLIC,
    ("GET", "/api/v1/training/credentials/issuer"): SPEC_PUBLIC,
    ("GET", "/api/v1/training/credentials/status"): SPEC_PUBLIC,
    ("POST", "/api/v1/training/credentials/verify"): SPEC_PUBLIC,
    ("GET", "/api/v1/training/credentials/{credential_id}"): SPEC_ANY,
    ("POST", "/api/v1/training/credentials/{credential_id}/revoke"): COORDINATORS,  # the holder 403, others 404
    # training placements: anyone applies (once); an organisation's members offer it as a host; the
    # intermediary (the region's coordinators) screens its region's applicants and hosts, proposes and
    # revises, completes and ends; a placement is its four parties' (404 for anyone else); each party
    # accepts for itself; the applicant and the host report
    ("POST", "/api/v1/training/applicants"): SPEC_ANY,
    ("GET", "/api/v1/training/applicants"): COORDINATORS,
    ("GET", "/api/v1/training/applicants/mine"): SPEC_ANY,
    ("GET", "/api/v1/training/applicants/{applicant_id}"): SPEC_ANY,
    ("POST", "/api/v1/training/applicants/{applicant_id}/screening"): COORDINATORS,
    ("POST", "/api/v1/training/hosts"): frozenset({"sme_member", "facility_manager"}),
    ("GET", "/api/v1/training/hosts"): SPEC_ANY,
    ("GET", "/api/v1/training/hosts/{host_id}"): SPEC_ANY,  # accepted: the catalogue; else 404 but to its own
    ("POST", "/api/v1/training/hosts/{host_id}/screening"): COORDINATORS,
    ("POST", "/api/v1/training/placements/suggestions"): COORDINATORS,
    ("POST", "/api/v1/training/placements"): COORDINATORS,
    ("GET", "/api/v1/training/placements"): SPEC_ANY,
    ("GET", "/api/v1/training/placements/cross-border"): COORDINATORS | {"analyst"},
    ("GET", "/api/v1/training/network/placements"): COORDINATORS,  # partners' placements involving us, replicated
    ("GET", "/api/v1/training/placements/{placement_id}"): SPEC_ANY,
    ("PUT", "/api/v1/training/placements/{placement_id}/terms"): COORDINATORS,
    ("POST", "/api/v1/training/placements/{placement_id}/acceptances"): SPEC_ANY,
    ("POST", "/api/v1/training/placements/{placement_id}/reports"): SPEC_ANY,
    ("POST", "/api/v1/training/placements/{placement_id}/complete"): COORDINATORS,
    ("POST", "/api/v1/training/placements/{placement_id}/end"): COORDINATORS,
}


@pytest.fixture
def settings(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(data_dir=tmp_path / "data", relay_interval_s=0.05)


@pytest.fixture
async def client(settings: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, GatewaySettings(rate_limits=False))
    async for c in asgi_client(app):
        yield c


def bearer(settings: RuntimeSettings, sub: str, roles: list[str], org: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + DevIssuer(settings.data_dir).mint(settings, sub, roles, "IE05", org)}


async def operations(client: httpx.AsyncClient) -> list[tuple[str, str, dict[str, Any]]]:
    spec = (await client.get("/openapi.json")).json()
    return [
        (method.upper(), path, op)
        for path, ops in spec["paths"].items()
        if path.startswith("/api/v1/")
        for method, op in ops.items()
    ]


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "zz-missing"), path)


async def call(
    client: httpx.AsyncClient, method: str, path: str, op: dict[str, Any], headers: dict[str, str], body: Any = None
) -> httpx.Response:
    content = op.get("requestBody", {}).get("content", {})
    if "text/csv" in content:
        return await client.request(method, path, content="", headers={**headers, "Content-Type": "text/csv"})
    if content:
        return await client.request(method, path, json={} if body is None else body, headers=headers)
    return await client.request(method, path, headers=headers)


async def test_every_route_declares_a_role_rule(client: httpx.AsyncClient) -> None:
    ops = await operations(client)
    assert len(ops) >= 50
    missing = [f"{m} {p}" for m, p, op in ops if not op.get("x-roles")]
    assert missing == [], f"routes without a role rule: {missing}"
    for m, p, op in ops:
        assert set(op["x-roles"]) <= {*ROLES, ANY} or op["x-roles"] == [PUBLIC], (m, p)


async def test_the_route_table_is_the_specified_one(client: httpx.AsyncClient) -> None:
    """Every route of the live table is in the hand-written SPEC with the same roles, and nothing in
    SPEC is missing from the live table."""
    live = {(m, p): frozenset(op["x-roles"]) for m, p, op in await operations(client)}
    unspecified = sorted(f"{m} {p}" for m, p in live.keys() - SPEC.keys())
    gone = sorted(f"{m} {p}" for m, p in SPEC.keys() - live.keys())
    differ = {f"{m} {p}": (sorted(live[m, p]), sorted(SPEC[m, p])) for m, p in live.keys() & SPEC.keys()}
    differ = {k: v for k, v in differ.items() if v[0] != v[1]}
    assert (unspecified, gone, differ) == ([], [], {}), "route table (live, spec) differs from SPEC"


async def test_role_by_route_matrix(client: httpx.AsyncClient, settings: RuntimeSettings) -> None:
    """Each role alone, on each route: 403 naming the roles exactly where SPEC (not x-roles) says so."""
    ops = await operations(client)
    assert {(m, p) for m, p, _ in ops} == SPEC.keys()
    wrong = []
    for role in [r for r in ROLES if r != "platform_admin"]:
        h = bearer(settings, f"matrix-{role}", [role], "org-matrix")
        for method, path, op in ops:
            rule = SPEC[method, path]
            r = await call(client, method, fill(path, {}), op, h)
            allowed = ANY in rule or PUBLIC in rule or role in rule
            if allowed and r.status_code == 403:
                wrong.append(f"{role} refused on {method} {path}: {r.text}")
            if not allowed and (r.status_code != 403 or r.json().get("required_roles") != sorted(rule)):
                wrong.append(f"{role} not refused on {method} {path}: {r.status_code}")
    assert wrong == []
    admin = bearer(settings, "root", ["platform_admin"], "org-matrix")
    for method, path, op in ops:
        assert (await call(client, method, fill(path, {}), op, admin)).status_code != 403, (method, path)
    no_role = bearer(settings, "nobody", [], "org-matrix")
    public = 0
    for method, path, op in ops:
        open_to_all = ANY in SPEC[method, path] or PUBLIC in SPEC[method, path]
        r = await call(client, method, fill(path, {}), op, no_role)
        assert (r.status_code == 403) == (not open_to_all), (method, path, r.status_code)
        anonymous = (await call(client, method, fill(path, {}), op, {})).status_code
        if PUBLIC in SPEC[method, path]:  # answered without a token, as with one
            assert anonymous == r.status_code and anonymous not in (401, 403), (method, path, anonymous)
            public += 1
        else:
            assert anonymous == 401, (method, path, anonymous)
    assert public == 4


async def test_input_models_refuse_privileged_fields(client: httpx.AsyncClient, settings: RuntimeSettings) -> None:
    """Mass assignment: every JSON body refuses unknown fields, and posting owner or state fields is a
    422 naming each one (validation runs before any write, so nothing changes)."""
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    checked = 0
    for method, path, op in await operations(client):
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if not body:
            continue
        ref = body["schema"].get("$ref", "")
        schema = schemas[ref.split("/")[-1]] if ref else body["schema"]
        assert schema.get("additionalProperties") is False, f"{method} {path} accepts unknown fields"
        declared = set(schema.get("properties", {}))
        sneaky = {f: "x" for f in sorted(PRIVILEGED - declared)}
        rule = op["x-roles"]
        role = next((r for r in rule if r not in STAFF and r not in (ANY, PUBLIC)), "region_admin")
        h = bearer(settings, f"mass-{role}", [role], "org-mass")
        r = await call(client, method, fill(path, {}), op, h, body=sneaky)
        assert r.status_code == 422, (method, path, r.status_code, r.text)
        named = {e["field"] for e in r.json()["errors"]}
        assert set(sneaky) <= named, (method, path, set(sneaky) - named)
        checked += 1
    assert checked >= 15


def _slot(days_ahead: int = 5) -> dict[str, str]:
    d = datetime.now(UTC).date() + timedelta(days=days_ahead)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    start = datetime(d.year, d.month, d.day, 11, tzinfo=UTC)
    return {
        "resource_id": "ork-rubicon-desk-2",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
    }


async def _objects_of_org_a(client: httpx.AsyncClient, settings: RuntimeSettings) -> dict[str, str]:
    """One object of each kind, created by organisation A through the API."""

    def a(sub: str, *roles: str) -> dict[str, str]:
        return bearer(settings, sub, list(roles), "org-a")

    ids = {"site_id": "ork-rubicon", "resource_id": "ork-rubicon-desk-2", "version": "1", "n": "1"}
    r = await client.post("/api/v1/facilities/bookings", json=_slot(), headers=a("stu-a", "student"))
    ids["booking_id"] = r.json()["id"]
    r = await client.post("/api/v1/facilities/waitlist", json=_slot(), headers=a("stu-a2", "student"))
    ids["entry_id"] = r.json()["id"]  # A's second student in line for the slot the first booked
    r = await client.post("/api/v1/mapping/smes", json=sme_body(), headers=a("owner-a", "sme_member"))
    ids["sme_id"] = r.json()["id"]
    prof = a("prof-a", "academic")
    await client.put("/api/v1/matching/candidates/me", json=profile(kind="academic"), headers=prof)
    r = await client.post(
        "/api/v1/matching/challenges", json=challenge(supervisor=pid("prof-a")), headers=a("owner-a", "sme_member")
    )
    ids["challenge_id"] = r.json()["id"]
    await client.put("/api/v1/matching/candidates/me", json=profile(), headers=a("stu-a", "student"))
    ids["candidate_id"] = pid("stu-a")
    r = await client.post(
        "/api/v1/matching/rounds",
        json={"programme": "consultancy", "term": "2027-spring"},
        headers=a("coordinator", "region_admin"),
    )
    ids["round_id"] = r.json()["id"]
    r = await client.get("/api/v1/matching/matches", headers=a("stu-a", "student"))
    ids["match_id"] = r.json()[0]["id"]
    ids.update(await _council_objects(client, a("coordinator", "region_admin"), a("stu-a", "student")))
    ids.update(await _training_objects(client, a("owner-a", "sme_member"), ids["sme_id"]))
    ids.update(await _module_objects(client, a("coordinator", "region_admin"), a("stu-a", "student")))
    ids.update(await _placement_objects(client, settings))
    return ids


async def _training_objects(client: httpx.AsyncClient, owner: dict[str, str], sme_id: str) -> dict[str, str]:
    """An assessment of A's SME (once training knows the SME from mapping's SMEAssessed) and its plan."""
    needs = {"instrument_version": "1", "answers": mapping_answers(3)}
    assert (await client.post(f"/api/v1/mapping/smes/{sme_id}/assessments", json=needs, headers=owner)).is_success
    body = {"sme_id": sme_id, "instrument": "wms", "answers": training_answers(3)}
    for _ in range(200):
        r = await client.post("/api/v1/training/assessments", json=body, headers=owner)
        if r.status_code == 201:
            break
        await asyncio.sleep(0.05)
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    r = await client.post("/api/v1/training/plans", json={"assessment_id": aid}, headers=owner)
    assert r.status_code == 201, r.text
    return {"assessment_id": aid, "plan_id": r.json()["id"], "kind": "wms"}


async def _module_objects(client: httpx.AsyncClient, staff: dict[str, str], member: dict[str, str]) -> dict[str, str]:
    """A running module of this region (public: the catalogue) and the student's enrolment in it; a second
    module she attended and completed, and the credential issued for it (private: hers and the coordinators')."""
    api = "/api/v1/training"
    now = datetime.now(UTC)

    def session(start: datetime) -> dict[str, str]:
        return {"title": "Flow", "start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}

    body = {
        **{"title": "Lean operations", "practices": ["ops_lean"], "language": "en", "format": "online"},
        **{"duration_hours": 1, "capacity": 5, "sessions": [session(now + timedelta(days=30))]},
    }
    enrolled = []
    for _ in range(2):
        r = await client.post(f"{api}/modules", json=body, headers=staff)
        assert r.status_code == 201, r.text
        mid = r.json()["id"]
        r = await client.post(f"{api}/modules/{mid}/enrolments", headers=member)
        assert r.status_code == 201, r.text
        enrolled.append((mid, r.json()["id"]))
    (mid, eid), (held, done) = enrolled
    # the coordinator records the second module as held: its session moved to the past, attended, completed
    past = {"sessions": [session(now - timedelta(hours=2))]}
    assert (await client.patch(f"{api}/modules/{held}", json=past, headers=staff)).status_code == 200
    present = {"present": [pid("stu-a")]}
    r = await client.put(f"{api}/modules/{held}/sessions/1/attendance", json=present, headers=staff)
    assert r.status_code == 200, r.text
    r = await client.post(f"{api}/enrolments/{done}/complete", headers=staff)
    assert r.status_code == 200, r.text
    return {"module_id": mid, "enrolment_id": eid, "credential_id": r.json()["credential_id"]}


async def _placement_objects(client: httpx.AsyncClient, settings: RuntimeSettings) -> dict[str, str]:
    """The student's application (accepted), organisation A's host offer (not yet screened: only A and the
    region's staff see it), and a placement of the student with a host of a third organisation (C)."""
    api = "/api/v1/training"
    staff = bearer(settings, "coordinator", ["region_admin"], "org-a")
    member = bearer(settings, "stu-a", ["student"], "org-a")
    accept = {"decision": "accepted", "note": ""}
    r = await client.post(f"{api}/applicants", json=application(kind="sme_staff"), headers=member)
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    assert (await client.post(f"{api}/applicants/{aid}/screening", json=accept, headers=staff)).status_code == 200
    owner = bearer(settings, "owner-a", ["sme_member"], "org-a")
    r = await client.post(f"{api}/hosts", json=hosting(name="A's workshop"), headers=owner)
    assert r.status_code == 201, r.text
    hid = r.json()["id"]
    other = bearer(settings, "host-c", ["sme_member"], "org-c")
    r = await client.post(f"{api}/hosts", json=hosting(name="C's plant"), headers=other)
    assert r.status_code == 201, r.text
    host_c = r.json()["id"]
    assert (await client.post(f"{api}/hosts/{host_c}/screening", json=accept, headers=staff)).status_code == 200
    start = datetime.now(UTC).date() + timedelta(days=30)
    body = {"applicant_id": aid, "host_id": host_c, **agreement((start.isoformat(), 2))}
    r = await client.post(f"{api}/placements", json=body, headers=staff)
    assert r.status_code == 201, r.text
    return {"applicant_id": aid, "host_id": hid, "placement_id": r.json()["id"]}


async def _council_objects(client: httpx.AsyncClient, staff: dict[str, str], member: dict[str, str]) -> dict[str, str]:
    """A council of this region with one member (the student, by invitation), a meeting, a decision and
    an initiative she proposed: the private ones are the request, the membership and the decision."""
    api = "/api/v1/councils/councils"
    cid = (await client.post(api, json=council(), headers=staff)).json()["id"]
    invite = {"person": pid("stu-a"), "constituency": "university", "display_name": "Student A"}
    rid = (await client.post(f"{api}/{cid}/invitations", json=invite, headers=staff)).json()["id"]
    accepted = (await client.post(f"{api}/{cid}/requests/{rid}/accept", json={}, headers=member)).json()
    mid = (await client.post(f"{api}/{cid}/meetings", json=meeting(), headers=staff)).json()["id"]
    did = (await client.post(f"{api}/{cid}/decisions", json={"title": "Go"}, headers=staff)).json()["id"]
    body = {"title": "Test bench", "summary": "Shared"}
    iid = (await client.post(f"{api}/{cid}/initiatives", json=body, headers=member)).json()["id"]
    return {
        "council_id": cid,
        "request_id": rid,
        "member_id": accepted["member_id"],
        "meeting_id": mid,
        "decision_id": did,
        "initiative_id": iid,
    }


ObjectRoute = tuple[str, str, dict[str, Any], list[str], list[str], Any]


async def object_routes(client: httpx.AsyncClient) -> list[ObjectRoute]:
    """Every route with an object id in its path: method, path, operation, the roles to try it with (each
    role it admits, staff excepted: they see their region by role), its private ids, and a valid body."""
    out = []
    for method, path, op in await operations(client):
        params = re.findall(r"\{(\w+)\}", path)
        if not params:
            continue
        rule = op["x-roles"]
        roles = ["student", "sme_member", "academic"] if ANY in rule else [r for r in rule if r not in STAFF]
        roles = roles or [r for r in rule if r in ORG_STAFF]  # region-wide staff see their region by role
        private = [p for p in params if p not in PUBLIC_OBJECTS]
        body = next((b for suffix, b in VALID.items() if path.endswith(suffix)), None)
        out.append((method, path, op, roles, private, body))
    return out


async def test_another_organisations_objects_are_not_found(
    client: httpx.AsyncClient, settings: RuntimeSettings
) -> None:
    """Object level: for every route with an id, organisation B's people get 404 for A's objects;
    catalogue objects are readable by all but not changeable by B."""
    ids = await _objects_of_org_a(client, settings)
    failures = []
    for method, path, op, roles, private, body in await object_routes(client):
        for role in roles:
            h = bearer(settings, f"b-{role}", [role], "org-b")
            r = await call(client, method, fill(path, ids), op, h, body=body)
            if private and r.status_code != 404:
                failures.append(f"{role} of org B got {r.status_code} on {method} {path}")
            if not private and method != "GET" and r.is_success and (method, path) not in FOR_ONESELF:
                failures.append(f"{role} of org B changed {method} {path}: {r.status_code}")
            if (method, path) in FOR_ONESELF and r.status_code != 201:
                failures.append(f"{role} of org B could not {method} {path} for itself: {r.status_code}")
    assert failures == [], "\n".join(failures)


def test_the_committed_role_table_is_current(settings: RuntimeSettings) -> None:
    committed = (Path(__file__).resolve().parents[2] / "docs" / "authorization.md").read_text()
    assert committed == roles_markdown(create_app(settings).openapi()), "run `make docs`"


def _is_list(op: dict[str, Any]) -> bool:
    ok = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
    return ok.get("type") == "array"


async def test_every_list_is_paged_by_cursor_with_a_capped_limit(
    client: httpx.AsyncClient, settings: RuntimeSettings
) -> None:
    ops = [(m, p, op) for m, p, op in await operations(client) if m == "GET" and _is_list(op)]
    assert len(ops) >= 10
    for _, path, op in ops:
        params = {p["name"]: p for p in op.get("parameters", [])}
        assert "cursor" in params and params["limit"]["schema"]["maximum"] <= 200, path
    admin = bearer(settings, "root", ["platform_admin"], "org-a")
    walked = 0
    for _, path, _op in ops:
        if "{" in path:
            continue
        whole = await client.get(path, params={"limit": 200}, headers=admin)
        for _ in range(50):  # demo data still flowing in (drafts suggested from assessments): wait for calm
            await asyncio.sleep(0.1)
            again = await client.get(path, params={"limit": 200}, headers=admin)
            if again.json() == whole.json():
                break
            whole = again
        assert whole.status_code == 200, (path, whole.text)
        items, url, pages = [], f"{path}?limit=5", 0
        while url:
            r = await client.get(url, headers=admin)
            assert r.status_code == 200 and len(r.json()) <= 5, (url, r.text)
            items += r.json()
            link = r.headers.get("link")
            url = re.fullmatch(r'<([^>]+)>; rel="next"', link).group(1) if link else ""  # type: ignore[union-attr]
            pages += 1
        assert items == whole.json(), path  # every item once, in order
        walked += pages > 1
        bad = await client.get(path, params={"cursor": "not-a-cursor"}, headers=admin)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor", path
        assert (await client.get(path, params={"limit": 201}, headers=admin)).status_code == 422, path
    assert walked >= 3  # sites, resources and SMEs of the demo data span several pages
