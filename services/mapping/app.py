"""The mapping service, declared once: its component (store, bus, relay, the cluster-map projection),
its spec and its own subcommand (``clustergrowth rebuild mapping``)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from fastapi import FastAPI

from clustergrowth.bus import EventBus
from clustergrowth.component import ServiceComponent
from clustergrowth.settings import RuntimeSettings, ServiceSettings
from clustergrowth.store import DocumentStore
from contracts import mapping as ev
from services.mapping import consumers, handlers, network, seed
from services.mapping import store as st
from services.mapping.api import router
from services.mapping.domain.cluster import Thresholds
from services.mapping.migrations import MIGRATIONS
from services.mapping.settings import MappingSettings
from services.mapping.spec import SPEC

log = logging.getLogger("services.mapping")


class MappingService(ServiceComponent):
    """The SME registry, assessments and the cluster map."""

    name = "mapping"
    router = router
    settings_class = MappingSettings
    events_topic = ev.TOPIC
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
        super().__init__(settings, own, store=store, bus=bus)
        o = self.own
        assert isinstance(o, MappingSettings)
        thresholds = Thresholds(o.size_top_share, o.min_location_quotient, o.focus_top_share)
        self.mapping = self.context = handlers.Mapping(
            self.store, settings.region, notify=self.relay.notify, thresholds=thresholds
        )
        self.projection = consumers.ClusterMapProjection(self.store)
        self.subscribe(consumers.GROUP, [ev.TOPIC], self.projection.handle)
        self.network = network.NetworkClusterMap(self.mapping)  # partners' cells, from their replicas
        self.subscribe_federated(network.GROUP, [ev.TOPIC], self.network.handle)

    async def prepare(self) -> None:
        await st.ensure_indexes(self.store)
        await self.network.ensure_indexes()
        if self.settings.seed_demo and await seed.seed_demo(self.mapping):
            log.info("seeded the assessed demo SMEs of %s", self.settings.region)
            if self.settings.bus == "sqlite":  # the one-process demo: the other regions as replicated data
                with tempfile.TemporaryDirectory() as scratch:
                    replicas = await seed.partner_replicas(self.settings.region, Path(scratch))
                for topic, events in replicas.items():
                    await self.bus.publish(topic, events)
                log.info("published the other council regions' demo SMEs on %s", ", ".join(replicas))

    async def rebuild(self) -> dict[str, object]:
        """Rebuild the cluster map from the event log (``clustergrowth rebuild mapping``)."""
        return await consumers.rebuild(self.store, self.bus, [self.topic])


def create_app(settings: RuntimeSettings | None = None, own: ServiceSettings | None = None) -> FastAPI:
    """The service on its own (distributed mode)."""
    return SPEC.app(settings, own)
