"""The facilities service, declared once: its component (store, bus, relay, consumers) and its spec."""

from __future__ import annotations

import logging

from clustergrowth.bus import EventBus
from clustergrowth.component import ServiceComponent, ServiceSpec
from clustergrowth.settings import RuntimeSettings
from clustergrowth.store import DocumentStore
from contracts import facilities as ev
from services.facilities import consumers, handlers, seed
from services.facilities import store as st
from services.facilities.api import router
from services.facilities.migrations import MIGRATIONS
from services.facilities.settings import FacilitiesSettings

log = logging.getLogger("services.facilities")


class FacilitiesService(ServiceComponent):
    """Sites, resources and bookings; the usage projection fed by its own events."""

    name = "facilities"
    router = router
    settings_class = FacilitiesSettings
    events_topic = ev.TOPIC
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
        super().__init__(settings, own, store=store, bus=bus)
        self.facilities = self.context = handlers.Facilities(self.store, settings.region, notify=self.relay.notify)
        self.usage = consumers.UsageProjection(self.store)
        self.subscribe(consumers.GROUP, [ev.TOPIC], self.usage.handle)

    async def prepare(self) -> None:
        await st.ensure_indexes(self.store)
        if self.settings.seed_demo and await seed.seed_demo(self.facilities):
            log.info("seeded demo sites and resources for the six council cities")


SPEC = ServiceSpec(FacilitiesService, port=8101, title="SME Cluster Growth — facilities")
create_app = SPEC.app
