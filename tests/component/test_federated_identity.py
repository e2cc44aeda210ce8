"""One region's people at any region's front door: a partner's OpenID Connect issuer, served over real
HTTP by this test, is trusted by the Cork gateway with the roles Cork grants partner members."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI

from clustergrowth.auth import DevIssuer
from clustergrowth.settings import RuntimeSettings, TrustedIssuer
from instance.app import create_app
from tests.backends import free_port
from tests.conftest import asgi_client


@dataclass
class PartnerIssuer:
    """A minimal OIDC provider: discovery, JWKS, and signing with its current key."""

    base: str
    keys: dict[str, ec.EllipticCurvePrivateKey] = field(default_factory=dict)
    current: str = ""
    jwks_requests: int = 0

    def rotate(self) -> None:
        self.current = f"k{len(self.keys) + 1}"
        self.keys[self.current] = ec.generate_private_key(ec.SECP256R1())

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, Any]:
            return {
                "issuer": self.base,
                "jwks_uri": f"{self.base}/jwks",
                "id_token_signing_alg_values_supported": ["ES256"],
            }

        @app.get("/jwks")
        async def jwks() -> dict[str, Any]:
            self.jwks_requests += 1
            out = []
            for kid, key in self.keys.items():
                jwk: dict[str, Any] = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
                out.append({**jwk, "kid": kid, "use": "sig", "alg": "ES256"})
            return {"keys": out}

        return app

    def token(self, sub: str, *roles: str, **over: Any) -> dict[str, str]:
        now = int(time.time())
        claims = {
            "iss": self.base,
            "aud": "clustergrowth",
            "sub": sub,
            "roles": list(roles),
            "region": "IE05",  # a partner's token cannot make its holder local
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "jti": uuid.uuid4().hex,
            **over,
        }
        tok = jwt.encode(claims, self.keys[self.current], "ES256", headers={"kid": self.current})
        return {"Authorization": f"Bearer {tok}"}


@pytest.fixture
async def bologna() -> AsyncIterator[PartnerIssuer]:
    port = free_port()
    issuer = PartnerIssuer(base=f"http://127.0.0.1:{port}/realms/unibo")
    issuer.rotate()
    outer = FastAPI()
    outer.mount("/realms/unibo", issuer.app())
    server = uvicorn.Server(uvicorn.Config(outer, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    yield issuer
    server.should_exit = True
    await task


@pytest.fixture
async def cork(tmp_path: Path, bologna: PartnerIssuer) -> AsyncIterator[httpx.AsyncClient]:
    settings = RuntimeSettings(
        data_dir=tmp_path / "data",
        relay_interval_s=0.05,
        auth_jwks_min_refresh_s=0,
        auth_partners=[
            TrustedIssuer(
                issuer=bologna.base,
                region="ITH5",
                roles={"student": ["student"], "researcher": ["academic"], "staff": ["sme_member"]},
            )
        ],
    )
    async for c in asgi_client(create_app(settings)):
        yield c


def desk_slot(days_ahead: int = 4) -> dict[str, str]:
    d = datetime.now(UTC).date() + timedelta(days=days_ahead)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    start = datetime(d.year, d.month, d.day, 10, tzinfo=UTC)
    return {
        "resource_id": "ork-rubicon-desk-1",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=2)).isoformat(),
    }


async def test_a_bologna_student_books_a_desk_in_cork_with_the_roles_cork_grants(
    cork: httpx.AsyncClient, bologna: PartnerIssuer
) -> None:
    r = await cork.post("/api/v1/facilities/bookings", json=desk_slot(), headers=bologna.token("giulia", "student"))
    assert r.status_code == 201, r.text
    assert r.json()["person_region"] == "ITH5"  # the partner's region, not the token's claim
    # Bologna's own admins are not Cork's: region_admin is not in Cork's grant, so it is dropped
    csv = "region,sector,employees\nIE05,C28,100\n"
    r = await cork.post(
        "/api/v1/mapping/employment-statistics",
        content=csv,
        headers={**bologna.token("boss", "region_admin"), "Content-Type": "text/csv"},
    )
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    # a mapped role works under its local name
    r = await cork.put(
        "/api/v1/matching/candidates/me",
        json={"kind": "academic", "languages": ["it"], "available_from": "2027-01-01", "available_until": "2027-03-01"},
        headers=bologna.token("prof-bo", "researcher"),
    )
    assert r.status_code == 200 and r.json()["home_region"] == "ITH5"


async def test_key_rotation_is_followed_and_unknown_or_bad_tokens_are_401(
    cork: httpx.AsyncClient, bologna: PartnerIssuer, tmp_path: Path
) -> None:
    url = "/api/v1/matching/challenges"
    assert (await cork.get(url, headers=bologna.token("giulia", "student"))).status_code == 200
    fetched = bologna.jwks_requests
    for _ in range(5):  # cached: no refetch per request
        assert (await cork.get(url, headers=bologna.token("giulia", "student"))).status_code == 200
    assert bologna.jwks_requests == fetched
    bologna.rotate()  # the partner publishes a new key and signs with it
    assert (await cork.get(url, headers=bologna.token("giulia", "student"))).status_code == 200
    assert bologna.jwks_requests == fetched + 1

    stranger = PartnerIssuer(base="http://127.0.0.1:1/realms/evil")
    stranger.rotate()
    expired = int(time.time()) - 3600
    forged_kid = bologna.token("giulia", "student")["Authorization"].split(".")
    cases = {
        "no token": {},
        "untrusted issuer": stranger.token("mallory", "platform_admin"),
        "expired": bologna.token("giulia", "student", exp=expired, iat=expired - 60, nbf=expired - 60),
        "wrong audience": bologna.token("giulia", "student", aud="another-app"),
        "not yet valid": bologna.token("giulia", "student", nbf=int(time.time()) + 3600),
        "alg none": {"Authorization": "Bearer " + jwt.encode({"iss": bologna.base, "sub": "x"}, None, "none")},
        "tampered": {"Authorization": ".".join([forged_kid[0], forged_kid[1][:-4] + "AAAA", forged_kid[2]])},
        "dev key, partner iss": {
            "Authorization": "Bearer "
            + jwt.encode(
                {"iss": bologna.base, "aud": "clustergrowth", "sub": "x", "exp": int(time.time()) + 60},
                DevIssuer(tmp_path / "data").private_key(),
                "ES256",
                headers={"kid": bologna.current},
            )
        },
    }
    for case, headers in cases.items():
        r = await cork.get(url, headers=headers)
        assert r.status_code == 401, (case, r.text)
        assert r.headers["content-type"] == "application/problem+json", case
        assert r.headers["www-authenticate"].startswith("Bearer"), case
