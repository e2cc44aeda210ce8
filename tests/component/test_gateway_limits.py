"""Abuse limits at the front door: per token, tighter on writes, per client address; 429 problem+json
with Retry-After and RateLimit headers; health endpoints exempt. The same tests run against the
embedded gateway and the compiled front (over real HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import jwt as pyjwt
import pytest
from starlette.types import Receive, Scope, Send

from clustergrowth.auth import DevIssuer
from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings
from gateway.limits import Quota, RateLimitMiddleware
from instance.app import create_app
from services.matching.app import create_app as matching_app
from tests.backends import free_port
from tests.conftest import TokenFactory
from tests.fronts import FRONTS, Served, front, quota_window_with_room
from tests.jws import ecdsa_twin

LIMITS = GatewaySettings(rate_per_principal=8, rate_writes_per_principal=3, rate_per_address=12, rate_window_s=60)
LIMIT_OF = {"principal": 8, "principal-writes": 3, "address": 12}
Connect = Callable[[str], httpx.AsyncClient]


@asynccontextmanager
async def door(kind: str, settings: RuntimeSettings, gw: GatewaySettings) -> AsyncIterator[Connect]:
    """``connect(address)``: a client of the front door whose requests come from that address, early enough in
    a quota window for a test to count its quotas down (``quota_window_with_room``)."""
    settings = settings.model_copy(update={"seed_demo": False})
    if kind == "embedded":
        a = create_app(settings, gw)

        def asgi(address: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=a, client=(address, 40000))
            return httpx.AsyncClient(transport=transport, base_url="http://testserver")

        async with a.router.lifespan_context(a):
            await quota_window_with_room(gw.rate_window_s)
            yield asgi
        return
    matching = Served(lambda: matching_app(settings), free_port())
    await matching.start()
    try:
        async with front(kind, settings, gw.model_copy(update={"urls": {"matching": matching.url}})) as f:
            await quota_window_with_room(gw.rate_window_s)
            yield f.client
    finally:
        await matching.stop()


@pytest.fixture(params=["embedded", *FRONTS])
async def client(request: pytest.FixtureRequest, settings: RuntimeSettings) -> AsyncIterator[Connect]:
    async with door(request.param, settings, LIMITS) as connect:
        yield connect


def refused(r: httpx.Response) -> None:
    """A 429 from the quota named in the problem: that quota's headers, spent, with the same wait as
    Retry-After (its exact value, on a clock set by hand, is tested below against the Python gateway)."""
    assert r.status_code == 429, r.text
    assert r.headers["content-type"] == "application/problem+json"
    retry, quota = int(r.headers["retry-after"]), r.json()["quota"]
    assert 1 <= retry <= 60
    assert r.headers["ratelimit"] == f'"{quota}";r=0;t={retry}', r.headers["ratelimit"]
    assert r.headers["ratelimit-policy"] == f'"{quota}";q={LIMIT_OF[quota]};w=60', r.headers["ratelimit-policy"]


async def test_a_burst_above_the_token_quota_gets_429(client: Connect, token: TokenFactory) -> None:
    h = {"Authorization": token("alice", "student")}
    async with client("127.0.0.11") as c:
        oks = [await c.get("/api/v1/matching/challenges", headers=h) for _ in range(8)]
        assert all(r.status_code == 200 for r in oks)
        assert oks[0].headers["ratelimit"].startswith('"principal";r=7;')
        assert oks[-1].headers["ratelimit"].startswith('"principal";r=0;')
        refused(await c.get("/api/v1/matching/challenges", headers=h))
        # another token from the same address still has its own quota
        other = {"Authorization": token("bob", "student")}
        assert (await c.get("/api/v1/matching/challenges", headers=other)).status_code == 200
        assert (await c.get("/healthz")).status_code == 200  # exempt


async def test_writes_have_a_tighter_quota(client: Connect, token: TokenFactory) -> None:
    h = {"Authorization": token("alice", "student")}
    body: dict[str, list[str]] = {"ranking": []}
    async with client("127.0.0.12") as c:
        for _ in range(3):
            assert (await c.put("/api/v1/matching/candidates/me/preferences", json=body, headers=h)).status_code == 404
        r = await c.put("/api/v1/matching/candidates/me/preferences", json=body, headers=h)
        refused(r)
        assert r.json()["quota"] == "principal-writes"
        assert (await c.get("/api/v1/matching/challenges", headers=h)).status_code == 200  # reads still fine


async def test_one_address_cannot_escape_by_changing_tokens(client: Connect, token: TokenFactory) -> None:
    async with client("127.0.0.13") as c, client("127.0.0.14") as elsewhere:
        for i in range(12):
            r = await c.get("/api/v1/matching/challenges", headers={"Authorization": token(f"u{i}", "student")})
            assert r.status_code == 200
        r = await c.get("/api/v1/matching/challenges", headers={"Authorization": token("u99", "student")})
        refused(r)
        assert r.json()["quota"] == "address"
        refused(await c.get("/api/v1/matching/challenges", headers={"Authorization": "Bearer junk"}))
        ok = await elsewhere.get("/api/v1/matching/challenges", headers={"Authorization": token("u1", "student")})
        assert ok.status_code == 200


@pytest.mark.parametrize("kind", ["embedded", *FRONTS])
async def test_security_headers_cors_allow_list_and_body_limit(
    kind: str, settings: RuntimeSettings, token: TokenFactory
) -> None:
    with pytest.raises(ValueError, match="never allowed"):
        GatewaySettings(cors_origins=["*"])
    gw = GatewaySettings(cors_origins=["https://cork.example.eu"], max_body_bytes=2048)
    h = {"Authorization": token("alice", "student")}
    async with door(kind, settings, gw) as connect, connect("127.0.0.15") as c:
        r = await c.get("/api/v1/matching/challenges", headers=h)
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in r.headers["content-security-policy"]
        pre = {"Origin": "https://cork.example.eu", "Access-Control-Request-Method": "POST"}
        r = await c.options("/api/v1/matching/challenges", headers=pre)
        assert r.headers["access-control-allow-origin"] == "https://cork.example.eu"
        assert r.headers["access-control-allow-credentials"] == "true"
        r = await c.options("/api/v1/matching/challenges", headers={**pre, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers
        r = await c.get("/api/v1/matching/challenges", headers={**h, "Origin": "https://cork.example.eu"})
        assert r.headers["access-control-allow-origin"] == "https://cork.example.eu"
        assert "RateLimit" in r.headers["access-control-expose-headers"]
        big = {"ranking": ["x" * 50] * 100}
        r = await c.put("/api/v1/matching/candidates/me/preferences", json=big, headers=h)
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while it streams
            yield b'{"ranking": ['
            for _ in range(100):
                yield b'"' + b"x" * 50 + b'",'
            yield b'"y"]}'

        r = await c.put(
            "/api/v1/matching/candidates/me/preferences",
            content=chunks(),
            headers={**h, "Content-Type": "application/json"},
        )
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"


async def raw_get(c: httpx.AsyncClient, address: str, path: str, headers: list[tuple[str, str]]) -> httpx.Response:
    """GET with header values sent byte for byte (httpx refuses trailing whitespace, a server may not)."""
    if c.base_url.host == "testserver":  # the embedded gateway: ASGI passes the values as they are
        return await c.get(path, headers=headers)
    reader, writer = await asyncio.open_connection(c.base_url.host, c.base_url.port, local_addr=(address, 0))
    lines = [f"GET {path} HTTP/1.1", f"Host: {c.base_url.netloc.decode()}", "Connection: close"]
    writer.write(("\r\n".join(lines + [f"{k}: {v}" for k, v in headers]) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    fields = [(name.strip(), value.strip()) for name, value in (line.split(":", 1) for line in head[1:])]
    return httpx.Response(int(head[0].split()[1]), headers=fields)


async def test_rewriting_the_authorization_header_does_not_buy_a_fresh_quota(
    client: Connect, token: TokenFactory
) -> None:
    """The scheme's case, extra spaces, trailing whitespace or a second Authorization line still name
    the same token to the verifier, so they count against that token's quota."""
    jwt = token("carol", "student").removeprefix("Bearer ")
    variants = [
        [("Authorization", f"Bearer {jwt}")],
        [("Authorization", f"bearer {jwt}")],
        [("Authorization", f"BEARER  {jwt}")],
        [("Authorization", f"Bearer {jwt}\t")],
        [("Authorization", f"Bearer {jwt} \t ")],
        [("Authorization", f"BeArEr {jwt}")],
        [("Authorization", f"Bearer {jwt}"), ("Authorization", "Bearer another-one")],  # the verifier reads the first
        [("Authorization", f"Bearer {jwt}"), ("Authorization", "Bearer yet-another")],
    ]
    address = "127.0.0.16"
    async with client(address) as c:
        for i, headers in enumerate(variants):
            r = await raw_get(c, address, "/api/v1/matching/challenges", headers)
            assert r.status_code == 200, (i, r.status_code)
            assert r.headers["ratelimit"].startswith(f'"principal";r={7 - i};'), (i, r.headers["ratelimit"])
        # base64url padding is no part of a JWT (RFC 7515 §2), though a lenient decoder would accept it
        r = await raw_get(c, address, "/api/v1/matching/challenges", [("Authorization", f"Bearer {jwt}==")])
        assert r.status_code == 401, r.status_code
        r = await raw_get(c, address, "/api/v1/matching/challenges", [("Authorization", f"bearer   {jwt}")])
        assert r.status_code == 429 and r.headers["ratelimit"].startswith('"principal";r=0;'), r.status_code


