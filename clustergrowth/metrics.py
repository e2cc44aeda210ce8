"""Prometheus metrics: RED per route template, outbox health, consumer progress."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests by route template and status", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request duration by route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
OUTBOX_PENDING = Gauge("outbox_pending", "Events written but not yet published", ["service"])
OUTBOX_OLDEST_AGE = Gauge("outbox_oldest_age_seconds", "Age of the oldest unpublished event", ["service"])
OUTBOX_PUBLISHED = Counter("outbox_published_total", "Events published by the relay", ["service"])
CONSUMER_HANDLED = Counter(
    "consumer_events_total", "Events seen by a consumer group, by outcome", ["group", "outcome"]
)
CONSUMER_LAG = Gauge(
    "consumer_lag_seconds", "Age of the newest event a consumer group has handled", ["group"]
)


async def red_middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Count and time every request under its route template, not its raw path."""
    start = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        route = request.scope.get("route")
        template = getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched"
        HTTP_REQUESTS.labels(request.method, template, str(status)).inc()
        HTTP_DURATION.labels(request.method, template).observe(time.perf_counter() - start)


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
