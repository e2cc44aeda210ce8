"""OpenTelemetry traces: gateway → service → store write → outbox relay → bus → consumer, one trace.

Off unless an OTLP endpoint is configured (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, the SDK's own variables; ``OTEL_SDK_DISABLED=true`` keeps it
off). While off nothing is wrapped or added: no middleware, no store wrapper, no span on the relay or
consumer paths (each checks ``enabled()``, one global read), so the hot path costs what it did.

When on:
- HTTP: the maintained ASGI instrumentation (``OpenTelemetryMiddleware``) opens the server span,
  continuing an incoming W3C ``traceparent``; the span is renamed to the matched route when known.
- Store: writes through the document-store port are client spans (``insert``/``replace``/``delete``
  with the collection); on MongoDB the maintained PyMongo instrumentation adds the wire commands.
- Events: a CloudEvent made inside a span carries that span's context as its ``traceparent``
  (``clustergrowth.envelope``). The relay opens a producer span per event, child of that context,
  and sends the producer span's context on (the Kafka ``traceparent`` header / the log's field);
  each consumer opens a consumer span, child of the received context, around its handler. Messaging
  attributes follow the OpenTelemetry semantic conventions (``messaging.*``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from clustergrowth.store.port import DocumentStore

_PROPAGATOR = TraceContextTextMapPropagator()
_state: dict[str, Any] = {"provider": None, "switch": None, "tracer": None}
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def enabled() -> bool:
    """True once tracing is set up (by an OTLP endpoint, or a test's exporter)."""
    return _state["tracer"] is not None


def tracer() -> Tracer:
    t: Tracer | None = _state["tracer"]
    return t if t is not None else trace.NoOpTracer()


def _provider(service_name: str) -> tuple[TracerProvider, Any]:
    """The process's one SDK tracer provider (made on first use) and the switch its spans go through: the
    instrumentations keep the provider they were given for good (PyMongo's listener cannot be removed), so
    turning tracing off and on again (tests) swaps the switch's processor, never the provider."""
    if _state["provider"] is None:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import SpanProcessor
        from opentelemetry.sdk.trace import TracerProvider as SdkProvider

        class Switch(SpanProcessor):
            target: SpanProcessor | None = None

            def on_start(self, span: Any, parent_context: Context | None = None) -> None:
                if self.target is not None:
                    self.target.on_start(span, parent_context)

            def on_end(self, span: Any) -> None:
                if self.target is not None:
                    self.target.on_end(span)

            def force_flush(self, timeout_millis: int = 30000) -> bool:
                return self.target.force_flush(timeout_millis) if self.target is not None else True

        attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
        provider, switch = SdkProvider(resource=Resource.create(attributes)), Switch()
        provider.add_span_processor(switch)
        _state["provider"], _state["switch"] = provider, switch
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

    PymongoInstrumentor().instrument(tracer_provider=_state["provider"])  # Mongo clients made from now on
    return _state["provider"], _state["switch"]


def setup(exporter: SpanExporter | None = None, *, service_name: str = "clustergrowth") -> bool:
    """Turn tracing on for this process: with ``exporter`` (a test's in-memory one, spans exported as they
    end), else OTLP over HTTP when an endpoint is configured. True when tracing is on."""
    if enabled():
        return True
    if exporter is None:
        if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
            return False
        if not any(os.environ.get(v) for v in ENDPOINT_VARIABLES):
            return False
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider, switch = _provider(service_name)
    if exporter is not None:
        switch.target = SimpleSpanProcessor(exporter)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        switch.target = BatchSpanProcessor(OTLPSpanExporter())  # endpoint and headers from the environment
    _state["tracer"] = provider.get_tracer("clustergrowth")
    return True


def shutdown() -> None:
    """Flush and turn tracing off again (tests; a process's exit flushes by itself)."""
    if not enabled():
        return
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

    PymongoInstrumentor().uninstrument()
    switch = _state["switch"]
    target, switch.target = switch.target, None
    target.shutdown()
    _state["tracer"] = None


# --- W3C traceparent ------------------------------------------------------------------------------------------


def current_traceparent() -> str | None:
    """The current span's context as a W3C ``traceparent``, or None outside a (valid) span."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def context_of(traceparent: str | None) -> Context:
    """The remote parent a ``traceparent`` names (an empty context, a new trace, when it is malformed)."""
    return _PROPAGATOR.extract({"traceparent": traceparent} if traceparent else {})


def traceparent_of(span: Span) -> str:
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


@contextmanager
def span(
    name: str, *, parent: str | None = None, kind: SpanKind = SpanKind.INTERNAL, **attributes: Any
) -> Iterator[Span]:
    """A span, current inside the block, child of ``parent`` (a traceparent) or else of the current span;
    an exception marks it failed (and is recorded) before it propagates."""
    context = context_of(parent) if parent is not None else None
    with tracer().start_as_current_span(name, context=context, kind=kind, attributes=attributes) as s:
        yield s


def producer_span(topic: str, event_id: str, parent: str, system: str) -> Span:
    """A started (not current) producer span for one event sent to ``topic``; the caller ends it."""
    return tracer().start_span(
        f"send {topic}",
        context=context_of(parent),
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": system,
            "messaging.operation.type": "send",
            "messaging.operation.name": "send",
            "messaging.destination.name": topic,
            "messaging.message.id": event_id,
        },
    )


class Current:
    """A started span made current until ``close()`` (for code that cannot be re-indented under ``with``)."""

    def __init__(self, span: Span) -> None:
        self.span, self._token = span, otel_context.attach(trace.set_span_in_context(span))

    def failed(self, error: BaseException) -> None:
        self.span.record_exception(error)
        self.span.set_status(Status(StatusCode.ERROR, type(error).__name__))

    def close(self) -> None:
        otel_context.detach(self._token)
        self.span.end()


def system_of(bus: object) -> str:
    """``messaging.system`` of a bus adapter: ``kafka``, or the embedded log's ``sqlite``."""
    declared: str | None = getattr(bus, "messaging_system", None)
    return declared or ("sqlite" if "Sqlite" in type(bus).__name__ else type(bus).__name__.lower())


def consumer_span(topic: str, group: str, event: Any, system: str) -> Current:
    """The current consumer span around handling one event (a CloudEvent), child of its traceparent."""
    s = tracer().start_span(
        f"process {topic}",
        context=context_of(event.traceparent),
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": system,
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": topic,
            "messaging.consumer.group.name": group,
            "messaging.message.id": event.id,
            "cloudevents.event_type": event.type,
            "cloudevents.event_id": event.id,
        },
    )
    return Current(s)


