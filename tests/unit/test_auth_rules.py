"""The rules around a verified token: role rules (``allow``), Principal's role checks, the platform ids,
the bearer dependency, the tenancy mapping of claims (home and partner issuers), the refusal messages,
and the development issuer's key and tokens. Expected values are written out from the rules."""

from __future__ import annotations

import json
import stat
import time
import types
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, FastAPI, Request

from clustergrowth import auth
from clustergrowth.auth import (
    PERSON_ID_PATTERN,
    PUBLIC,
    ROLES,
    SCOPES,
    Authenticator,
    CurrentPrincipal,
    DevIssuer,
    Principal,
    RuledRoute,
    RuledRouter,
    allow,
    current_principal,
    org_id,
    person_id,
    principal_first,
)
from clustergrowth.problems import Forbidden, Unauthorized
from clustergrowth.settings import DEV_ISSUER, RuntimeSettings, TrustedIssuer

PARTNER = "https://bologna.example"


def who(*roles: str) -> Principal:
    return Principal(sub="ann", roles=frozenset(roles), region="IE05")


# allow(): a route's role rule -------------------------------------------------------------------------


def test_a_role_rule_needs_roles() -> None:
    with pytest.raises(ValueError) as e:
        allow()
    assert str(e.value) == "a role rule needs known roles, got none"


@pytest.mark.parametrize(
    ("roles", "named"),
    [(("bogus",), "['bogus']"), (("student", "zeta", "alpha"), "['alpha', 'zeta']"), (("Student",), "['Student']")],
)
def test_a_role_rule_names_its_unknown_roles(roles: tuple[str, ...], named: str) -> None:
    with pytest.raises(ValueError) as e:
        allow(*roles)
    assert str(e.value) == f"a role rule needs known roles, got {named}"


def test_a_role_rule_is_published_as_x_roles() -> None:
    rule = allow("student", "academic")
    assert rule["openapi_extra"] == {"x-roles": ["student", "academic"]}
    assert set(rule) == {"dependencies", "openapi_extra"}
    assert len(rule["dependencies"]) == 1
    assert allow("any")["openapi_extra"] == {"x-roles": ["any"]}
    assert allow(*ROLES)["openapi_extra"] == {"x-roles": list(ROLES)}


async def test_a_role_rule_admits_its_roles_and_platform_admins_only() -> None:
    check = allow("student", "academic")["dependencies"][0].dependency
    admitted: list[tuple[str, ...]] = [("student",), ("academic", "analyst"), ("platform_admin",)]
    for roles in admitted:
        p = who(*roles)
        assert await check(p) is p
    refused: list[tuple[str, ...]] = [(), ("analyst",), ("sme_member", "region_admin")]
    for roles in refused:
        with pytest.raises(Forbidden) as e:
            await check(who(*roles))
        assert e.value.detail == "this needs one of the roles ['academic', 'student']"
        assert e.value.extensions == {"required_roles": ["academic", "student"]}


def test_any_admits_every_authenticated_caller_by_the_principal_dependency_itself() -> None:
    """ "any" depends on ``current_principal`` (401 without a valid token, whatever the roles): the very
    dependency a route's ``CurrentPrincipal`` names, so FastAPI solves it once a request. The generated
    authorization tests send these routes no token, and a token of each role."""
    assert allow("any")["dependencies"][0].dependency is current_principal
    assert allow("any", "student")["dependencies"][0].dependency is current_principal  # "any" wins over the others


def test_public_admits_everyone_without_reading_a_token() -> None:
    """No dependency at all (so no principal is read and no 401 is possible), published as x-roles
    ["public"] with an empty security requirement (OpenAPI: no credential needed)."""
    rule = allow("public")
    assert rule == {"dependencies": [], "openapi_extra": {"x-roles": ["public"], "security": []}}
    assert PUBLIC == "public"


