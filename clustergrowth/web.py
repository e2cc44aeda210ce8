"""HTTP edge shared by services and the gateway: request ids, RED metrics, problem+json, health."""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clustergrowth import logs, telemetry
from clustergrowth.auth import Authenticator
from clustergrowth.bodylimit import BodyLimitMiddleware
from clustergrowth.errors import install_problem_handlers
from clustergrowth.metrics import HTTP_DURATION, HTTP_REQUESTS, metrics_response
from clustergrowth.routing import index_routes
from clustergrowth.settings import RuntimeSettings
from clustergrowth.strictjson import StrictJsonMiddleware

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
# FastAPI's own OpenTelemetry instrumentation (0.165+), off: tracing here is ours (``telemetry``, a
# private provider, never the global one FastAPI would look for), so it never records anything, yet
# with its defaults it asks OpenTelemetry for the global providers on every request (about 11 us).
FASTAPI_TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
_ids = random.Random()  # seeded from the system's randomness when the process imports this
os.register_at_fork(after_in_child=_ids.seed)  # and again in a forked child, so that two never share ids
_CHILDREN_MAX = 4096  # (method, route, status) label sets whose metric children are kept at hand


class ServiceComponent(Protocol):
    """What the gateway (embedded) or a service's own app needs from a service."""

    name: str
    router: APIRouter

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def check_ready(self) -> dict[str, str]:
        """Names each dependency (store, bus) and 'ok' or the error; raises nothing."""

    def mount(self, app: FastAPI) -> None:
        """Put the service's routes (and what they depend on) on an app."""