def end_failed(spans: list[Span], error: BaseException) -> None:
    for s in spans:
        s.record_exception(error)
        s.set_status(Status(StatusCode.ERROR, type(error).__name__))
        s.end()


# --- HTTP -----------------------------------------------------------------------------------------------------


class _RouteName:
    """Inside the server span: when the response starts (the router has matched by then), name the span
    ``METHOD /route/{template}`` (the semantic conventions' low-cardinality name) and record
    ``http.route`` and the service (the span ends with the response, so not later)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        current = trace.get_current_span()

        async def naming_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")
                template = getattr(route, "path_format", None) or getattr(route, "path", None)
                parts = scope.get("path", "").split("/")
                if len(parts) > 3 and parts[1:3] == ["api", "v1"]:
                    current.set_attribute("clustergrowth.service", parts[3])
                    prefix = f"/api/v1/{parts[3]}"  # a service's router: its routes' paths are below it
                    if template and not template.startswith(prefix):
                        template = prefix + template
                if template:
                    current.update_name(f"{scope.get('method', 'HTTP')} {template}")
                    current.set_attribute("http.route", template)
            await send(message)

        await self.app(scope, receive, naming_send)


def instrument_app(app: Any) -> None:
    """Add the ASGI instrumentation as the app's outermost middleware (when tracing is on)."""
    if not enabled():
        return
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    app.add_middleware(_RouteName)
    app.add_middleware(OpenTelemetryMiddleware, tracer_provider=_state["provider"], exclude_spans=["receive", "send"])


def wrap_asgi(app: ASGIApp) -> ASGIApp:
    """``app`` inside a server span (for an ASGI path that bypasses the app's middleware, such as a proxy's
    hot path); ``app`` itself when tracing is off."""
    if not enabled():
        return app
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    wrapped: ASGIApp = OpenTelemetryMiddleware(
        _RouteName(app), tracer_provider=_state["provider"], exclude_spans=["receive", "send"]
    )
    return wrapped


# --- store ----------------------------------------------------------------------------------------------------


class TracedStore:
    """The document-store port with a client span around each write (``insert``, ``replace`` and its outbox
    forms, ``delete``), named ``<operation> <collection>``; reads and everything else pass straight through."""

    def __init__(self, inner: DocumentStore, system: str) -> None:
        self.inner, self.system = inner, system

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @contextmanager
    def _write(self, operation: str, collection: str) -> Iterator[Span]:
        attributes = {
            "db.system.name": self.system,
            "db.operation.name": operation,
            "db.collection.name": collection,
        }
        with tracer().start_as_current_span(
            f"{operation} {collection}", kind=SpanKind.CLIENT, attributes=attributes
        ) as s:
            yield s

    async def insert(self, collection: str, doc: dict[str, Any]) -> None:
        with self._write("insert", collection):
            await self.inner.insert(collection, doc)

    async def replace(self, collection: str, doc: dict[str, Any], expected_version: int) -> bool:
        with self._write("replace", collection) as s:
            done = await self.inner.replace(collection, doc, expected_version)
            s.set_attribute("clustergrowth.replaced", done)
            return done

    async def replace_with_outbox(
        self, collection: str, doc: dict[str, Any], events: list[dict[str, Any]], expected_version: int
    ) -> bool:
        with self._write("replace", collection) as s:
            done = await self.inner.replace_with_outbox(collection, doc, events, expected_version)
            s.set_attribute("clustergrowth.replaced", done)
            return done

    async def drop_outbox(self, collection: str, id: str, event_ids: set[str]) -> None:
        with self._write("update", collection):
            await self.inner.drop_outbox(collection, id, event_ids)

    async def delete(self, collection: str, id: str) -> bool:
        with self._write("delete", collection):
            return await self.inner.delete(collection, id)


def traced_store(store: DocumentStore) -> DocumentStore:
    """``store`` with write spans when tracing is on; the store itself (nothing added) when off."""
    if not enabled():
        return store
    name = type(store).__name__
    system = "mongodb" if name == "MongoStore" else "sqlite" if name == "SqliteStore" else name.lower()
    return TracedStore(store, system)  # type: ignore[return-value]
