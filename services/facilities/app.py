"""The facilities service, declared once: its component (store, bus, relay, consumers) and its spec."""

from __future__ import annotations

import logging
import tempfile
from datetime import timedelta
from pathlib import Path

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
from services.facilities.domain.model import OfferRules
from services.facilities.handlers import waitlist
from services.facilities.migrations import MIGRATIONS
from services.facilities.network import projection as network
from services.facilities.settings import FacilitiesSettings
from services.facilities.spec import SPEC

log = logging.getLogger("services.facilities")


class FacilitiesService(ServiceComponent):
    """Sites, resources, bookings and their waitlists; the usage and no-show projections fed by its own
    events; the sweeper that lapses waitlist offers and releases no-shows."""

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
        o = self.own
        assert isinstance(o, FacilitiesSettings)
        offers = OfferRules(o.offer_claim_minutes, o.offer_min_claim_minutes)
        self.facilities = self.context = handlers.Facilities(
            self.store, settings.region, notify=self.relay.notify, offers=offers
        )
        self.usage = consumers.UsageProjection(self.store)
        self.subscribe(consumers.GROUP, [ev.TOPIC], self.usage.handle)
        self.no_shows = consumers.NoShowProjection(self.store)
        self.subscribe(consumers.NO_SHOW_GROUP, [ev.TOPIC], self.no_shows.handle)
        self.every("waitlist", o.sweep_interval_s, self.sweep)
        self.membership = handlers.membership_projection(self.facilities)  # also withdraws on MemberLeft
        self.subscribe(consumers.MEMBERSHIP_GROUP, [cev.TOPIC], self.membership.handle)
        self.network = network.NetworkCatalogue(  # partners' resources, from their replicated events
            self.store,
            settings.region,
            {p.region: p.api_base for p in settings.auth_partners},
            timedelta(seconds=settings.network_stale_after_s),
        )
        self.subscribe_federated(network.GROUP, [ev.TOPIC], self.network.handle)
        self.every("partner heartbeats", network.HEARTBEAT_POLL_S, lambda: self.network.poll_heartbeats(self.bus))

    def mount(self, app: FastAPI) -> None:
        super().mount(app)
        app.state.facilities_network = self.network

    async def sweep(self) -> dict[str, int] | None:
        """Release no-shows and lapse due offers (each passing its slot to the next in line)."""
        done = await waitlist.run_due(self.facilities)
        return done if any(done.values()) else None

    async def prepare(self) -> None:
        await st.ensure_indexes(self.store)
        await self.network.ensure_indexes()
        if self.settings.seed_demo and await seed.seed_demo(self.facilities):
            log.info("seeded the demo sites and resources of %s", self.settings.region)
            if self.settings.bus == "sqlite":  # the one-process demo: the other regions as replicated data
                with tempfile.TemporaryDirectory() as scratch:
                    replicas = await seed.partner_replicas(self.settings.region, Path(scratch))
                for topic, events in replicas.items():
                    await self.bus.publish(topic, events)
                log.info("published the other council regions' demo resources on %s", ", ".join(replicas))


def create_app(settings: RuntimeSettings | None = None, own: ServiceSettings | None = None) -> FastAPI:
    """The service on its own (distributed mode)."""
    return SPEC.app(settings, own)