class EdgeMiddleware:
    """Plain ASGI middleware: request id (accepted or made, echoed, logged) and RED metrics per route.

    Plain ASGI rather than ``@app.middleware``: no extra task and stream per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for k, v in scope["headers"]:
            if k == b"x-request-id":
                incoming = v.decode("latin-1")
                break
        # a made id: 32 hex digits of randomness, as uuid4().hex was, but from a generator seeded once per
        # process: os.urandom (inside uuid4 too) is a system call that lets go of the GIL, and under load the
        # event loop then waits for a busy thread (the store's) to hand it back (py-spy put 5-19 % of the API
        # process's samples there). A request id correlates logs; it is not a secret
        rid = incoming if incoming and _REQUEST_ID.match(incoming) else f"{_ids.getrandbits(128):032x}"
        token = logs.request_id.set(rid)
        path = scope.get("path", "")
        parts = path.split("/", 4)
        api = len(parts) > 3 and parts[1] == "api" and parts[2] == "v1"
        service_token = logs.service.set(parts[3] if api else None)
        start = time.perf_counter()
        status = 500
        rid_header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logs.request_id.reset(token)
            logs.service.reset(service_token)
            template = route_template(path, scope.get("route"))
            counter, duration = _children(scope.get("method", ""), template, status)
            counter.inc()
            duration.observe(time.perf_counter() - start)


_counters: dict[tuple[str, str, int], Any] = {}
_durations: dict[tuple[str, str], Any] = {}


def _children(method: str, template: str, status: int) -> tuple[Any, Any]:
    """The request counter's and the duration histogram's children for these labels, looked up in
    prometheus_client once (its ``labels()`` takes a lock and builds the key each time) and kept, at
    most ``_CHILDREN_MAX`` of each: the label sets are bounded anyway (routes, the parser's methods,
    statuses), the cap only keeps a surprise from growing this."""
    counter = _counters.get((method, template, status))
    if counter is None:
        counter = HTTP_REQUESTS.labels(method, template, str(status))
        if len(_counters) < _CHILDREN_MAX:
            _counters[(method, template, status)] = counter
    duration = _durations.get((method, template))
    if duration is None:
        duration = HTTP_DURATION.labels(method, template)
        if len(_durations) < _CHILDREN_MAX:
            _durations[(method, template)] = duration
    return counter, duration


def route_template(path: str, route: Any) -> str:
    """The route template a request is counted under: the matched route's path, with the literal
    prefixes of the routers it was included under (since FastAPI 0.165 an included route keeps its own
    path, "/sites/{site_id}", so two services' "/{id}" routes would share one label). The prefixes are
    the request path's leading segments: a route matched, so they are literal. A ``{x:path}`` route
    spans a variable number of segments and is counted under its own path."""
    fmt = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(fmt, str):
        return "unmatched"
    if ":path}" in fmt:
        return fmt
    static = "{" not in fmt  # a route without parameters matches a few spellings of one path: kept
    if static and (kept := _templates.get((path, fmt))) is not None:
        return kept
    segments = [s for s in path.split("/") if s]
    own = len([s for s in fmt.split("/") if s])
    prefix = segments[: max(len(segments) - own, 0)]
    template = "".join(f"/{s}" for s in prefix) + fmt
    if static and len(_templates) < _CHILDREN_MAX:
        _templates[(path, fmt)] = template
    return template


_templates: dict[tuple[str, str], str] = {}  # (request path, route path) of routes without parameters


DEFAULT_MAX_BODY_BYTES: int = RuntimeSettings.model_fields["http_max_body_bytes"].default


def install_edge(app: FastAPI, components: list[ServiceComponent], *, max_body_bytes: int | None = None) -> None:
    """Middleware, problem handlers, and the contract endpoints /healthz /readyz /metrics.

    Request bodies over ``max_body_bytes`` (default: ``CG_HTTP_MAX_BODY_BYTES``'s default) are answered
    413, unless the app already has a body limit of its own, installed before (the gateway's, with
    ``CG_GATEWAY_MAX_BODY_BYTES``): one limit per app."""
    app.add_middleware(EdgeMiddleware)
    if app.middleware_stack is not None:
        raise RuntimeError("install_edge must run before the app starts")
    # FastAPI(telemetry=FASTAPI_TELEMETRY_OFF) says so where an app is made (standalone_app); for apps made
    # elsewhere the same settings go into the dict FastAPI reads them from on each request
    native = getattr(app, "_telemetry", None)
    if isinstance(native, dict):
        native.update(FASTAPI_TELEMETRY_OFF)
    telemetry.setup()  # on when an OTLP endpoint is configured
    telemetry.instrument_app(app)  # the server span, outermost (when tracing is on)
    # inside the edge middleware and the quotas installed before (a refused body still gets a request
    # id and metrics), outside every body reader: nothing reads more than the limit
    if not any(m.cls is BodyLimitMiddleware for m in app.user_middleware):
        limit = DEFAULT_MAX_BODY_BYTES if max_body_bytes is None else max_body_bytes
        app.user_middleware.append(Middleware(BodyLimitMiddleware, max_bytes=limit))
    # strict JSON bodies (422 for NaN, Infinity, 1e999, nesting deeper than 32), innermost: inside the
    # body-size limit and quotas, so what it reads is already bounded and allowed
    app.user_middleware.append(Middleware(StrictJsonMiddleware))
    install_problem_handlers(app)

    @app.get("/healthz", tags=["ops"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="Readiness: store and bus answer for every service")
    async def readyz() -> JSONResponse:
        checks: dict[str, dict[str, str]] = {}
        for c in components:
            checks[c.name] = await c.check_ready()
        ok = all(v == "ok" for checks_ in checks.values() for v in checks_.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return metrics_response()


def standalone_app(settings: RuntimeSettings, service: ServiceComponent, title: str) -> FastAPI:
    """One service in its own process (distributed mode): its routes, ops endpoints and lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.authenticator = Authenticator(settings)
        await service.start()
        try:
            yield
        finally:
            await service.stop()
            await app.state.authenticator.aclose()

    app = FastAPI(title=title, version="1", lifespan=lifespan, telemetry=FASTAPI_TELEMETRY_OFF)
    install_edge(app, [service], max_body_bytes=settings.http_max_body_bytes)
    service.mount(app)
    return index_routes(app)  # a request tries the routes its path can match, not every one in turn
