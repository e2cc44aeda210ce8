"""Wiring of the mapping service."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from clustergrowth.bus import EventBus
from clustergrowth.component import ServiceComponent
from clustergrowth.contracts import mapping as ev
from clustergrowth.settings import RuntimeSettings
from clustergrowth.store import DocumentStore
from clustergrowth.web import standalone_app
from services.mapping import consumers, handlers, seed
from services.mapping import store as st
from services.mapping.api import router
from services.mapping.domain.cluster import Thresholds
from services.mapping.migrations import MIGRATIONS
from services.mapping.settings import MappingSettings

log = logging.getLogger("services.mapping")
PREFIX = "/api/v1/mapping"


class MappingService(ServiceComponent):
    """The mapping service as a component."""

    name = "mapping"
    router = router
    outbox_collections = st.OUTBOX_COLLECTIONS
    migrations = MIGRATIONS

    def __init__(
        self,
        settings: RuntimeSettings,
        own: MappingSettings | None = None,
        *,
        store: DocumentStore | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self.own = own or MappingSettings()
        super().__init__(settings, self.own, ev.TOPIC, store=store, bus=bus)
        thresholds = Thresholds(self.own.size_top_share, self.own.min_location_quotient, self.own.focus_top_share)
        self.mapping = handlers.Mapping(self.store, settings.region, notify=self.relay.notify, thresholds=thresholds)
        self.projection = consumers.ClusterMapProjection(self.store)
        self.subscribe(consumers.GROUP, [ev.TOPIC], self.projection.handle)

    async def prepare(self) -> None:
        await st.ensure_indexes(self.store)
        if self.settings.seed_demo and await seed.seed_demo(self.mapping):
            log.info("seeded assessed demo SMEs in the six council regions")

    def mount(self, app: FastAPI) -> None:
        app.state.mapping = self.mapping
        app.include_router(self.router, prefix=PREFIX, tags=["mapping"])

    async def rebuild(self) -> dict[str, object]:
        """Rebuild the cluster map from the event log (``clustergrowth rebuild mapping``)."""
        return await consumers.rebuild(self.store, self.bus, [self.topic])


def create_app(settings: RuntimeSettings | None = None, own: MappingSettings | None = None) -> FastAPI:
    """The mapping service on its own (distributed mode)."""
    settings = settings or RuntimeSettings()
    return standalone_app(settings, MappingService(settings, own), "SME Cluster Growth — mapping")
