"""The facilities service, declared once: its component (store, bus, relay, consumers) and its spec."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from clustergrowth.bus import EventBus
from clustergrowth.component import ServiceComponent
from clustergrowth.settings import RuntimeSettings, ServiceSettings
from clustergrowth.store import DocumentStore
from contracts import councils as cev
from contracts import facilities as ev
from services.facilities import consumers, handlers, seed
from services.facilities import store as st
from services.facilities.api import router
from services.facilities.migrations import MIGRATIONS
from services.facilities.settings import FacilitiesSettings
from services.facilities.spec import SPEC

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
        self.membership = handlers.membership_projection(self.facilities)  # also withdraws on MemberLeft
        self.subscribe(consumers.MEMBERSHIP_GROUP, [cev.TOPIC], self.membership.handle)

    async def prepare(self) -> None:
        await st.ensure_indexes(self.store)
        if self.settings.seed_demo and await seed.seed_demo(self.facilities):
            log.info("seeded demo sites and resources for the six council cities")


def create_app(settings: RuntimeSettings | None = None, own: ServiceSettings | None = None) -> FastAPI:
    """The service on its own (distributed mode)."""
    return SPEC.app(settings, own)
