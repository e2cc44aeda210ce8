"""Wiring of the facilities service: its store, bus, relay and consumers, and its own FastAPI app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from clustergrowth import logs
from clustergrowth.auth import Authenticator
from clustergrowth.bus import EventBus, dlq_topic, open_bus
from clustergrowth.contracts import facilities as ev
from clustergrowth.inbox import run_consumer, supervise
from clustergrowth.outbox import OutboxRelay
from clustergrowth.settings import RuntimeSettings
from clustergrowth.store import DocumentStore, open_store
from clustergrowth.web import install_edge
from services.facilities import consumers, handlers, seed
from services.facilities import store as st
from services.facilities.api import router
from services.facilities.settings import FacilitiesSettings

log = logging.getLogger("services.facilities")
PREFIX = "/api/v1/facilities"


class FacilitiesService:
    """The facilities service as a component: started by its own app or by the embedded gateway."""

    name = "facilities"
    router = router

    def __init__(
        self,
        settings: RuntimeSettings,
        own: FacilitiesSettings | None = None,
        *,
        store: DocumentStore | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self.settings = settings
        self.own = own or FacilitiesSettings()
        self.store = store or open_store(settings, self.own.database)
        self.bus = bus or open_bus(settings, client_id=f"facilities-{settings.region}")
        self.topic = settings.topic(ev.TOPIC)
        self.relay = OutboxRelay(
            "facilities",
            self.store,
            self.bus,
            {c: self.topic for c in st.OUTBOX_COLLECTIONS},
            interval_s=settings.relay_interval_s,
        )
        self.facilities = handlers.Facilities(self.store, settings.region, notify=self.relay.notify)
        self.usage = consumers.UsageProjection(self.store)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        logs.service.set(self.name)
        await st.ensure_indexes(self.store)
        await self.bus.ensure_topics([self.topic, dlq_topic(self.topic)])
        await self.bus.start()
        if self.settings.seed_demo and await seed.seed_demo(self.facilities):
            log.info("seeded demo sites and resources for the six council cities")
        if self.own.run_relay:
            self._tasks.append(asyncio.create_task(self.relay.run(), name="facilities-relay"))
        if self.own.run_consumers:
            self._tasks.append(
                asyncio.create_task(
                    supervise(
                        "facilities usage consumer",
                        lambda: run_consumer(
                            self.bus,
                            self.settings.topic_prefix + consumers.GROUP,
                            [self.topic],
                            self.usage.handle,
                            retries=self.settings.consumer_retries,
                            source=self.facilities.source,
                        ),
                    ),
                    name="facilities-usage",
                )
            )

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


def mount(app: FastAPI, service: FacilitiesService) -> None:
    """Expose the service's routes on an app under its API prefix."""
    app.state.facilities = service.facilities
    app.include_router(service.router, prefix=PREFIX, tags=["facilities"])


def create_app(settings: RuntimeSettings | None = None, own: FacilitiesSettings | None = None) -> FastAPI:
    """The facilities service on its own (distributed mode)."""
    settings = settings or RuntimeSettings()
    service = FacilitiesService(settings, own)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.authenticator = Authenticator(settings)
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(title="SME Cluster Growth — facilities", version="1", lifespan=lifespan)
    install_edge(app, [service])
    mount(app, service)
    return app
