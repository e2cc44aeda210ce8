"""Wiring of the facilities service: its store, bus, relay and consumers, and its own FastAPI app."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from clustergrowth.bus import EventBus
from clustergrowth.component import ServiceComponent
from clustergrowth.contracts import facilities as ev
from clustergrowth.settings import RuntimeSettings
from clustergrowth.store import DocumentStore
from clustergrowth.web import standalone_app
from services.facilities import consumers, handlers, seed
from services.facilities import store as st
from services.facilities.api import router
from services.facilities.migrations import MIGRATIONS
from services.facilities.settings import FacilitiesSettings

log = logging.getLogger("services.facilities")
PREFIX = "/api/v1/facilities"


class FacilitiesService(ServiceComponent):
    """The facilities service as a component: started by its own app or by the embedded gateway."""

    name = "facilities"
    router = router
    outbox_collections = st.OUTBOX_COLLECTIONS
    migrations = MIGRATIONS

    def __init__(
        self,
        settings: RuntimeSettings,
        own: FacilitiesSettings | None = None,
        *,
        store: DocumentStore | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self.own = own or FacilitiesSettings()
        super().__init__(settings, self.own, ev.TOPIC, store=store, bus=bus)
        self.facilities = handlers.Facilities(self.store, settings.region, notify=self.relay.notify)
        self.usage = consumers.UsageProjection(self.store)
        self.subscribe(consumers.GROUP, [ev.TOPIC], self.usage.handle)

    async def prepare(self) -> None:
        await st.ensure_indexes(self.store)
        if self.settings.seed_demo and await seed.seed_demo(self.facilities):
            log.info("seeded demo sites and resources for the six council cities")

    def mount(self, app: FastAPI) -> None:
        """Expose the service's routes on an app under its API prefix."""
        app.state.facilities = self.facilities
        app.include_router(self.router, prefix=PREFIX, tags=["facilities"])


def create_app(settings: RuntimeSettings | None = None, own: FacilitiesSettings | None = None) -> FastAPI:
    """The facilities service on its own (distributed mode)."""
    settings = settings or RuntimeSettings()
    return standalone_app(settings, FacilitiesService(settings, own), "SME Cluster Growth — facilities")
