"""The front door's quotas, unit by unit: the in-memory window counter, the quota keys, the RateLimit
headers and Retry-After on a clock set by hand, and the security headers. Windows are fixed and counted
from the epoch: window k of a 60 s quota is [60k, 60k + 60). Expected values are worked out by hand."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from gateway.limits import MemoryCounter, Quota, RateLimitMiddleware, SecurityHeadersMiddleware

T0 = 1_800_000_000.0  # a window of 60 s starts here (30_000_000 * 60): window number 30_000_000


# MemoryCounter -----------------------------------------------------------------------------------------


async def test_a_counter_counts_per_key_and_window() -> None:
    c = MemoryCounter()
    assert [await c.hit("a", 10) for _ in range(3)] == [1, 2, 3]
    assert await c.hit("b", 10) == 1
    assert await c.hit("a", 11) == 1  # a new window starts from nothing
    assert await c.hit("a", 10) == 4  # the previous window is still counted


async def test_a_counter_keeps_the_current_and_the_previous_window_only() -> None:
    c = MemoryCounter()
    for w in (10, 11):
        await c.hit("a", w)
    assert sorted(c.windows) == [10, 11]
    await c.hit("a", 12)
    assert sorted(c.windows) == [11, 12]  # 10 is two windows back: gone
    assert await c.hit("a", 11) == 2
    await c.hit("a", 14)
    assert sorted(c.windows) == [14]
    assert await c.hit("a", 10) == 1  # forgotten, so counted afresh


# The middleware, with a recording counter and a clock set by hand -----------------------------------------


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Recording(MemoryCounter):
    """A MemoryCounter that also records each hit (key, window, ttl)."""

    def __init__(self) -> None:
        super().__init__()
        self.hits: list[tuple[str, int, int]] = []

    async def hit(self, key: str, window: int, ttl_s: int = 0) -> int:
        self.hits.append((key, window, ttl_s))
        return await super().hit(key, window, ttl_s)


class App:
    """The app behind the limiter: answers 200 with one header of its own, or none (``bare``)."""

    def __init__(self, bare: bool = False) -> None:
        self.calls, self.bare = 0, bare

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        assert (await receive())["type"] == "http.request"  # the request is handed on whole
        start: dict[str, Any] = {"type": "http.response.start", "status": 200}
        if not self.bare:
            start["headers"] = [(b"x-app", b"1")]
        await send(start)
        await send({"type": "http.response.body", "body": b"ok"})


class Answer:
    def __init__(self, messages: list[Message]) -> None:
        self.status = messages[0]["status"]
        self.raw: list[tuple[bytes, bytes]] = list(messages[0]["headers"])
        self.headers = {k.decode().lower(): v.decode() for k, v in self.raw}
        self.body = b"".join(m.get("body", b"") for m in messages[1:])
        self.messages = messages

    def json(self) -> Any:
        return json.loads(self.body)


def limiter(
    app: Any,
    clock: Clock,
    counter: MemoryCounter,
    principal: int = 100,
    writes: int = 100,
    address: int = 100,
    window: int = 60,
) -> RateLimitMiddleware:
    return RateLimitMiddleware(
        app,
        per_principal=Quota("principal", principal, window),
        writes_per_principal=Quota("principal-writes", writes, window),
        per_address=Quota("address", address, window),
        counter=counter,
        clock=clock,
    )


async def call(
    mw: Any,
    path: str = "/api/v1/x",
    method: str = "GET",
    client: tuple[str, int] | None = ("192.0.2.7", 40000),
    headers: list[tuple[bytes, bytes]] | None = None,
    kind: str = "http",
) -> Answer:
    scope: dict[str, Any] = {"type": kind, "path": path, "method": method, "headers": headers or []}
    if client is not None:
        scope["client"] = client
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await mw(scope, receive, send)
    return Answer(sent)


def bearer(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode())]


def tok_key(token: str) -> str:
    """The token quota's key, written out: sha256 of ``Bearer <token>``, 24 hex digits (opaque tokens)."""
    return "tok:" + hashlib.sha256(f"Bearer {token}".encode()).hexdigest()[:24]


