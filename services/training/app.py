"""The training service, declared once: its component (store, bus, relay, consumers, the invitation
loop, demo data) and its spec.

Two parts are attached to it the way the councils' dashboards are: ``services.training.modules``
(modules, enrolment, Open Badges credentials) and ``services.training.placements`` (mobility
placements): their ``router`` joins ``api.combined`` and ``attach(self)`` runs in ``__init__``.
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
from clustergrowth.partners import HEARTBEAT_POLL_S
from clustergrowth.settings import RuntimeSettings, ServiceSettings
from clustergrowth.store import DocumentStore
from contracts import mapping as mapping_ev
from contracts import training as ev
from services.training import api, consumers, handlers, modules, network, placements, projection, seed
from services.training import store as st
from services.training.handlers import plans
from services.training.migrations import MIGRATIONS
from services.training.settings import TrainingSettings
from services.training.spec import SPEC

log = logging.getLogger("services.training")


class TrainingService(ServiceComponent):
    """Assessments, benchmarks, plans and re-assessment invitations; modules and credentials; placements."""

    name = "training"
    router = api.combined([*api.ROUTERS, modules.router, placements.router, network.router])
    settings_class = TrainingSettings
    events_topic = ev.TOPIC
    outbox_collections = st.OUTBOX_COLLECTIONS
    migrations = MIGRATIONS

    def __init__(
        self,
        settings: RuntimeSettings,
        own: TrainingSettings | None = None,
        *,
        store: DocumentStore | None = None,
        bus: EventBus | None = None,
    ) -> None:
        super().__init__(settings, own, store=store, bus=bus)
        own_settings: TrainingSettings = self.own  # type: ignore[assignment]
        self.training = self.context = handlers.Training(self.store, settings.region, notify=self.relay.notify)
        self.smes = consumers.SmeFacts(self.store)
        self.peers = projection.PeerProjection(self.store)
        self.modules = modules.attach(self)
        self.placements = placements.attach(self)
        self.subscribe(consumers.GROUP, [mapping_ev.TOPIC], self.smes.handle)
        self.subscribe_federated(projection.GROUP, projection.TOPICS, self.peers.handle)  # partners' peers too
        self.partner_signs = network.partner_signs(self.store, settings)  # partners' signs of life
        setattr(self.training, network.ATTR, self.partner_signs)
        self.subscribe_federated(network.GROUP, [ev.TOPIC], self.partner_placement)
        self.every("partner heartbeats", HEARTBEAT_POLL_S, lambda: self.partner_signs.poll_heartbeats(self.bus))
        self.every("invitations", own_settings.invite_every_s, self.invite_due)

    async def partner_placement(self, event: CloudEvent, origin: Origin) -> None:
        """Partners' placements that involve this region (``network``): replicated, read-only here; every
        partner event is a sign of its life."""
        if origin.partner is not None and origin.region != self.settings.region:
            await self.partner_signs.seen(origin.region, event)
        await network.handle(self.store, self.settings.region, event, origin)

    async def invite_due(self) -> int:
        """One step of the loop: invite SMEs whose plans are past their due date (0 when none)."""
        return await plans.invite_due(self.training)

    async def prepare(self) -> None:
        await st.ensure_indexes(self.store)
        await modules.ensure_indexes(self.store)
        await placements.ensure_indexes(self.store)
        await network.ensure_indexes(self.store)
        await projection.ensure_indexes(self.store, await projection.live_collection(self.store))
        if self.settings.seed_demo and await seed.seed_demo(self.training):
            log.info("seeded the training assessments of %s", self.settings.region)
            if self.settings.bus == "sqlite":  # the one-process demo: the other regions as replicated data
                with tempfile.TemporaryDirectory() as scratch:
                    replicas = await seed.partner_replicas(self.settings.region, Path(scratch))
                for topic, events in replicas.items():
                    await self.bus.publish(topic, events)
                log.info("published the other regions' demo assessments on %s", ", ".join(replicas))

    async def rebuild_peers(self) -> dict[str, object]:
        """Rebuild the benchmark's peer groups from this region's log and partners' replicas of it."""
        topics = [self.settings.topic(t) for t in projection.TOPICS]
        return await projection.rebuild(self.store, self.bus, topics, self.settings.region)


def create_app(settings: RuntimeSettings | None = None, own: ServiceSettings | None = None) -> FastAPI:
    """The service on its own (distributed mode)."""
    return SPEC.app(settings, own)