@pytest.mark.parametrize(
    ("roles", "named"),
    [
        (("public", "student"), "['public', 'student']"),
        (("any", "public"), "['any', 'public']"),
        (("public", "public"), "['public', 'public']"),
        (("public", "bogus"), "['public', 'bogus']"),
    ],
)
def test_public_stands_alone(roles: tuple[str, ...], named: str) -> None:
    with pytest.raises(ValueError) as e:
        allow(*roles)
    assert str(e.value) == f"a public route admits everyone and takes no other role, got {named}"


def test_public_is_not_a_role_a_token_can_carry() -> None:
    assert "public" not in ROLES and "public" not in SCOPES  # a token saying "public" gets nothing by it


# Principal: roles ------------------------------------------------------------------------------------


def test_has_is_any_of_the_roles_or_platform_admin() -> None:
    assert who("student").has("student")
    assert who("student").has("academic", "student")
    assert not who("student").has("academic")
    assert not who().has("student")
    assert not who("student").has()
    assert who("platform_admin").has("student")
    assert who("platform_admin").has()


def test_require_refuses_with_the_roles_sorted() -> None:
    who("academic").require("student", "academic")
    who("platform_admin").require("region_admin")
    with pytest.raises(Forbidden) as e:
        who("analyst").require("student", "academic")
    assert (e.value.status, e.value.detail) == (403, "this needs one of the roles ['academic', 'student']")
    assert e.value.extensions == {"required_roles": ["academic", "student"]}


def test_every_role_has_a_scope() -> None:
    assert SCOPES == {
        "sme_member": "organisation",
        "facility_manager": "organisation",
        "student": "person",
        "academic": "person",
        "council_secretary": "region",
        "region_admin": "region",
        "platform_admin": "region",
        "analyst": "network",
    }
    assert sorted(ROLES) == sorted(SCOPES)


# Platform ids --------------------------------------------------------------------------------------------


def test_person_ids_are_stable_across_releases() -> None:
    """sha256(issuer NUL sub), base32, first 26 characters, lower case (vectors computed by hand with
    hashlib): data everywhere is keyed by these, so they must never change."""
    assert person_id(DEV_ISSUER, "alice") == "p-uh3joubmys2mzg3v6qyzcn23zo"
    assert person_id(PARTNER, "alice") == "p-yre4yer3f4s3fo5oihb7zh24ly"
    assert Principal(sub="alice", roles=frozenset(), region="IE05").id == "p-uh3joubmys2mzg3v6qyzcn23zo"


def test_the_separator_keeps_issuer_and_subject_apart() -> None:
    import re

    assert person_id("ab", "c") != person_id("a", "bc")
    assert re.match(PERSON_ID_PATTERN, person_id("x", "y"))


def test_an_organisation_id_is_its_namespace_and_claim() -> None:
    assert org_id("ITH5", "UNIBO") == "ITH5:UNIBO"


# The bearer dependency --------------------------------------------------------------------------------


def request_with(settings: RuntimeSettings, headers: list[tuple[bytes, bytes]]) -> Request:
    app = FastAPI()
    app.state.authenticator = Authenticator(settings)
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "app": app})


async def test_the_dependency_verifies_the_bearer_token_and_keeps_the_principal(settings: RuntimeSettings) -> None:
    tok = DevIssuer(settings.data_dir).mint(settings, "alice", ["student"], "IE05")
    request = request_with(settings, [(b"authorization", f"bearer  {tok}\t".encode())])
    p = await current_principal(request)
    assert (p.sub, p.roles, p.issuer) == ("alice", frozenset({"student"}), DEV_ISSUER)
    assert request.state.principal is p


