"""Wiring of the matching service: store, bus, relay, the SMEAssessed consumer and the expiry sweeper."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from clustergrowth.bus import EventBus
from clustergrowth.component import ServiceComponent
from clustergrowth.contracts import mapping as mapping_ev
from clustergrowth.contracts import matching as ev
from clustergrowth.inbox import supervise
from clustergrowth.settings import RuntimeSettings
from clustergrowth.store import DocumentStore
from clustergrowth.web import standalone_app
from services.matching import consumers, handlers
from services.matching import store as st
from services.matching.api import router
from services.matching.migrations import MIGRATIONS
from services.matching.settings import MatchingSettings

log = logging.getLogger("services.matching")
PREFIX = "/api/v1/matching"


class MatchingService(ServiceComponent):
    """The matching service as a component."""

    name = "matching"
    router = router
    outbox_collections = st.OUTBOX_COLLECTIONS
    migrations = MIGRATIONS

    def __init__(
        self,
        settings: RuntimeSettings,
        own: MatchingSettings | None = None,
        *,
        store: DocumentStore | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self.own = own or MatchingSettings()
        super().__init__(settings, self.own, ev.TOPIC, store=store, bus=bus)
        self.matching = handlers.Matching(
            self.store,
            settings.region,
            notify=self.relay.notify,
            proposal_ttl_hours=self.own.proposal_ttl_hours,
            draft_need_below=self.own.draft_need_below,
        )
        self.needs = consumers.NeedsConsumer(self.matching)
        self.subscribe(consumers.GROUP, [mapping_ev.TOPIC], self.needs.handle)

    async def prepare(self) -> None:
        await st.ensure_indexes(self.store)

    async def start(self) -> None:
        await super().start()
        if self.run_consumers:
            self._tasks.append(asyncio.create_task(supervise("matching sweeper", self._sweep), name="matching-sweep"))

    async def _sweep(self) -> None:
        """Expire lapsed proposals (freeing their places) and finish interrupted rounds, forever."""
        while True:
            done = await handlers.sweep(self.matching)
            if any(done.values()):
                log.info("sweep: %s", done)
            await asyncio.sleep(self.own.sweep_interval_s)

    def mount(self, app: FastAPI) -> None:
        app.state.matching = self.matching
        app.include_router(self.router, prefix=PREFIX, tags=["matching"])


def create_app(settings: RuntimeSettings | None = None, own: MatchingSettings | None = None) -> FastAPI:
    """The matching service on its own (distributed mode)."""
    settings = settings or RuntimeSettings()
    return standalone_app(settings, MatchingService(settings, own), "SME Cluster Growth — matching")
