"""The councils service, declared once: its component (store, bus, relay, demo data) and its spec.

The dashboards (``services.councils.dashboard``, fed by every service's events) are a part of it: their
``router`` joins the service's routes and ``attach(component)`` subscribes their projection.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from clustergrowth.bus import EventBus
from clustergrowth.component import ServiceComponent
from clustergrowth.settings import RuntimeSettings, ServiceSettings
from clustergrowth.store import DocumentStore
from contracts import councils as ev
from services.councils import api, dashboard, handlers, seed
from services.councils import store as st
from services.councils.migrations import MIGRATIONS
from services.councils.settings import CouncilsSettings
from services.councils.spec import SPEC

log = logging.getLogger("services.councils")


class CouncilsService(ServiceComponent):
    """Councils, memberships, meetings, decisions and initiatives; the parts attached to it."""

    name = "councils"
    router = api.combined([*api.ROUTERS, dashboard.router])
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

    async def prepare(self) -> None:
        await st.ensure_indexes(self.store)
        if self.settings.seed_demo and await seed.seed_demo(self.councils):
            log.info("seeded the six Cluster Growth Councils with members, meetings and initiatives")


def create_app(settings: RuntimeSettings | None = None, own: ServiceSettings | None = None) -> FastAPI:
    """The service on its own (distributed mode)."""
    return SPEC.app(settings, own)
