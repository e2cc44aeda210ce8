"""Prometheus metrics: RED per route template, outbox health, consumer progress."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
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
WRITE_CONFLICTS = Counter(
    "aggregate_write_conflicts_total",
    "Guarded writes of an aggregate that another writer got in before (read and decided again)",
    ["collection"],
)
CONSUMER_HANDLED = Counter("consumer_events_total", "Events seen by a consumer group, by outcome", ["group", "outcome"])
CONSUMER_LAG = Gauge("consumer_lag_seconds", "Age of the newest event a consumer group has handled", ["group"])
UPSTREAM_CONNECTIONS = Counter(
    "gateway_upstream_connections_total", "Connections opened to each service (keep-alive reuses them)", ["service"]
)
UPSTREAM_CIRCUIT_OPEN = Gauge(
    "gateway_upstream_circuit_open", "1 while a service's circuit is open (requests answered 503 at once)", ["service"]
)


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