@pytest.mark.parametrize("headers", [[], [(b"authorization", b"Basic YTpi")], [(b"authorization", b"Bearer")]])
async def test_no_bearer_token_is_401(settings: RuntimeSettings, headers: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(Unauthorized) as e:
        await current_principal(request_with(settings, headers))
    assert e.value.detail == "a bearer token is required (Authorization: Bearer <token>)"


async def test_a_padded_token_is_401_before_verification(settings: RuntimeSettings) -> None:
    tok = DevIssuer(settings.data_dir).mint(settings, "alice", ["student"], "IE05")
    for padded in (tok + "=", tok + "=="):
        with pytest.raises(Unauthorized) as e:
            await current_principal(request_with(settings, [(b"authorization", f"Bearer {padded}".encode())]))
        assert e.value.detail == "malformed token: a JWT has no '=' padding"


# Verification: the refusals, each with its message --------------------------------------------------------


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": DEV_ISSUER, "aud": "clustergrowth", "sub": "ann", "roles": ["student"], "iat": now, "exp": now + 60}
    return {k: v for k, v in {**base, **over}.items() if v is not ...}


async def refusal(settings: RuntimeSettings, tok: str) -> str:
    with pytest.raises(Unauthorized) as e:
        await Authenticator(settings).verify(tok)
    assert e.value.status == 401
    return e.value.detail


def dev_token(settings: RuntimeSettings, **over: Any) -> str:
    return jwt.encode(claims(**over), DevIssuer(settings.data_dir).private_key(), "ES256", {"kid": "dev-1"})


async def test_refusals_say_why(settings: RuntimeSettings) -> None:
    assert await refusal(settings, "a.b") == "malformed token: Not enough segments"
    hs = jwt.encode(claims(), "secret-secret-secret-secret-secret!", "HS256")
    assert await refusal(settings, hs) == "token algorithm 'HS256' is not accepted"
    assert await refusal(settings, dev_token(settings, iss="https://evil.example")) == (
        "invalid token: issuer 'https://evil.example' is not trusted here"
    )
    assert await refusal(settings, dev_token(settings, iss=...)) == "invalid token: issuer None is not trusted here"
    for claim in ("exp", "sub"):
        tok = dev_token(settings, **{claim: ...})
        assert await refusal(settings, tok) == f'invalid token: Token is missing the "{claim}" claim'
    assert await refusal(settings, dev_token(settings, roles="student")) == "invalid token: roles must be a list"
    for sub in ("", "x" * 256):
        assert await refusal(settings, dev_token(settings, sub=sub)) == (
            "invalid token: sub must be a string of 1 to 255 characters"
        )
    a = Authenticator(settings)  # PyJWT refuses a non-string sub itself; the mapping would too
    with pytest.raises(Unauthorized) as e:
        a.principal(a.trust[DEV_ISSUER], {"sub": 7})
    assert e.value.detail == "invalid token: sub must be a string of 1 to 255 characters"


async def test_a_subject_of_one_character_and_no_roles_are_accepted(settings: RuntimeSettings) -> None:
    absent: list[Any] = [..., None, []]
    for roles in absent:
        p = await Authenticator(settings).verify(dev_token(settings, sub="a", roles=roles))
        assert (p.sub, p.roles) == ("a", frozenset())


async def test_a_home_token_without_region_is_of_this_region(settings: RuntimeSettings) -> None:
    every = ["region_admin", "student", 7]
    p = await Authenticator(settings).verify(dev_token(settings, roles=every))
    assert (p.region, p.roles, p.issuer, p.org) == ("IE05", frozenset({"region_admin", "student"}), DEV_ISSUER, None)


# A partner issuer: only the roles granted here, the partner's region, its own organisation namespace -----


@pytest.fixture
def partner_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def partnered(tmp_path: Path, partner_key: ec.EllipticCurvePrivateKey) -> RuntimeSettings:
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(partner_key.public_key(), as_dict=True)
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{**jwk, "kid": "p1"}]}))
    grants = {"staff": ["academic", "not-a-role"], "7": ["student"], "boss": ["analyst"]}
    partner = TrustedIssuer(issuer=PARTNER, region="ITH5", jwks_file=path, roles=grants, audience="bologna-api")
    return RuntimeSettings(data_dir=tmp_path / "data", auth_partners=[partner], auth_organisations=["MTU"])


