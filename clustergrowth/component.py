"""What every service component shares: its store and bus, an outbox relay, supervised consumers,
a bounded stop, and a readiness report. A service subclasses it and adds its domain."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from fastapi import APIRouter

from clustergrowth import logs
from clustergrowth.bus import EventBus, dlq_topic, open_bus
from clustergrowth.envelope import CloudEvent
from clustergrowth.inbox import run_consumer, supervise
from clustergrowth.migrations import Identities, Migration
from clustergrowth.migrations import run as run_migrations
from clustergrowth.outbox import OutboxRelay
from clustergrowth.settings import RuntimeSettings, ServiceSettings
from clustergrowth.store import DocumentStore, open_store

log = logging.getLogger("clustergrowth.component")


class ServiceComponent:
    """Base of a service: ``name``, ``router``, its topic, and the collections that carry outboxes."""

    name: str
    router: APIRouter
    outbox_collections: Sequence[str] = ()
    migrations: Sequence[Migration] = ()  # the service's data migrations, run once each before it starts

    def __init__(
        self,
        settings: RuntimeSettings,
        own: ServiceSettings,
        topic: str,
        *,
        store: DocumentStore | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self.settings = settings
        self.store = store or open_store(settings, own.database)
        self.bus = bus or open_bus(settings, client_id=f"{self.name}-{settings.region}")
        self.topic = settings.topic(topic)
        self.relay = OutboxRelay(
            self.name,
            self.store,
            self.bus,
            {c: self.topic for c in self.outbox_collections},
            interval_s=settings.relay_interval_s,
        )
        self.run_relay = own.run_relay
        self.run_consumers = own.run_consumers
        self._consumers: list[tuple[str, list[str], Callable[[CloudEvent], Awaitable[None]]]] = []
        self._tasks: list[asyncio.Task[None]] = []

    def subscribe(self, group: str, topics: list[str], handler: Callable[[CloudEvent], Awaitable[None]]) -> None:
        """Register a consumer (started with the service); topics are logical names."""
        self._consumers.append((self.settings.topic_prefix + group, [self.settings.topic(t) for t in topics], handler))

    async def prepare(self) -> None:
        """Indexes, demo data: what a service does before its loops start."""

    async def start(self) -> None:
        logs.service.set(self.name)
        topics = sorted({self.topic, *(t for _, ts, _ in self._consumers for t in ts)})
        await self.bus.ensure_topics([*topics, *(dlq_topic(t) for t in topics)])
        await self.bus.start()
        await run_migrations(self.store, self.migrations, Identities.of(self.settings))
        await self.prepare()
        if self.run_relay:
            self._tasks.append(asyncio.create_task(self.relay.run(), name=f"{self.name}-relay"))
        if self.run_consumers:
            for group, topics, handler in self._consumers:
                self._tasks.append(asyncio.create_task(self._consume(group, topics, handler), name=group))

    async def _consume(self, group: str, topics: list[str], handler: Callable[[CloudEvent], Awaitable[None]]) -> None:
        def loop() -> Awaitable[None]:
            return run_consumer(
                self.bus, group, topics, handler, retries=self.settings.consumer_retries, source=f"/{self.name}"
            )

        await supervise(f"{group} consumer", loop)

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
