"""The matching service, declared once: its component (store, bus, relay, the SMEAssessed consumer, the
expiry sweeper), its spec and its own subcommand (``clustergrowth allocate``)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from clustergrowth.bus import EventBus
from clustergrowth.component import ServiceComponent
from clustergrowth.partners import HEARTBEAT_POLL_S
from clustergrowth.settings import RuntimeSettings, ServiceSettings
from clustergrowth.store import DocumentStore
from contracts import mapping as mapping_ev
from contracts import matching as ev
from services.matching import consumers, handlers, network, seed
from services.matching import store as st
from services.matching.api import router
from services.matching.migrations import MIGRATIONS
from services.matching.settings import MatchingSettings
from services.matching.spec import SPEC


class MatchingService(ServiceComponent):
    """Challenges, profiles, rounds and matches; drafts suggested from SMEAssessed; lapsed proposals swept."""

    name = "matching"
    router = router
    settings_class = MatchingSettings
    events_topic = ev.TOPIC
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
        super().__init__(settings, own, store=store, bus=bus)
        o = self.own
        assert isinstance(o, MatchingSettings)
        self.matching = self.context = handlers.Matching(
            self.store,
            settings.region,
            notify=self.relay.notify,
            proposal_ttl_hours=o.proposal_ttl_hours,
            draft_need_below=o.draft_need_below,
        )
        self.needs = consumers.NeedsConsumer(self.matching)
        self.subscribe(consumers.GROUP, [mapping_ev.TOPIC], self.needs.handle)
        self.every("sweeper", o.sweep_interval_s, self.sweep)
        self.network = network.NetworkChallenges(  # partners' challenges, from their replicated events
            self.store,
            settings.region,
            {p.region: p.api_base for p in settings.auth_partners},
            timedelta(seconds=settings.network_stale_after_s),
            clock=lambda: self.matching.clock(),  # the context's clock at each read (tests replace it)
        )
        self.subscribe_federated(network.GROUP, [ev.TOPIC], self.network.handle)
        self.every("partner heartbeats", HEARTBEAT_POLL_S, lambda: self.network.poll_heartbeats(self.bus))

    def mount(self, app: FastAPI) -> None:
        super().mount(app)
        app.state.matching_network = self.network

    async def sweep(self) -> dict[str, int] | None:
        """Expire lapsed proposals (freeing their places) and finish interrupted rounds."""
        done = await handlers.sweep(self.matching)
        return done if any(done.values()) else None

    async def prepare(self) -> None:
        await st.ensure_indexes(self.store)
        await self.network.ensure_indexes()
        demo = self.settings.seed_demo and self.settings.bus == "sqlite"  # the one-process demo
        if demo and await self.store.count(network.CHALLENGES) == 0:
            for topic, events in seed.partner_replicas(self.settings.region).items():
                await self.bus.publish(topic, events)


def create_app(settings: RuntimeSettings | None = None, own: ServiceSettings | None = None) -> FastAPI:
    """The service on its own (distributed mode)."""
    return SPEC.app(settings, own)