def partner_token(key: ec.EllipticCurvePrivateKey, **over: Any) -> str:
    c = claims(**{"iss": PARTNER, "aud": "bologna-api", **over})
    return jwt.encode(c, key, "ES256", {"kid": "p1"})


async def test_a_partner_token_gets_the_granted_roles_and_the_partner_region(
    partnered: RuntimeSettings, partner_key: ec.EllipticCurvePrivateKey
) -> None:
    tok = partner_token(partner_key, roles=["staff", 7, "student", "region_admin"], region="IE05", org="UNIBO")
    p = await Authenticator(partnered).verify(tok)
    # student and region_admin are not granted by the map; "not-a-role" is no role here; 7 maps as "7"
    assert p.roles == frozenset({"academic", "student"})
    assert (p.region, p.issuer, p.sub) == ("ITH5", PARTNER, "ann")
    assert p.org == "ITH5:UNIBO"  # the partner's namespace; the home registry (MTU) is not consulted
    assert p.id == person_id(PARTNER, "ann") != person_id(DEV_ISSUER, "ann")


async def test_a_partner_token_with_an_unmapped_role_only_gets_nothing_for_it(
    partnered: RuntimeSettings, partner_key: ec.EllipticCurvePrivateKey
) -> None:
    p = await Authenticator(partnered).verify(partner_token(partner_key, roles=["visitor", "boss"]))
    assert p.roles == frozenset({"analyst"})


async def test_a_partner_has_its_own_audience(
    partnered: RuntimeSettings, partner_key: ec.EllipticCurvePrivateKey
) -> None:
    a = Authenticator(partnered)
    with pytest.raises(Unauthorized, match=r"^invalid token: Audience doesn.t match$"):
        await a.verify(partner_token(partner_key, aud="clustergrowth"))
    # the home issuer keeps the gateway's audience
    assert (await a.verify(dev_token(partnered))).issuer == DEV_ISSUER
    with pytest.raises(Unauthorized, match=r"^invalid token: Audience doesn.t match$"):
        await a.verify(dev_token(partnered, aud="bologna-api"))


async def test_a_partner_without_an_audience_uses_the_gateways(
    tmp_path: Path, partner_key: ec.EllipticCurvePrivateKey
) -> None:
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(partner_key.public_key(), as_dict=True)
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{**jwk, "kid": "p1"}]}))
    partner = TrustedIssuer(issuer=PARTNER, region="FR10", jwks_file=path, roles={"staff": ["academic"]})
    a = Authenticator(RuntimeSettings(data_dir=tmp_path, auth_partners=[partner]))
    p = await a.verify(partner_token(partner_key, aud="clustergrowth", roles=["staff"]))
    assert (p.region, p.roles) == ("FR10", frozenset({"academic"}))


# The development issuer ------------------------------------------------------------------------------------


def test_the_dev_key_is_one_private_file_kept_under_the_data_directory(tmp_path: Path) -> None:
    (tmp_path / "dev-issuer").mkdir()  # the directory may already be there
    first = DevIssuer(tmp_path).private_key()
    path = tmp_path / "dev-issuer" / "key.pem"
    assert [p.name for p in path.parent.iterdir()] == ["key.pem"]  # no temporary file left behind
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = DevIssuer(tmp_path).private_key()
    assert again.private_numbers() == first.private_numbers()


