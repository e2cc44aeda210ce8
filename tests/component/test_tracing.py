"""OpenTelemetry traces through the embedded stack (SQLite store and log), spans kept by the SDK's
in-memory exporter: one booking is one connected trace from the request to the consumer.

The oracle is the trace context the test sends itself (a hand-written ``traceparent``): every span of
the booking must carry its trace id, and following parent links from any of them must end at the span id
the test sent. The event in the log must carry the producer span's context (what crossed the bus)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.types import Receive, Scope, Send

from clustergrowth import telemetry
from clustergrowth.bus import EventBus
from clustergrowth.bus.kafka import KafkaBus
from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.envelope import CloudEvent, new_traceparent
from clustergrowth.settings import RuntimeSettings
from instance.app import create_app
from instance.registry import spec
from services.facilities.settings import FacilitiesSettings
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


def group_of(s: ReadableSpan) -> str:
    return str((s.attributes or {}).get("messaging.consumer.group.name", ""))


def parent_id(s: ReadableSpan) -> int | None:
    return s.parent.span_id if s.parent is not None else None


async def book(
    app: FastAPI, alice: dict[str, str], spans: InMemorySpanExporter, log: EventBus, topic: str
) -> tuple[list[ReadableSpan], CloudEvent]:
    """POST one booking with the client's traceparent; wait (a deadline, not a timing assertion) for the
    usage consumer's write in its trace; the spans of the trace and the DeskBooked event on the bus."""
    async for client in asgi_client(app):
        r = await client.post("/api/v1/facilities/bookings", json=slot(), headers=alice)
        assert r.status_code == 201, r.text
        booking = r.json()["id"]
        for _ in range(1200):  # up to 60 s for the relay and the consumer
            if any(s.name in ("insert usage", "replace usage") for s in in_trace(spans)):
                break
            await asyncio.sleep(0.05)
        try:
            (event,) = [
                e async for _, e in log.read([topic]) if e.data.get("booking_id") == booking and e.name == "DeskBooked"
            ]
        finally:
            await log.close()
    return in_trace(spans), event


def assert_one_connected_trace(trace: list[ReadableSpan], event: CloudEvent, topic: str, system: str) -> None:
    by_id = {s.context.span_id: s for s in trace if s.context is not None}
    # the server span continues the client's context
    (server,) = [s for s in trace if s.kind == SpanKind.SERVER]
    assert parent_id(server) == CLIENT_SPAN_ID and server.parent is not None and server.parent.is_remote
    assert server.name == "POST /api/v1/facilities/bookings"
    assert (server.attributes or {}).get("http.route") == "/api/v1/facilities/bookings"
    assert (server.attributes or {}).get("clustergrowth.service") == "facilities"
    server_id = server.context.span_id  # type: ignore[union-attr]
    # the booking's state and its event, written together under the request
    writes = [s for s in trace if s.kind == SpanKind.CLIENT and s.name.endswith(" schedules")]
    assert writes and all(parent_id(s) == server_id for s in writes)
    # the relay's producer span, child of the request, sent on with the event
    (send,) = [
        s for s in trace if s.kind == SpanKind.PRODUCER and (s.attributes or {}).get("messaging.message.id") == event.id
    ]
    assert send.name == f"send {topic}" and parent_id(send) == server_id
    assert send.attributes is not None and send.attributes["messaging.destination.name"] == topic
    assert send.attributes["messaging.system"] == system
    send_id = send.context.span_id  # type: ignore[union-attr]
    assert event.traceparent == f"00-{TRACE_ID:032x}-{send_id:016x}-01"  # what crossed the bus
    # the consumer continues the producer's span, and its projection write is inside it
    (process,) = [s for s in trace if s.kind == SpanKind.CONSUMER and group_of(s).endswith("facilities.usage")]
    assert process.name == f"process {topic}" and parent_id(process) == send_id
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


async def test_one_booking_is_one_connected_trace_from_request_to_consumer(
    settings: RuntimeSettings, token: TokenFactory, spans: InMemorySpanExporter
) -> None:
    """The embedded stack: the gateway hosting every service, the SQLite store and log."""
    alice = {"Authorization": token("alice", "student", region="IE05", org="MTU"), "traceparent": TRACEPARENT}
    log = SqliteBus(settings.data_dir / "events.sqlite")
    trace, event = await book(create_app(settings), alice, spans, log, "facilities.events")
    assert_one_connected_trace(trace, event, "facilities.events", "sqlite")


@pytest.mark.integration
async def test_the_trace_crosses_kafka_and_mongo(
    settings: RuntimeSettings, token: TokenFactory, spans: InMemorySpanExporter, mongo_url: str, kafka_bootstrap: str
) -> None:
    """The facilities service's own app on FerretDB and Kafka: the context crosses the broker in the record's
    traceparent header, and the PyMongo instrumentation's command spans sit under the store's write spans."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    real = settings.model_copy(
        update={
            "store": "mongo",
            "mongo_url": mongo_url,
            "mongo_write_locks": True,
            "bus": "kafka",
            "kafka_bootstrap": kafka_bootstrap,
            "topic_prefix": prefix,
        }
    )
    own = FacilitiesSettings(database=f"facilities_{uuid.uuid4().hex[:10]}")
    alice = {"Authorization": token("alice", "student", region="IE05", org="MTU"), "traceparent": TRACEPARENT}
    topic = f"{prefix}facilities.events"
    trace, event = await book(spec("facilities").app(real, own), alice, spans, KafkaBus(kafka_bootstrap), topic)
    assert_one_connected_trace(trace, event, topic, "kafka")
    writes = {s.context.span_id for s in trace if s.kind == SpanKind.CLIENT and s.name.endswith(" schedules")}  # type: ignore[union-attr]
    wire = [s for s in trace if (s.attributes or {}).get("db.system") == "mongodb" and parent_id(s) in writes]
    assert wire, "no PyMongo command span under the store's write"


async def test_tracing_off_adds_nothing(settings: RuntimeSettings) -> None:
    """Off (the default): no middleware, the store unwrapped, events with a fresh context each."""
    assert not telemetry.enabled()
    app = create_app(settings)
    assert "OpenTelemetryMiddleware" not in {m.cls.__name__ for m in app.user_middleware}  # type: ignore[attr-defined]
    components = app.state.components
    assert all(type(c.store).__name__ != "TracedStore" for c in components)
    a, b = (CloudEvent(type="t.v1", source="/s", data={}, region="IE05", partitionkey="k") for _ in range(2))
    assert a.traceparent != b.traceparent and len(a.traceparent) == len(new_traceparent()) == 55


async def test_wrap_asgi_opens_a_server_span_continuing_the_callers(spans: InMemorySpanExporter) -> None:
    """For a path that bypasses the app's middleware (the proxy's hot path): the span, named by the path."""

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    wrapped = telemetry.wrap_asgi(answer)
    assert wrapped is not answer
    transport = httpx.ASGITransport(app=wrapped)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        r = await client.get("/api/v1/facilities/sites", headers={"traceparent": TRACEPARENT})
    assert r.status_code == 204
    (server,) = in_trace(spans)
    assert server.kind == SpanKind.SERVER and parent_id(server) == CLIENT_SPAN_ID
    assert server.name == "GET /api/v1/facilities/sites"  # no route matched: the instrumentation's path name
    assert (server.attributes or {}).get("clustergrowth.service") == "facilities"
    telemetry.shutdown()
    assert telemetry.wrap_asgi(answer) is answer  # off: nothing in between
