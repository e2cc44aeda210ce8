"""Forwarding to the services in the distributed mode: pooled keep-alive connections, streamed
responses, a timeout per service, one retry for idempotent methods that never reached the service,
and a circuit breaker per service so that a dead service costs its callers nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import httpx
from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from clustergrowth import logs
from clustergrowth.problems import GatewayTimeout, NotFound, ServiceUnavailable

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "proxy-authorization",
    "proxy-authenticate",
    "content-length",
}
IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}


class Breaker:
    """Closed → open after ``failures`` failures in a row → after ``cooldown_s`` one trial (half open)."""

    def __init__(self, failures: int = 3, cooldown_s: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.threshold, self.cooldown_s, self.clock = failures, cooldown_s, clock
        self.failures = 0
        self.opened_at: float | None = None
        self.trial = False

    def wait(self) -> float | None:
        """None if a request may go through now, else seconds until the next trial."""
        if self.opened_at is None:
            return None
        left = self.opened_at + self.cooldown_s - self.clock()
        if left > 0 or self.trial:
            return max(left, 0.5)
        self.trial = True  # half open: this request is the trial
        return None

    def success(self) -> None:
        self.failures, self.opened_at, self.trial = 0, None, False

    def failure(self) -> None:
        self.failures += 1
        if self.trial or self.failures >= self.threshold:
            self.opened_at, self.trial = self.clock(), False

    @property
    def state(self) -> str:
        return "closed" if self.opened_at is None else ("half-open" if self.trial else "open")


class Upstreams:
    """Where each service lives, with its timeout and breaker, over one pooled client."""

    def __init__(
        self,
        urls: dict[str, str],
        http: httpx.AsyncClient,
        *,
        timeouts: dict[str, float],
        default_timeout_s: float,
        connect_timeout_s: float,
        failures: int,
        cooldown_s: float,
    ) -> None:
        self.urls, self.http = urls, http
        self.timeouts = {s: httpx.Timeout(timeouts.get(s, default_timeout_s), connect=connect_timeout_s) for s in urls}
        self.breakers = {s: Breaker(failures, cooldown_s) for s in urls}

    async def forward(self, service: str, path: str, request: Request) -> Response:
        base = self.urls.get(service)
        if base is None:
            raise NotFound(f"no service {service!r} behind this gateway")
        breaker = self.breakers[service]
        if (wait := breaker.wait()) is not None:
            raise ServiceUnavailable(
                f"the {service} service is failing; the gateway stops sending it requests for a moment",
                retry_after=math.ceil(wait),
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["x-request-id"] = logs.request_id.get() or ""
        body = await request.body()
        attempts = 2 if request.method in IDEMPOTENT else 1
        for attempt in range(attempts):
            upstream_request = self.http.build_request(
                request.method,
                f"{base}/api/v1/{service}/{path}",
                params=request.query_params,
                content=body,
                headers=headers,
                timeout=self.timeouts[service],
            )
            try:
                upstream = await self.http.send(upstream_request, stream=True)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout) as e:  # it never reached the service
                if attempt + 1 < attempts:
                    continue
                breaker.failure()
                raise ServiceUnavailable(
                    f"the {service} service is not answering: {type(e).__name__}", retry_after=1
                ) from e
            except httpx.TimeoutException as e:
                breaker.failure()
                raise GatewayTimeout(f"the {service} service did not answer in time") from e
            except httpx.TransportError as e:
                breaker.failure()
                raise ServiceUnavailable(f"the {service} service failed: {type(e).__name__}") from e
        if upstream.status_code >= 500:
            breaker.failure()
        else:
            breaker.success()
        out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP | {"x-request-id"}}
        return StreamingResponse(
            upstream.aiter_raw(),
            status_code=upstream.status_code,
            headers=out,
            background=BackgroundTask(upstream.aclose),
        )