async def test_an_ecdsa_twin_signature_does_not_buy_a_fresh_quota(
    client: Connect, token: TokenFactory, settings: RuntimeSettings
) -> None:
    """An ES256 signature (r, s) also verifies as (r, n - s): one token, two spellings. The token quota is
    keyed on what was signed (the JWS signing input), so both spellings count against one quota."""
    jwt = token("dave", "student").removeprefix("Bearer ")
    twin = ecdsa_twin(jwt)
    key = DevIssuer(settings.data_dir).private_key().public_key()
    for spelling in (jwt, twin):  # the twin is a real credential, not junk the verifier refuses
        claims = pyjwt.decode(spelling, key, algorithms=["ES256"], audience=settings.auth_audience)
        assert claims["sub"] == "dave"
    address = "127.0.0.18"
    async with client(address) as c:
        for i, spelling in enumerate([jwt, twin, twin, jwt, twin, jwt, jwt, twin]):
            r = await c.get("/api/v1/matching/challenges", headers={"Authorization": f"Bearer {spelling}"})
            assert r.status_code == 200, (i, r.status_code)
            assert r.headers["ratelimit"].startswith(f'"principal";r={7 - i};'), (i, r.headers["ratelimit"])
        r = await c.get("/api/v1/matching/challenges", headers={"Authorization": f"Bearer {twin}"})
        refused(r)
        assert r.json()["quota"] == "principal"


