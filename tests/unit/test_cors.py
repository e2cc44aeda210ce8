"""The gateway's edge layers as configured (``edge_layers``): body limit, quotas, CORS and security headers,
stacked innermost first exactly as the proxy's hot path stacks them, in front of a trivial app; and the
CORS origin allow-list of the settings. What a browser is told is written out from the rules."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from gateway.app import GatewaySettings, edge_layers
from gateway.limits import MemoryCounter

ORIGIN = "https://cork.example.eu"
METHODS = "GET, POST, PUT, PATCH, DELETE"
ALLOWED_HEADERS = ["authorization", "content-type", "if-match", "x-request-id", "traceparent"]
EXPOSED = "ETag, Link, Retry-After, RateLimit, RateLimit-Policy, X-Request-ID"


async def ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


class OneWindow(MemoryCounter):
    """Counts every request in one window whatever the wall clock says (the quotas here run on the real
    clock; their windows are tested on a clock set by hand in test_limits.py)."""

    async def hit(self, key: str, window: int, ttl_s: int = 0) -> int:
        return await super().hit(key, 0, ttl_s)


def stack(gw: GatewaySettings, counter: Any = None) -> httpx.AsyncClient:
    app: Any = ok
    for cls, kwargs in edge_layers(gw, counter or OneWindow()):
        app = cls(app, **kwargs)
    transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def gateway(**over: Any) -> GatewaySettings:
    base: dict[str, Any] = {"cors_origins": [ORIGIN], "rate_per_principal": 3, "rate_writes_per_principal": 2}
    return GatewaySettings(**{**base, "rate_per_address": 4, "rate_window_s": 30, **over})


def preflight(method: str = "POST", origin: str = ORIGIN, headers: str = "") -> dict[str, str]:
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    return {**h, "Access-Control-Request-Headers": headers} if headers else h


async def test_a_preflight_from_a_listed_origin_is_allowed_with_credentials() -> None:
    async with stack(gateway()) as c:
        r = await c.options("/api/v1/x", headers=preflight(headers=", ".join(ALLOWED_HEADERS)))
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert r.headers["access-control-allow-credentials"] == "true"
    assert r.headers["access-control-allow-methods"] == METHODS
    # ours, spelt as the project spells them, and the CORS-safelisted ones Starlette adds, in sorted order
    ours = {"Authorization", "Content-Type", "If-Match", "X-Request-ID", "traceparent"}
    safelisted = {"Accept", "Accept-Language", "Content-Language", "Content-Type"}
    assert r.headers["access-control-allow-headers"] == ", ".join(sorted(ours | safelisted))


@pytest.mark.parametrize(
    ("method", "headers"), [("OPTIONS", ""), ("HEAD", ""), ("CONNECT", ""), ("POST", "x-custom"), ("GET", "cookie")]
)
async def test_a_preflight_for_other_methods_or_headers_is_refused(method: str, headers: str) -> None:
    async with stack(gateway()) as c:
        r = await c.options("/api/v1/x", headers=preflight(method, headers=headers))
    assert r.status_code == 400


async def test_an_unlisted_origin_is_not_allowed() -> None:
    async with stack(gateway()) as c:
        r = await c.options("/api/v1/x", headers=preflight(origin="https://evil.example"))
        assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
        r = await c.get("/api/v1/x", headers={"Origin": "https://evil.example"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


async def test_a_listed_origin_may_read_the_answer_and_its_quota_headers() -> None:
    async with stack(gateway()) as c:
        r = await c.get("/api/v1/x", headers={"Origin": ORIGIN})
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert r.headers["access-control-allow-credentials"] == "true"
    assert r.headers["access-control-expose-headers"] == EXPOSED
    assert r.headers["ratelimit-policy"] == '"address";q=4;w=30'


async def test_without_origins_there_is_no_cors_at_all() -> None:
    async with stack(gateway(cors_origins=[])) as c:
        r = await c.options("/api/v1/x", headers=preflight())
        assert r.status_code == 200 and r.text == "ok"  # passed on to the app, nothing answered for it
        assert not any(k.startswith("access-control-") for k in r.headers)


async def test_the_quotas_are_the_settings_ones_each_under_its_name() -> None:
    counter = OneWindow()
    async with stack(gateway(), counter) as c:
        r = await c.get("/api/v1/x", headers={"Authorization": "Bearer a"})  # address 1 of 4, token 1 of 3
        assert r.headers["ratelimit"].startswith('"principal";r=2;t=')
        assert r.headers["ratelimit-policy"] == '"principal";q=3;w=30'
        r = await c.post("/api/v1/x", headers={"Authorization": "Bearer b"})  # address 2, token 1, writes 1 of 2
        assert r.headers["ratelimit"].startswith('"principal-writes";r=1;t=')
        assert r.headers["ratelimit-policy"] == '"principal-writes";q=2;w=30'
        r = await c.get("/api/v1/x")  # address 3 of 4
        assert r.headers["ratelimit"].startswith('"address";r=1;t=')
        assert r.headers["ratelimit-policy"] == '"address";q=4;w=30'
        assert (await c.get("/api/v1/x")).status_code == 200
        r = await c.get("/api/v1/x")
        assert (r.status_code, r.json()["quota"]) == (429, "address")
    assert counter.windows[0]["address:addr:192.0.2.7"] == 5  # the counter handed in is the one counting


async def test_a_refusal_by_a_quota_is_readable_by_the_web_client_and_carries_the_security_headers() -> None:
    """The quotas sit inside CORS and the security headers: a 429 still names its origin (so the client
    can read Retry-After) and is locked down like any answer."""
    async with stack(gateway(rate_per_address=1)) as c:
        await c.get("/api/v1/x")
        r = await c.get("/api/v1/x", headers={"Origin": ORIGIN})
    assert r.status_code == 429
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "Retry-After" in r.headers["access-control-expose-headers"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


async def test_an_oversized_body_is_refused_inside_the_quotas() -> None:
    """The body limit is innermost: a 413 has been counted and carries the quota headers."""
    async with stack(gateway(max_body_bytes=1024)) as c:
        r = await c.post("/api/v1/x", content=b"x" * 1025)
        assert r.status_code == 413 and r.headers["ratelimit"].startswith('"address";r=3;')
        assert r.headers["x-content-type-options"] == "nosniff"
        assert (await c.post("/api/v1/x", content=b"x" * 1024)).status_code == 200


async def test_quotas_can_be_switched_off() -> None:
    async with stack(gateway(rate_limits=False, rate_per_address=1)) as c:
        for _ in range(3):
            r = await c.get("/api/v1/x")
            assert r.status_code == 200 and "ratelimit" not in r.headers
        assert r.headers["x-frame-options"] == "DENY"


def test_the_layers_innermost_first() -> None:
    names = [cls.__name__ for cls, _ in edge_layers(gateway())]
    assert names == ["BodyLimitMiddleware", "RateLimitMiddleware", "CORSMiddleware", "SecurityHeadersMiddleware"]
    names = [cls.__name__ for cls, _ in edge_layers(gateway(cors_origins=[], rate_limits=False))]
    assert names == ["BodyLimitMiddleware", "SecurityHeadersMiddleware"]


# The allow-list itself ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origins",
    [[], [ORIGIN], ["http://localhost:5173"], ["http://127.0.0.1:8080"], ["http://localhost", ORIGIN]],
)
def test_https_origins_and_local_development_origins_are_accepted(origins: list[str]) -> None:
    assert GatewaySettings(cors_origins=origins).cors_origins == origins


# The same table as the compiled front's `origins_are_exact_web_origins` (gateway/edge/src/config.rs).
EXACT_ORIGINS = [
    "https://a.eu",
    "https://client.region.example.eu:8443",
    "http://localhost",
    "http://localhost:5173",
    "http://127.0.0.1:1",
    "https://x:65535",
]
NOT_ORIGINS = [
    "*",
    "https://",
    "http://localhost.evil.example",  # a prefix of a development origin is not one
    "http://127.0.0.1.nip.io",
    "https://*.example.eu",
    "https://A.eu",  # browsers send the host in lower case: an upper-case entry would never match
    "https://a.eu/",
    "https://a.eu:0",
    "https://a.eu:65536",
    "http://a.eu",
    "https://a.eu\n",
    "https://-a.eu",
    "https://a..eu",
    "https://a.eu:",
    "http://localhost:8080/x",
    "http://cork.example.eu",
    "cork.example.eu",
    "ftp://x",
    "null",
    "",
    "https://" + "a" * 64 + ".eu",  # a DNS label has at most 63 characters
]


@pytest.mark.parametrize("origin", [*EXACT_ORIGINS, "https://" + "a" * 63 + ".eu"])
def test_exact_web_origins_are_accepted(origin: str) -> None:
    assert GatewaySettings(cors_origins=[origin]).cors_origins == [origin]


@pytest.mark.parametrize("origin", NOT_ORIGINS)
def test_a_wildcard_a_path_or_anything_but_an_exact_origin_is_refused(origin: str) -> None:
    with pytest.raises(ValidationError) as e:
        GatewaySettings(cors_origins=[ORIGIN, origin])
    assert (
        f"{origin!r}: list each web client's origin as https://host[:port] (or http://localhost or "
        "http://127.0.0.1 with an optional port), lower case, no path, no wildcard; '*' is never allowed"
    ) in str(e.value)
