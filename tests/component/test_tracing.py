"""OpenTelemetry traces through the embedded stack (SQLite store and log), spans kept by the SDK's
in-memory exporter: one booking is one connected trace from the request to the consumer.

The oracle is the trace context the test sends itself (a hand-written ``traceparent``): every span of
the booking must carry its trace id, and following parent links from any of them must end at the span id
the test sent. The event in the log must carry the producer span's context (what crossed the bus)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from clustergrowth import telemetry
from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.envelope import CloudEvent, new_traceparent
from clustergrowth.settings import RuntimeSettings
from instance.app import create_app
from tests.conftest import TokenFactory, asgi_client

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C  # the W3C specification's example ids, sent by the "client"
CLIENT_SPAN_ID = 0xB7AD6B7169203331
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    assert not telemetry.enabled()  # off unless set up: nothing else in the tests turns it on
    exporter = InMemorySpanExporter()
    assert telemetry.setup(exporter)
    yield exporter
    telemetry.shutdown()
    assert not telemetry.enabled()


def slot(days_ahead: int = 4) -> dict[str, str]:
    d = datetime.now(UTC).date() + timedelta(days=days_ahead)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    start = datetime(d.year, d.month, d.day, 10, tzinfo=UTC)
    return {
        "resource_id": "ork-rubicon-desk-2",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
    }


def in_trace(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.context is not None and s.context.trace_id == TRACE_ID]


def parent_id(s: ReadableSpan) -> int | None:
    return s.parent.span_id if s.parent is not None else None


async def test_one_booking_is_one_connected_trace_from_request_to_consumer(
    settings: RuntimeSettings, token: TokenFactory, spans: InMemorySpanExporter
) -> None:
    alice = {"Authorization": token("alice", "student", region="IE05", org="MTU"), "traceparent": TRACEPARENT}
    async for client in asgi_client(create_app(settings)):
        r = await client.post("/api/v1/facilities/bookings", json=slot(), headers=alice)
        assert r.status_code == 201, r.text
        booking = r.json()["id"]

        def consumed() -> list[ReadableSpan]:
            return [
                s
                for s in in_trace(spans)
                if s.kind == SpanKind.CONSUMER
                and (s.attributes or {}).get("messaging.consumer.group.name") == "facilities.usage"
            ]

        for _ in range(600):  # a deadline (30 s) for the relay and the consumer, not a timing assertion
            if consumed() and any(s.name == "replace usage" or s.name == "insert usage" for s in in_trace(spans)):
                break
            await asyncio.sleep(0.05)
        log = SqliteBus(settings.data_dir / "events.sqlite")
        try:
            booked = [e async for _, e in log.read(["facilities.events"]) if e.data.get("booking_id") == booking]
        finally:
            await log.close()

    trace = in_trace(spans)
    by_id = {s.context.span_id: s for s in trace if s.context is not None}
    # the server span continues the client's context
    (server,) = [s for s in trace if s.kind == SpanKind.SERVER]
    assert parent_id(server) == CLIENT_SPAN_ID and server.parent is not None and server.parent.is_remote
    assert server.name == "POST /api/v1/facilities/bookings"
    assert (server.attributes or {}).get("http.route") == "/api/v1/facilities/bookings"
    assert (server.attributes or {}).get("clustergrowth.service") == "facilities"
    # the booking's state and its event, written together under the request
    writes = [s for s in trace if s.kind == SpanKind.CLIENT and s.name.endswith(" schedules")]
    assert writes and all(parent_id(s) == server.context.span_id for s in writes)  # type: ignore[union-attr]
    # the relay's producer span, child of the request, sent on with the event
    (event,) = [e for e in booked if e.name == "DeskBooked"]
    (send,) = [
        s for s in trace if s.kind == SpanKind.PRODUCER and (s.attributes or {}).get("messaging.message.id") == event.id
    ]
    assert send.name == "send facilities.events" and parent_id(send) == server.context.span_id  # type: ignore[union-attr]
    assert send.attributes is not None and send.attributes["messaging.destination.name"] == "facilities.events"
    assert event.traceparent == f"00-{TRACE_ID:032x}-{send.context.span_id:016x}-01"  # type: ignore[union-attr]
    # the consumer continues the producer's span, and its projection write is inside it
    (process,) = consumed()
    assert process.name == "process facilities.events" and parent_id(process) == send.context.span_id  # type: ignore[union-attr]
    assert (process.attributes or {}).get("messaging.message.id") == event.id
    usage = [s for s in trace if s.name in ("insert usage", "replace usage")]
    assert usage and all(parent_id(s) == process.context.span_id for s in usage)  # type: ignore[union-attr]
    # one connected trace: from every span, parent links lead to the client's span, through spans of it
    for s in trace:
        hops, at = 0, s
        while parent_id(at) in by_id:
            at, hops = by_id[parent_id(at)], hops + 1  # type: ignore[index]
            assert hops < len(trace)
        assert parent_id(at) == CLIENT_SPAN_ID, f"{s.name} does not lead to the request"


async def test_tracing_off_adds_nothing(settings: RuntimeSettings) -> None:
    """Off (the default): no middleware, the store unwrapped, events with a fresh context each."""
    assert not telemetry.enabled()
    app = create_app(settings)
    assert "OpenTelemetryMiddleware" not in {m.cls.__name__ for m in app.user_middleware}  # type: ignore[attr-defined]
    components = app.state.components
    assert all(type(c.store).__name__ != "TracedStore" for c in components)
    a, b = (CloudEvent(type="t.v1", source="/s", data={}, region="IE05", partitionkey="k") for _ in range(2))
    assert a.traceparent != b.traceparent and len(a.traceparent) == len(new_traceparent()) == 55
