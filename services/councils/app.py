"""The councils service, declared once: its component (store, bus, relay, demo data) and its spec.

Parts attached to the service are listed in ``PARTS`` by module name; each exposes ``router`` (an
APIRouter whose routes live under ``/councils/{council_id}/…``) and ``attach(component)`` (subscribes
what it needs, e.g. a projection). Attaching one is one line: its module name in ``PARTS``.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType

from fastapi import FastAPI

from clustergrowth.bus import EventBus
from clustergrowth.component import ServiceComponent
from clustergrowth.settings import RuntimeSettings, ServiceSettings
from clustergrowth.store import DocumentStore
from contracts import councils as ev
from services.councils import api, handlers, seed
from services.councils import store as st
from services.councils.migrations import MIGRATIONS
from services.councils.settings import CouncilsSettings
from services.councils.spec import SPEC

log = logging.getLogger("services.councils")

PARTS: tuple[str, ...] = ()  # e.g. "services.councils.dashboard"
_parts: tuple[ModuleType, ...] = tuple(importlib.import_module(p) for p in PARTS)


class CouncilsService(ServiceComponent):
    """Councils, memberships, meetings, decisions and initiatives; the parts attached to it."""

    name = "councils"
    router = api.combined([*api.ROUTERS, *(p.router for p in _parts)])
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
        for part in _parts:
            part.attach(self)

    async def prepare(self) -> None:
        await st.ensure_indexes(self.store)
        if self.settings.seed_demo and await seed.seed_demo(self.councils):
            log.info("seeded the six Cluster Growth Councils with members, meetings and initiatives")


def create_app(settings: RuntimeSettings | None = None, own: ServiceSettings | None = None) -> FastAPI:
    """The service on its own (distributed mode)."""
    return SPEC.app(settings, own)