def test_a_dev_token_carries_the_claims_of_the_rules(
    monkeypatch: pytest.MonkeyPatch, settings: RuntimeSettings
) -> None:
    now = 1_700_000_000
    monkeypatch.setattr(auth, "time", types.SimpleNamespace(time=lambda: now + 0.75, monotonic=time.monotonic))
    issuer = DevIssuer(settings.data_dir)
    key = issuer.private_key().public_key()
    tok = issuer.mint(settings, "alice", ["student"], "ITH5", "UNIBO")
    assert jwt.get_unverified_header(tok) == {"alg": "ES256", "kid": "dev-1", "typ": "JWT"}
    c = jwt.decode(tok, key, algorithms=["ES256"], options={"verify_exp": False, "verify_aud": False})
    jti = c.pop("jti")
    assert c == {
        "iss": DEV_ISSUER,
        "aud": "clustergrowth",
        "sub": "alice",
        "roles": ["student"],
        "region": "ITH5",
        "org": "UNIBO",
        "iat": now,
        "nbf": now,
        "exp": now + 8 * 3600,
    }
    assert len(jti) == 32 and int(jti, 16) >= 0
    other = issuer.mint(settings, "alice", [], "IE05", ttl_s=60)
    c2 = jwt.decode(other, key, algorithms=["ES256"], options={"verify_exp": False, "verify_aud": False})
    assert "org" not in c2 and c2["exp"] == now + 60 and c2["jti"] != jti


# Route functions of the RuledRoute tests (module level: their string annotations resolve in these globals)
async def _state() -> str:
    return "state"


async def _guest() -> Principal:
    return who()


async def _takes(who: CurrentPrincipal, page: int = 1) -> dict[str, str]:
    return {"sub": who.sub}


async def _reads_nothing(page: int = 1) -> dict[str, str]:
    return {}


async def _state_first(s: Annotated[str, Depends(_state)], who: CurrentPrincipal) -> dict[str, str]:
    return {}


async def _defaulted(who: Principal = Depends(current_principal)) -> None:  # noqa: B008
    return None


async def _last_wins(who: Annotated[CurrentPrincipal, Depends(_guest)]) -> None:  # FastAPI solves _guest
    return None


def _principal_calls(route: Any) -> int:
    """How many of a route's direct dependencies FastAPI solves by calling ``current_principal``."""
    return sum(d.call is current_principal for d in route.dependant.dependencies)


async def test_a_ruled_route_taking_the_principal_first_solves_it_once_and_still_refuses_no_token() -> None:
    """``any`` on a RuledRouter: a route whose function's first dependency is CurrentPrincipal keeps only
    that one; a route that reads no principal, or reads another dependency first, keeps the rule's (solved
    first). FastAPI's own router (the oracle) keeps both on the first."""
    from fastapi import APIRouter
    from fastapi.routing import APIRoute

    from clustergrowth.errors import install_problem_handlers

    takes, reads_nothing, state_first, state = _takes, _reads_nothing, _state_first, _state
    ruled, plain = RuledRouter(), APIRouter()
    ruled.add_api_route("/takes", takes, **allow("any"))
    ruled.add_api_route("/nothing", reads_nothing, **allow("any"))
    ruled.add_api_route("/state-first", state_first, **allow("any"))
    ruled.add_api_route("/student", takes, **allow("student"))
    plain.add_api_route("/takes", takes, **allow("any"))
    routes = {r.path: r for r in ruled.routes if isinstance(r, APIRoute)}
    assert all(type(r) is RuledRoute for r in routes.values())
    assert [(d.name, d.call) for d in routes["/takes"].dependant.dependencies] == [("who", current_principal)]
    assert [(d.name, d.call) for d in routes["/nothing"].dependant.dependencies] == [(None, current_principal)]
    calls = [(d.name, d.call) for d in routes["/state-first"].dependant.dependencies]
    assert calls == [(None, current_principal), ("s", state), ("who", current_principal)]
    assert len(routes["/student"].dependant.dependencies) == 2  # a role rule is a check of its own: kept
    assert _principal_calls(next(r for r in plain.routes if isinstance(r, APIRoute))) == 2
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(ruled)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        for path in routes:
            r = await c.get(path)
            assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json", path


def test_principal_first_reads_the_signature_as_fastapi_does() -> None:
    assert principal_first("/", _takes) and principal_first("/", _defaulted)
    assert not principal_first("/", _last_wins) and not principal_first("/", _state_first)
    assert not principal_first("/", _reads_nothing)