async def test_a_credential_that_does_not_parse_has_no_token_quota(client: Connect) -> None:
    """Only the address quota counts a header the verifier refuses (it is answered 401)."""
    async with client("127.0.0.17") as c:
        for value in ("Basic dXNlcjpwdw==", "Bearer", "Bearer a b", "Bearer\tabc", "Token abc"):
            r = await c.get("/api/v1/matching/challenges", headers={"Authorization": value})
            assert r.status_code == 401, value
            assert r.headers["ratelimit"].startswith('"address";'), (value, r.headers["ratelimit"])


@pytest.mark.parametrize("kind", ["embedded", "edge"])
async def test_x_forwarded_for_does_not_move_a_client_to_another_address_quota(
    kind: str, settings: RuntimeSettings
) -> None:
    """The compiled front counts the connection's address and never reads X-Forwarded-For (it replaces it
    towards the services). The Python gateway's own code does not read it either; whether its ASGI
    server rewrites the client address from it is the server's configuration (instance/cli.py)."""
    async with door(kind, settings, LIMITS) as connect, connect("127.0.0.1") as c:
        for i in range(12):
            r = await c.get("/api/v1/matching/challenges", headers={"X-Forwarded-For": f"203.0.113.{i}"})
            assert r.status_code == 401 and r.headers["ratelimit"].startswith(f'"address";r={11 - i};'), i
        r = await c.get("/api/v1/matching/challenges", headers={"X-Forwarded-For": "198.51.100.7"})
        refused(r)
        assert r.json()["quota"] == "address"


