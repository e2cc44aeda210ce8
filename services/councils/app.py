"""The councils service, declared once: its component (store, bus, relay, demo data) and its spec.

The dashboards (``services.councils.dashboard``, fed by every service's events) are a part of it: their
``router`` joins the service's routes and ``attach(component)`` subscribes their projection.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from fastapi import FastAPI

from clustergrowth.bus import EventBus
from clustergrowth.bus.federation import Origin
from clustergrowth.component import ServiceComponent
from clustergrowth.envelope import CloudEvent
from clustergrowth.settings import RuntimeSettings, ServiceSettings
from clustergrowth.store import DocumentStore
from contracts import councils as ev
from services.councils import api, dashboard, handlers, network, seed
from services.councils import store as st
from services.councils.migrations import MIGRATIONS
from services.councils.settings import CouncilsSettings
from services.councils.spec import SPEC

log = logging.getLogger("services.councils")


class CouncilsService(ServiceComponent):
    """Councils, memberships, meetings, decisions and initiatives; the parts attached to it."""

    name = "councils"
    router = api.combined([*api.ROUTERS, dashboard.router, network.router])
    settings_class = CouncilsSettings
    events_topic = ev.TOPIC
    outbox_collections = st.OUTBOX_COLLECTIONS
    migrations = MIGRATIONS

    def __init__(
        self,
        settings: RuntimeSettings,
        own: CouncilsSettings | None = None,
        *,
        store: DocumentStore | None = None,
        bus: EventBus | None = None,
    ) -> None:
        super().__init__(settings, own, store=store, bus=bus)
        self.councils = self.context = handlers.Councils(self.store, settings.region, notify=self.relay.notify)
        self.dashboard = dashboard.attach(self)
        self.subscribe_federated(network.GROUP, [ev.TOPIC], self.partner_event)

    async def partner_event(self, event: CloudEvent, origin: Origin) -> None:
        """Partners' councils and the initiatives they lead (``network``): replicated, read-only here."""
        await network.handle(self.store, self.settings.region, event, origin)

    async def rebuild_partners(self) -> dict[str, object]:
        """Partners' councils and initiatives folded again from their replicas (``clustergrowth
        rebuild-partner-councils``)."""
        return await network.rebuild(self.store, self.bus, self.settings.region, self.settings.topic(ev.TOPIC))

    async def prepare(self) -> None:
        await st.ensure_indexes(self.store)
        await network.ensure_indexes(self.store)
        if self.settings.seed_demo and await seed.seed_demo(self.councils):
            log.info("seeded the council(s) of %s with members, meetings and initiatives", self.settings.region)
            if self.settings.bus == "sqlite":  # the one-process demo: the other regions as replicated data
                with tempfile.TemporaryDirectory() as scratch:
                    replicas = await seed.partner_replicas(self.settings.region, Path(scratch))
                for topic, events in replicas.items():
                    await self.bus.publish(topic, events)
                log.info("published the other council regions' demo councils on %s", ", ".join(replicas))


def create_app(settings: RuntimeSettings | None = None, own: ServiceSettings | None = None) -> FastAPI:
    """The service on its own (distributed mode)."""
    return SPEC.app(settings, own)