async def test_each_request_hits_the_address_quota_and_a_tokens_quotas() -> None:
    rec, clock = Recording(), Clock(T0 + 1.5)
    mw = limiter(App(), clock, rec)
    window, ttl = 30_000_000, 120  # int(T0 + 1.5) // 60; the counters outlive two windows
    await call(mw)
    assert rec.hits == [("address:addr:192.0.2.7", window, ttl)]
    rec.hits.clear()
    await call(mw, headers=bearer("opaque-1"))
    assert rec.hits == [("address:addr:192.0.2.7", window, ttl), (f"principal:{tok_key('opaque-1')}", window, ttl)]
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        rec.hits.clear()
        await call(mw, method=method, headers=bearer("opaque-1"))
        assert [k for k, _, _ in rec.hits] == [
            "address:addr:192.0.2.7",
            f"principal:{tok_key('opaque-1')}",
            f"principal-writes:{tok_key('opaque-1')}",
        ], method
    for method in ("HEAD", "OPTIONS"):
        rec.hits.clear()
        await call(mw, method=method, headers=bearer("opaque-1"))
        assert len(rec.hits) == 2, method


async def test_the_window_number_and_ttl_follow_each_quotas_window() -> None:
    rec, clock = Recording(), Clock(T0 + 59.999)
    mw = limiter(App(), clock, rec, window=10)
    await call(mw)
    assert rec.hits == [("address:addr:192.0.2.7", 180_000_005, 20)]  # (T0 + 59.999) // 10
    clock.t = T0 + 60
    await call(mw)
    assert rec.hits[-1] == ("address:addr:192.0.2.7", 180_000_006, 20)


async def test_quota_keys_the_address_not_the_port_and_no_address_as_dash() -> None:
    rec = Recording()
    mw = limiter(App(), Clock(T0), rec)
    await call(mw, client=("192.0.2.7", 1))
    await call(mw, client=("192.0.2.7", 2))
    await call(mw, client=None)
    assert [k for k, _, _ in rec.hits] == ["address:addr:192.0.2.7"] * 2 + ["address:addr:-"]


async def test_the_first_authorization_header_names_the_token_as_the_verifier_reads_it() -> None:
    rec = Recording()
    mw = limiter(App(), Clock(T0), rec)
    headers = [(b"x-other", b"Bearer nope"), (b"authorization", b"bearer  one\t"), (b"authorization", b"Bearer two")]
    await call(mw, headers=headers)
    assert rec.hits[1][0] == f"principal:{tok_key('one')}"
    rec.hits.clear()
    await call(mw, headers=[(b"authorization", b"Basic dXNlcjpwdw==")])  # no bearer token: no token quota
    assert [k for k, _, _ in rec.hits] == ["address:addr:192.0.2.7"]


async def test_health_and_metrics_are_not_counted() -> None:
    app, rec = App(), Recording()
    mw = limiter(app, Clock(T0), rec, address=1)
    for path in ("/healthz", "/readyz", "/metrics", "/metrics/extra") * 2:
        r = await call(mw, path=path)
        assert r.status == 200 and "ratelimit" not in r.headers, path
    assert rec.hits == [] and app.calls == 8
    assert (await call(mw, path="/api/v1/healthz")).headers["ratelimit"] == '"address";r=0;t=60'


async def test_other_scopes_pass_through_uncounted() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append({**scope, "received": await receive()})
        await send({"type": "websocket.close", "code": 1000})

    rec = Recording()
    mw = limiter(app, Clock(T0), rec, address=1)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    for _ in range(2):
        await mw({"type": "websocket", "path": "/api/v1/x", "headers": []}, receive, send)
    assert rec.hits == [] and sent == [{"type": "websocket.close", "code": 1000}] * 2
    websocket = {"type": "websocket", "path": "/api/v1/x", "headers": [], "received": {"type": "websocket.connect"}}
    assert seen == [websocket] * 2