# Quota windows on a clock driven by hand ------------------------------------------------------------
# The quotas are fixed windows of `window_s` seconds counted from the epoch: [k*60, (k+1)*60). The
# expected answers below are worked out by hand from that rule, at the last second of a window, at its
# edge and just after, and Retry-After is the whole number of seconds until the next window starts
# (rounded up, so that waiting that long always succeeds).
T0 = 1_800_000_000.0  # a window starts here: 1_800_000_000 = 30_000_000 * 60


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


async def answered(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@asynccontextmanager
async def quota_of_two(clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    """Only the address quota can bite: 2 requests per 60 s window (the token quotas are far above)."""
    limited = RateLimitMiddleware(
        answered,
        per_principal=Quota("principal", 100, 60),
        writes_per_principal=Quota("principal-writes", 100, 60),
        per_address=Quota("address", 2, 60),
        clock=clock,
    )
    transport = httpx.ASGITransport(app=limited, client=("192.0.2.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def at(c: httpx.AsyncClient, clock: Clock, t: float) -> httpx.Response:
    clock.t = t
    return await c.get("/api/v1/anything")


async def test_a_window_resets_exactly_at_its_edge() -> None:
    clock = Clock(T0)
    async with quota_of_two(clock) as c:
        last_second = T0 + 59.0
        r = await at(c, clock, last_second)
        assert (r.status_code, r.headers["ratelimit"]) == (200, '"address";r=1;t=1')
        r = await at(c, clock, last_second)
        assert (r.status_code, r.headers["ratelimit"]) == (200, '"address";r=0;t=1')
        r = await at(c, clock, last_second)
        assert (r.status_code, r.headers["retry-after"]) == (429, "1")
        r = await at(c, clock, T0 + 59.999)  # just inside the window: still over
        assert (r.status_code, r.headers["retry-after"], r.headers["ratelimit"]) == (429, "1", '"address";r=0;t=1')
        r = await at(c, clock, T0 + 60.0)  # the edge: a new window, a fresh quota
        assert (r.status_code, r.headers["ratelimit"]) == (200, '"address";r=1;t=60')
        r = await at(c, clock, T0 + 60.001)  # just after the edge: the same new window
        assert (r.status_code, r.headers["ratelimit"]) == (200, '"address";r=0;t=60')
        r = await at(c, clock, T0 + 60.001)
        assert (r.status_code, r.headers["retry-after"]) == (429, "60")


@pytest.mark.parametrize(
    ("offset", "retry_after"),
    [(0.0, 60), (0.5, 60), (1.0, 59), (30.25, 30), (58.0, 2), (59.0, 1), (59.5, 1), (59.999, 1)],
)
async def test_retry_after_is_the_exact_wait_until_the_next_window(offset: float, retry_after: int) -> None:
    clock = Clock(T0)
    async with quota_of_two(clock) as c:
        for _ in range(2):
            assert (await at(c, clock, T0 + offset)).status_code == 200
        r = await at(c, clock, T0 + offset)
        assert r.status_code == 429 and r.json()["quota"] == "address"
        assert r.headers["retry-after"] == str(retry_after)
        assert r.headers["ratelimit"] == f'"address";r=0;t={retry_after}'
        if retry_after > 1:  # a second less is still inside the window
            assert (await at(c, clock, T0 + offset + retry_after - 1)).status_code == 429
        assert (await at(c, clock, T0 + offset + retry_after)).status_code == 200  # waiting as told succeeds
