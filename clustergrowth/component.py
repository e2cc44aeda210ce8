"""What every service component shares: its store and bus, an outbox relay, supervised consumers,
a bounded stop, and a readiness report. A service subclasses it and adds its domain."""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI

from clustergrowth import logs, telemetry
from clustergrowth.bus import EventBus, dlq_topic, open_bus
from clustergrowth.envelope import CloudEvent
from clustergrowth.inbox import FederatedHandler, run_consumer, run_federated_consumer, supervise
from clustergrowth.migrations import Identities, Migration
from clustergrowth.migrations import run as run_migrations
from clustergrowth.outbox import OutboxRelay
from clustergrowth.settings import RuntimeSettings, ServiceSettings
from clustergrowth.store import DocumentStore, open_store
from clustergrowth.web import standalone_app

log = logging.getLogger("clustergrowth.component")


class ServiceComponent:
    """Base of a service, which declares itself in its class: ``name`` (its API is ``/api/v1/<name>``),
    ``router``, ``settings_class`` (its own ``CG_<NAME>_`` settings), ``events_topic`` (the logical topic
    it publishes on), the collections that carry outboxes, its data migrations; in ``__init__`` its
    handler ``context``, consumers (``subscribe``) and background loops (``every``); in ``prepare`` its
    indexes and demo data."""

    name: str
    router: APIRouter
    settings_class: type[ServiceSettings]
    events_topic: str
    outbox_collections: Sequence[str] = ()
    migrations: Sequence[Migration] = ()  # the service's data migrations, run once each before it starts
    context: Any  # what its routes get (``request.app.state.<name>``)

    def __init__(
        self,
        settings: RuntimeSettings,
        own: ServiceSettings | None = None,
        *,
        store: DocumentStore | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self.settings = settings
        self.own = own or self.settings_class()
        telemetry.setup()  # on when an OTLP endpoint is configured; before the store's client is made
        self.store = telemetry.traced_store(store or open_store(settings, self.own.database))
        self.bus = bus or open_bus(settings, client_id=f"{self.name}-{settings.region}")
        self.topic = settings.topic(self.events_topic)
        self.relay = OutboxRelay(
            self.name,
            self.store,
            self.bus,
            {c: self.topic for c in self.outbox_collections},
            interval_s=settings.relay_interval_s,
        )
        self.run_relay = self.own.run_relay
        self.run_consumers = self.own.run_consumers
        self._consumers: list[tuple[str, list[str], Callable[[CloudEvent], Awaitable[None]]]] = []
        self._federated: list[tuple[str, list[str], FederatedHandler]] = []
        self._loops: list[tuple[str, float, Callable[[], Awaitable[object]]]] = []
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def prefix(self) -> str:
        return f"/api/v1/{self.name}"

    @classmethod
    def roles(cls) -> set[str]:
        """The roles its routes admit (read from each route's rule, not declared again)."""
        out: set[str] = set()
        for route in cls.router.routes:
            out |= set((getattr(route, "openapi_extra", None) or {}).get("x-roles", []))
        return out

    def subscribe(self, group: str, topics: list[str], handler: Callable[[CloudEvent], Awaitable[None]]) -> None:
        """Register a consumer (started with the service); topics are logical names."""
        self._consumers.append((self.settings.topic_prefix + group, [self.settings.topic(t) for t in topics], handler))

    def subscribe_federated(self, group: str, topics: list[str], handler: FederatedHandler) -> None:
        """Register a federated consumer: this region's ``topics`` (logical names) and every partner
        region's replica of them (``<alias>.<topic>``, by pattern, also those created later). The handler
        gets ``(event, origin)``: ``origin.local`` or ``origin.partner`` (the partner's region code);
        a replicated event that does not say it is its partner's never reaches it. Replicas are
        redelivered after a failover: make the handler idempotent (``apply_once``)."""
        self._federated.append((self.settings.topic_prefix + group, [self.settings.topic(t) for t in topics], handler))

    def every(self, name: str, interval_s: float, step: Callable[[], Awaitable[object]]) -> None:
        """Register a background loop: ``step`` every ``interval_s``, supervised (restarted after a crash);
        it runs where the consumers run (``CG_<NAME>_RUN_CONSUMERS``). A truthy result is logged."""
        self._loops.append((name, interval_s, step))

    def mount(self, app: FastAPI) -> None:
        """Expose the service's routes on an app under its API prefix, its context on the app's state."""
        setattr(app.state, self.name, self.context)
        app.include_router(self.router, prefix=self.prefix, tags=[self.name])

    async def prepare(self) -> None:
        """Indexes, demo data: what a service does before its loops start."""

    async def start(self) -> None:
        logs.service.set(self.name)
        consumed = [*(ts for _, ts, _ in self._consumers), *(ts for _, ts, _ in self._federated)]
        topics = sorted({self.topic, *(t for ts in consumed for t in ts)})
        await self.bus.ensure_topics([*topics, *(dlq_topic(t) for t in topics)])
        await self.bus.start()
        await run_migrations(self.store, self.migrations, Identities.of(self.settings))
        await self.prepare()
        if self.run_relay:
            self._tasks.append(asyncio.create_task(self.relay.run(), name=f"{self.name}-relay"))
        if self.run_consumers:
            for group, topics, handler in self._consumers:
                self._tasks.append(asyncio.create_task(self._consume(group, topics, handler), name=group))
            for group, topics, fed in self._federated:
                self._tasks.append(asyncio.create_task(self._consume_federated(group, topics, fed), name=group))
            for name, interval_s, step in self._loops:
                loop = functools.partial(self._every, name, interval_s, step)
                self._tasks.append(
                    asyncio.create_task(supervise(f"{self.name} {name}", loop), name=f"{self.name}-{name}")
                )

    async def _every(self, name: str, interval_s: float, step: Callable[[], Awaitable[object]]) -> None:
        while True:
            done = await step()
            if done:
                log.info("%s %s: %s", self.name, name, done)
            await asyncio.sleep(interval_s)

    async def _consume(self, group: str, topics: list[str], handler: Callable[[CloudEvent], Awaitable[None]]) -> None:
        def loop() -> Awaitable[None]:
            return run_consumer(
                self.bus, group, topics, handler, retries=self.settings.consumer_retries, source=f"/{self.name}"
            )

        await supervise(f"{group} consumer", loop)

    async def _consume_federated(self, group: str, topics: list[str], handler: FederatedHandler) -> None:
        def loop() -> Awaitable[None]:
            return run_federated_consumer(
                self.bus,
                group,
                topics,
                handler,
                region=self.settings.region,
                retries=self.settings.consumer_retries,
                source=f"/{self.name}",
            )

        await supervise(f"{group} federated consumer", loop)

    async def stop(self) -> None:
        self.relay.stop()
        for t in self._tasks:
            t.cancel()
        if self._tasks:
            done, stuck = await asyncio.wait(self._tasks, timeout=10)
            for t in done:
                if not t.cancelled() and t.exception():
                    log.error("task %s had failed: %r", t.get_name(), t.exception())
            for t in stuck:
                log.error("task %s did not stop within 10s", t.get_name())
        self._tasks.clear()
        await self.bus.close()
        await self.store.close()

    async def check_ready(self) -> dict[str, str]:
        out = {}
        for name, probe in (("store", self.store.ping), ("bus", self.bus.ping)):
            try:
                async with asyncio.timeout(3):
                    await probe()
                out[name] = "ok"
            except Exception as e:  # noqa: BLE001 - readiness reports errors, it does not raise
                out[name] = f"{type(e).__name__}: {e}"
        return out


@dataclass(frozen=True)
class Command:
    """A subcommand a service adds to the ``clustergrowth`` command (``allocate``, ``rebuild`` …)."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def offline_command(name: str, help: str, component_path: str, work: Callable[[Any], Awaitable[Any]]) -> Command:
    """A subcommand without arguments that builds the service named by ``component_path`` from the
    region's CG_* settings with its relay and consumers off, starts its bus, prints ``work(service)``'s
    result as JSON and closes the bus and the store (rebuilding a projection while the service serves)."""

    async def main() -> int:
        module, _, attr = component_path.partition(":")
        cls: type[ServiceComponent] = getattr(importlib.import_module(module), attr)
        service = cls(RuntimeSettings(), cls.settings_class(run_relay=False, run_consumers=False))
        try:
            await service.bus.start()
            print(json.dumps(await work(service)))
        finally:
            await service.bus.close()
            await service.store.close()
        return 0

    return Command(name, help, lambda parser: None, lambda args: asyncio.run(main()))


@dataclass(frozen=True)
class ServiceSpec:
    """How the composition layer knows a service: its name, the port it listens on in the distributed
    mode (the gateway's default upstream), its API title, its own subcommands, and where its component
    class is (``"package.module:Class"``, imported only when the service is built, so that the command
    line starts without loading every service)."""

    name: str
    port: int
    title: str
    component_path: str
    commands: tuple[Command, ...] = ()

    @property
    def component(self) -> type[ServiceComponent]:
        module, _, attr = self.component_path.partition(":")
        cls: type[ServiceComponent] = getattr(importlib.import_module(module), attr)
        if cls.name != self.name:
            raise ValueError(f"{self.component_path} is named {cls.name!r}, its spec {self.name!r}")
        return cls

    def app(self, settings: RuntimeSettings | None = None, own: ServiceSettings | None = None) -> FastAPI:
        """The service on its own (distributed mode): its routes, ops endpoints and lifespan."""
        settings = settings or RuntimeSettings()
        return standalone_app(settings, self.component(settings, own), self.title)