async def test_headers_are_added_to_the_apps_own() -> None:
    mw = limiter(App(), Clock(T0 + 0.5), Recording(), address=5)
    r = await call(mw)
    assert r.raw == [
        (b"x-app", b"1"),
        (b"RateLimit-Policy", b'"address";q=5;w=60'),
        (b"RateLimit", b'"address";r=4;t=60'),  # 59.5 s left, rounded up
    ]
    assert r.body == b"ok" and r.messages[1] == {"type": "http.response.body", "body": b"ok"}
    bare = limiter(App(bare=True), Clock(T0 + 0.5), Recording(), address=5)
    assert (await call(bare)).raw == [
        (b"RateLimit-Policy", b'"address";q=5;w=60'),
        (b"RateLimit", b'"address";r=4;t=60'),
    ]


async def test_the_headers_name_the_quota_with_least_left_and_the_first_on_a_tie() -> None:
    clock = Clock(T0)
    mw = limiter(App(), clock, Recording(), principal=3, writes=5, address=3)
    r = await call(mw, headers=bearer("t"))  # address r=2, principal r=2: a tie, the first checked
    assert r.headers["ratelimit"] == '"address";r=2;t=60'
    r = await call(mw, client=("192.0.2.8", 1), headers=bearer("t"))  # principal r=1 < address r=2
    assert r.headers["ratelimit"] == '"principal";r=1;t=60'
    assert r.headers["ratelimit-policy"] == '"principal";q=3;w=60'
    r = await call(mw, client=("192.0.2.9", 1), method="POST", headers=bearer("u"))  # writes 4 > the others 2
    assert r.headers["ratelimit"] == '"address";r=2;t=60'


async def test_a_quota_admits_exactly_its_limit_then_429() -> None:
    app, clock = App(), Clock(T0 + 20.25)
    mw = limiter(app, clock, Recording(), address=3)
    assert [(await call(mw)).headers["ratelimit"] for _ in range(3)] == [
        '"address";r=2;t=40',
        '"address";r=1;t=40',
        '"address";r=0;t=40',
    ]
    r = await call(mw)
    assert r.status == 429 and app.calls == 3
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["retry-after"] == "40"  # 39.75 s to the next window, rounded up
    assert r.headers["ratelimit"] == '"address";r=0;t=40'
    assert r.headers["ratelimit-policy"] == '"address";q=3;w=60'
    body = r.json()
    assert body["status"] == 429 and body["quota"] == "address"
    assert body["detail"] == "more than 3 requests in 60 s (address); slow down"
    assert body["type"].endswith("/rate-limited")


async def test_a_refusal_stops_at_the_first_spent_quota() -> None:
    """Over the address quota, the token's quotas are not counted: the token keeps what it had."""
    rec, clock = Recording(), Clock(T0)
    mw = limiter(App(), clock, rec, principal=5, address=1)
    await call(mw, headers=bearer("t"))
    rec.hits.clear()
    r = await call(mw, headers=bearer("t"))
    assert (r.status, r.json()["quota"]) == (429, "address")
    assert [k for k, _, _ in rec.hits] == ["address:addr:192.0.2.7"]
    assert rec.windows[30_000_000] == {"address:addr:192.0.2.7": 2, f"principal:{tok_key('t')}": 1}


async def test_writes_have_their_own_quota_on_top_of_the_tokens() -> None:
    mw = limiter(App(), Clock(T0), Recording(), principal=10, writes=1)
    assert (await call(mw, method="POST", headers=bearer("t"))).status == 200
    r = await call(mw, method="PUT", headers=bearer("t"))
    assert (r.status, r.json()["quota"]) == (429, "principal-writes")
    assert r.json()["detail"] == "more than 1 requests in 60 s (principal-writes); slow down"
    assert (await call(mw, method="GET", headers=bearer("t"))).status == 200


