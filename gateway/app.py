"""The gateway: in embedded mode it hosts service components in-process; in the distributed mode it
describes the services behind the compiled front.

Embedded (``CG_GATEWAY_MODE=embedded``, the default): one process, the services' routers mounted
under ``/api/v1/<service>``, their relays and consumers running in the same event loop.
Distributed (``CG_GATEWAY_MODE=proxy``): the compiled front (``gateway/edge``, ``clustergrowth run
edge``) answers ``/api/v1/<service>/…`` and passes every other path here: the services' merged API
description and the docs page. This app answers ``/api/v1/…`` with a 404 naming the front. It knows
no service by name: the composition layer (``instance``) hands it the components or the URLs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import httpx
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from clustergrowth import logs
from clustergrowth.auth import Authenticator
from clustergrowth.problems import NotFound
from clustergrowth.routing import index_routes
from clustergrowth.settings import RuntimeSettings
from clustergrowth.web import ServiceComponent, install_edge
from gateway.asyncapi import install_asyncapi
from gateway.describe import finish, merge
from gateway.docs import install_docs
from gateway.limits import (
    BodyLimitMiddleware,
    Counter,
    MemoryCounter,
    Quota,
    RateLimitMiddleware,
    RedisCounter,
    SecurityHeadersMiddleware,
)

log = logging.getLogger("gateway")


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_ORIGIN = re.compile(rf"(?:https://{_LABEL}(?:\.{_LABEL})*|http://(?:localhost|127\.0\.0\.1))(?::([0-9]{{1,5}}))?")


def valid_origin(origin: str) -> bool:
    """A web origin as a browser sends it, exactly: ``https://`` and a host name (DNS labels, lower case), or
    ``http://localhost`` / ``http://127.0.0.1`` for development; an optional port 1-65535; nothing else (no
    path, no wildcard, no ``http://localhost.evil.example``). The compiled front applies the same rule
    (gateway/edge/src/config.rs ``valid_origin``)."""
    m = _ORIGIN.fullmatch(origin)
    if m is None or len(origin) > 262:
        return False
    return m.group(1) is None or 1 <= int(m.group(1)) <= 65535


class GatewaySettings(BaseSettings):
    """Gateway settings (env prefix ``CG_GATEWAY_``)."""

    model_config = SettingsConfigDict(env_prefix="CG_GATEWAY_", extra="ignore")

    mode: Literal["embedded", "proxy"] = "embedded"
    urls: dict[str, str] = Field(
        default_factory=dict,
        description="proxy mode: each service's URL by name (else CG_GATEWAY_<SERVICE>_URL, else its port here)",
    )
    timeout_s: float = Field(10.0, gt=0, description="default upstream timeout")
    timeouts: dict[str, float] = Field(default_factory=dict, description='per service, e.g. {"matching": 30}')
    connect_timeout_s: float = Field(0.5, gt=0, description="a service that does not accept in this time is down")
    breaker_failures: int = Field(3, ge=1, description="failures in a row that open a service's circuit")
    breaker_cooldown_s: float = Field(5.0, gt=0, description="how long an open circuit answers 503 at once")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="larger request bodies get 413")
    cors_origins: list[str] = Field(
        default_factory=list, description="web-client origins allowed to call with credentials (never '*')"
    )
    rate_limits: bool = Field(True, description="enforce the request quotas below")

    @field_validator("cors_origins")
    @classmethod
    def _explicit_origins(cls, v: list[str]) -> list[str]:
        for origin in v:
            if not valid_origin(origin):
                raise ValueError(
                    f"{origin!r}: list each web client's origin as https://host[:port] (or http://localhost or "
                    "http://127.0.0.1 with an optional port), lower case, no path, no wildcard; '*' is never allowed"
                )
        return v

    rate_window_s: int = Field(60, ge=1, description="quota window")
    rate_per_principal: int = Field(600, ge=1, description="requests per window per bearer token")
    rate_writes_per_principal: int = Field(120, ge=1, description="writes per window per bearer token")
    rate_per_address: int = Field(1200, ge=1, description="requests per window per client address")
    rate_store_url: str | None = Field(
        None, description="redis://… to share quotas across gateway replicas (else counted in each replica)"
    )
    describe_url: str | None = Field(
        None,
        pattern=r"^http://[^/\s]+(/\S*)?$",
        description="for the compiled front: the Python gateway (http://host:port) serving all but /api/v1/…",
    )


def edge_layers(gw: GatewaySettings, counter: Counter | None = None) -> list[tuple[Any, dict[str, Any]]]:
    """Body limit, quotas, CORS and security headers, innermost first."""
    layers: list[tuple[Any, dict[str, Any]]] = [(BodyLimitMiddleware, {"max_bytes": gw.max_body_bytes})]
    if gw.rate_limits:
        w = gw.rate_window_s
        quotas: dict[str, Any] = {
            "counter": counter,
            "per_principal": Quota("principal", gw.rate_per_principal, w),
            "writes_per_principal": Quota("principal-writes", gw.rate_writes_per_principal, w),
            "per_address": Quota("address", gw.rate_per_address, w),
        }
        layers.append((RateLimitMiddleware, quotas))
    if gw.cors_origins:
        cors = {
            "allow_origins": gw.cors_origins,
            "allow_credentials": True,
            "allow_methods": ["GET", "POST", "PUT", "PATCH", "DELETE"],
            "allow_headers": ["Authorization", "Content-Type", "If-Match", "X-Request-ID", "traceparent"],
            "expose_headers": ["ETag", "Link", "Retry-After", "RateLimit", "RateLimit-Policy", "X-Request-ID"],
        }
        layers.append((CORSMiddleware, cors))
    layers.append((SecurityHeadersMiddleware, {}))
    return layers


def quota_counter(gw: GatewaySettings) -> Counter:
    return RedisCounter(gw.rate_store_url) if gw.rate_store_url else MemoryCounter()


def install_limits(app: FastAPI, gw: GatewaySettings, counter: Counter | None = None) -> None:
    """The edge layers inside the edge middleware (so refused requests still get a request id and
    metrics); the last added runs first. One counter store serves every path of the app."""
    for cls, kwargs in edge_layers(gw, counter):
        app.add_middleware(cls, **kwargs)


def embedded_app(settings: RuntimeSettings, gw: GatewaySettings, components: list[ServiceComponent]) -> FastAPI:
    """The regional front door hosting ``components`` in this process (embedded mode)."""
    counter = quota_counter(gw)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logs.service.set("gateway")
        app.state.authenticator = Authenticator(settings)
        for c in components:
            await c.start()
        try:
            yield
        finally:
            for c in reversed(components):
                await c.stop()
            await app.state.authenticator.aclose()
            if isinstance(counter, RedisCounter):
                await counter.aclose()

    app = FastAPI(title="SME Cluster Growth — regional API", version="1", lifespan=lifespan)
    install_limits(app, gw, counter)
    install_edge(app, components)
    install_docs(app)
    install_asyncapi(app, settings)
    for c in components:
        c.mount(app)
    index_routes(app)  # one index over every service's routes: a request tries those its path can match
    app.state.components = components
    described = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish(described())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def proxy_app(settings: RuntimeSettings, gw: GatewaySettings, urls: dict[str, str]) -> FastAPI:
    """The distributed mode's Python gateway: the merged API description and the docs page, behind the
    compiled front, which answers ``/api/v1/<service>/…`` itself (a request for it here gets 404)."""
    counter = quota_counter(gw)

    @asynccontextmanager
    async def proxy_lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.http = httpx.AsyncClient()  # for the API descriptions
        try:
            yield
        finally:
            await app.state.http.aclose()
            if isinstance(counter, RedisCounter):
                await counter.aclose()

    app = FastAPI(
        title="SME Cluster Growth — regional API", version="1", lifespan=proxy_lifespan, openapi_url=None, docs_url=None
    )
    install_limits(app, gw, counter)
    install_edge(app, [])

    @app.get("/openapi.json", include_in_schema=False)
    async def merged_openapi(request: Request) -> JSONResponse:
        """Every service's description, fetched and merged; a service that is down is listed as missing."""
        parts, missing = {}, []
        for service, base in urls.items():
            try:
                r = await request.app.state.http.get(f"{base}/openapi.json", timeout=2.0)
                r.raise_for_status()
                parts[service] = r.json()
            except (httpx.HTTPError, ValueError):
                missing.append(service)
        spec = merge("SME Cluster Growth — regional API", parts)
        if missing:
            spec["info"]["x-missing-services"] = missing
        return JSONResponse(spec)

    @app.api_route(
        "/api/v1/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
    )
    async def not_here(rest: str) -> Response:
        raise NotFound(
            "the compiled front (clustergrowth run edge) answers /api/v1 in the distributed mode; "
            "this gateway serves the API description and the docs"
        )

    install_docs(app)
    install_asyncapi(app, settings)  # the event streams' description: served by every gateway

    return app
