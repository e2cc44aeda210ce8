"""HTTP edge shared by services and the gateway: request ids, RED metrics, problem+json, health."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from clustergrowth import logs
from clustergrowth.errors import install_problem_handlers
from clustergrowth.metrics import metrics_response, red_middleware

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class ServiceComponent(Protocol):
    """What the gateway (embedded) or a service's own app needs from a service."""

    name: str
    router: APIRouter

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def check_ready(self) -> dict[str, str]:
        """Names each dependency (store, bus) and 'ok' or the error; raises nothing."""


async def request_id_middleware(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Accept a sane X-Request-ID or make one; echo it and put it in every log line."""
    incoming = request.headers.get("x-request-id", "")
    rid = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    token = logs.request_id.set(rid)
    try:
        response = await call_next(request)
    finally:
        logs.request_id.reset(token)
    response.headers["X-Request-ID"] = rid
    return response


def install_edge(app: FastAPI, components: list[ServiceComponent]) -> None:
    """Middleware, problem handlers, and the contract endpoints /healthz /readyz /metrics."""
    app.middleware("http")(red_middleware)
    app.middleware("http")(request_id_middleware)
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