@pytest.mark.parametrize(
    ("offset", "wait"),
    [(0.0, 60), (0.5, 60), (1.0, 59), (30.25, 30), (58.999, 2), (59.0, 1), (59.5, 1), (59.999, 1)],
)
async def test_retry_after_is_the_wait_to_the_next_window_rounded_up_and_at_least_1(offset: float, wait: int) -> None:
    clock = Clock(T0 + offset)
    mw = limiter(App(), clock, Recording(), address=1)
    assert (await call(mw)).headers["ratelimit"] == f'"address";r=0;t={wait}'
    r = await call(mw)
    assert (r.status, r.headers["retry-after"], r.headers["ratelimit"]) == (429, str(wait), f'"address";r=0;t={wait}')


async def test_a_window_ends_exactly_at_its_edge() -> None:
    clock = Clock(T0 + 59.999)
    mw = limiter(App(), clock, Recording(), address=1)
    assert (await call(mw)).status == 200
    assert (await call(mw)).status == 429  # just inside the window
    clock.t = T0 + 60  # at the edge: a fresh window
    assert (await call(mw)).headers["ratelimit"] == '"address";r=0;t=60'
    clock.t = T0 + 60.001  # just after it: the same new window, already spent
    assert (await call(mw)).status == 429


def test_the_ratelimit_headers_of_the_draft() -> None:
    """Names as draft-ietf-httpapi-ratelimit-headers spells them; r never below 0, t at least 1 s."""
    headers = RateLimitMiddleware._headers
    q = Quota("principal", 600, 60)
    assert headers(q, 599, 59.2) == {
        "RateLimit-Policy": '"principal";q=600;w=60',
        "RateLimit": '"principal";r=599;t=60',
    }
    assert headers(q, 0, 1.0) == {"RateLimit-Policy": '"principal";q=600;w=60', "RateLimit": '"principal";r=0;t=1'}
    assert headers(q, -3, 0.2)["RateLimit"] == '"principal";r=0;t=1'
    assert headers(q, 1, 1.01)["RateLimit"] == '"principal";r=1;t=2'


# Security headers ------------------------------------------------------------------------------------------

SECURITY = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"cross-origin-resource-policy", b"same-site"),
]
CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")


async def test_security_headers_and_a_locked_down_csp_on_the_api() -> None:
    r = await call(SecurityHeadersMiddleware(App()))
    assert r.raw == [(b"x-app", b"1"), *SECURITY, CSP]
    assert r.messages[1] == {"type": "http.response.body", "body": b"ok"}
    assert (await call(SecurityHeadersMiddleware(App(bare=True)))).raw == [*SECURITY, CSP]


async def test_the_docs_page_has_no_csp_of_ours() -> None:
    for path in ("/docs", "/docs/oauth2-redirect"):
        assert (await call(SecurityHeadersMiddleware(App()), path=path)).raw == [(b"x-app", b"1"), *SECURITY]


async def test_a_header_the_app_set_is_not_set_twice() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "http.request"
        own = [(b"X-Frame-Options", b"SAMEORIGIN"), (b"content-security-policy", b"default-src 'self'")]
        await send({"type": "http.response.start", "status": 200, "headers": own})
        await send({"type": "http.response.body", "body": b""})

    r = await call(SecurityHeadersMiddleware(app))
    assert r.raw == [
        (b"X-Frame-Options", b"SAMEORIGIN"),
        (b"content-security-policy", b"default-src 'self'"),
        *[h for h in SECURITY if h[0] != b"x-frame-options"],
    ]


async def test_security_headers_leave_other_scopes_alone() -> None:
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "websocket.close", "code": 1000, "reason": scope["path"] + (await receive())["type"]})

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    await SecurityHeadersMiddleware(app)({"type": "websocket", "path": "/x", "headers": []}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1000, "reason": "/xwebsocket.connect"}]
