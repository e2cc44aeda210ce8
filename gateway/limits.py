"""Abuse limits at the front door: fixed-window request quotas per principal and per client address,
a tighter quota on writes, and 429 problem+json with ``Retry-After`` and the IETF ``RateLimit`` /
``RateLimit-Policy`` headers (draft-ietf-httpapi-ratelimit-headers).

The principal is keyed by a hash of its bearer token: the limiter runs before authentication and must
not trust unverified claims (or a forged ``sub`` could exhaust someone else's quota); unverifiable
tokens are still held to the per-address quota. The token is read as the verifier reads it
(``clustergrowth.credentials``), so respelling the header (``bearer``, extra spaces, trailing tabs, a
second Authorization line) names the same quota; the key hashes the canonical ``Bearer <token>`` (as
before, and as the compiled front keys it), where a JWT's token is its signing input (``header.payload``):
an ECDSA signature has two valid spellings, and both must name one quota. A header that names no bearer
token has no token quota: it is answered 401, and counted per address.

Counters live in a ``Counter`` store: in memory for one replica, or in Redis so that the quotas hold
across several gateway replicas. When Redis does not answer, each replica falls back to its own memory
counters (the quotas then hold per replica) and tries Redis again a few seconds later: the front door
neither fails open nor fails closed.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clustergrowth.bodylimit import BodyLimitMiddleware as BodyLimitMiddleware  # the runtime's, for every app
from clustergrowth.credentials import bearer_token, quota_key
from clustergrowth.errors import problem_response
from clustergrowth.problems import TooManyRequests
from clustergrowth.settings import RuntimeSettings

log = logging.getLogger("gateway.limits")
WRITES = {b"POST", b"PUT", b"PATCH", b"DELETE"}
EXEMPT = ("/healthz", "/readyz", "/metrics")


class Counter(Protocol):
    async def hit(self, key: str, window: int, ttl_s: int) -> int:
        """Count one request for ``key`` in fixed window number ``window``; the count so far."""
        ...


class MemoryCounter:
    """Counters of the current and previous windows only, so memory stays bounded by active keys."""

    def __init__(self) -> None:
        self.windows: dict[int, dict[str, int]] = {}

    async def hit(self, key: str, window: int, ttl_s: int = 0) -> int:
        for w in [w for w in self.windows if w < window - 1]:
            del self.windows[w]
        counts = self.windows.setdefault(window, {})
        counts[key] = counts.get(key, 0) + 1
        return counts[key]


class RedisCounter:
    """Counters shared by every gateway replica: INCR and EXPIRE in one round trip per quota.

    ``rediss://`` is TLS (``CG_REDIS_CA_FILE`` names the CA when it is not a public one); the password is
    ``CG_REDIS_PASSWORD``, a secret, never part of the URL. ``settings`` (else read from the environment)
    decide: in production a plaintext URL or a missing/default password is refused, naming the setting.
    """

    def __init__(
        self,
        url: str,
        *,
        retry_after_s: float = 5.0,
        timeout_s: float = 0.25,
        settings: RuntimeSettings | None = None,
    ) -> None:
        import redis.asyncio

        settings = settings or RuntimeSettings()
        problems = settings.redis_problems(url)
        if problems:
            raise ValueError("; ".join(problems))
        secure: dict[str, Any] = {}
        if settings.redis_password is not None:
            secure["password"] = settings.redis_password.get_secret_value()
            secure["username"] = settings.redis_username
        if url.startswith("rediss://") and settings.redis_ca_file is not None:
            secure["ssl_ca_certs"] = str(settings.redis_ca_file)
        self.client = redis.asyncio.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, **secure)
        self.fallback = MemoryCounter()
        self.retry_after_s = retry_after_s
        self.down_until = 0.0

    @property
    def degraded(self) -> bool:
        return time.monotonic() < self.down_until

    async def hit(self, key: str, window: int, ttl_s: int) -> int:
        import redis

        if self.degraded:
            return await self.fallback.hit(key, window, ttl_s)
        name = f"cg:quota:{key}:{window}"
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, ttl_s)
                count, _ = await pipe.execute()
            return int(count)
        except (redis.RedisError, OSError) as e:
            # pragma: no mutate start (logging only)
            log.warning("quota store unavailable (%s); counting in this replica for %.0fs", e, self.retry_after_s)
            # pragma: no mutate end
            self.down_until = time.monotonic() + self.retry_after_s
            return await self.fallback.hit(key, window, ttl_s)

    async def aclose(self) -> None:
        await self.client.aclose()


@dataclass(frozen=True)
class Quota:
    name: str
    limit: int
    window_s: int


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        per_principal: Quota,
        writes_per_principal: Quota,
        per_address: Quota,
        counter: Counter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app, self.counter, self.clock = app, counter or MemoryCounter(), clock
        self.per_principal, self.writes, self.per_address = per_principal, writes_per_principal, per_address

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT):
            await self.app(scope, receive, send)
            return
        now = self.clock()
        checks: list[tuple[Quota, str]] = []
        client = scope.get("client")
        checks.append((self.per_address, f"addr:{client[0] if client else '-'}"))
        auth = next((v for k, v in scope["headers"] if k == b"authorization"), None)  # the verifier reads the first
        token = bearer_token(auth) if auth is not None else None
        if token is not None:
            who = "tok:" + quota_key(token)
            checks.append((self.per_principal, who))
            if scope["method"].encode() in WRITES:
                checks.append((self.writes, who))
        tightest: tuple[int, Quota, float] | None = None
        for quota, key in checks:
            window = int(now // quota.window_s)
            used = await self.counter.hit(f"{quota.name}:{key}", window, 2 * quota.window_s)
            remaining = quota.limit - used
            reset = (window + 1) * quota.window_s - now
            if used > quota.limit:
                problem = TooManyRequests(
                    f"more than {quota.limit} requests in {quota.window_s} s ({quota.name}); slow down",
                    retry_after=max(1, math.ceil(reset)),
                    quota=quota.name,
                )
                response = problem_response(problem)
                response.headers.update(self._headers(quota, 0, reset))
                await response(scope, receive, send)
                return
            if tightest is None or remaining < tightest[0]:
                tightest = (remaining, quota, reset)
        assert tightest is not None
        extra = self._headers(tightest[1], tightest[0], tightest[2])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    *((k.encode(), v.encode()) for k, v in extra.items()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _headers(quota: Quota, remaining: int, reset: float) -> dict[str, str]:
        return {
            "RateLimit-Policy": f'"{quota.name}";q={quota.limit};w={quota.window_s}',
            "RateLimit": f'"{quota.name}";r={max(remaining, 0)};t={max(1, math.ceil(reset))}',
        }


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"cross-origin-resource-policy", b"same-site"),
]
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")


class SecurityHeadersMiddleware:
    """Standard security headers on every response; a locked-down CSP on everything but the docs page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [*SECURITY_HEADERS, *([] if scope["path"].startswith("/docs") else [API_CSP])]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)
