"""Partners' resources, as their regions published them (issue 18).

A federated consumer reads partners' replicas of ``facilities.events`` (``<alias>.facilities.events``)
and keeps, per partner resource, what its ``ResourceListed`` said (and its booking policy when the event
carries one), keyed ``<region>:<resource id>`` so two regions' ids never collide. Every partner event,
whatever its type, and MirrorMaker 2's heartbeats are the partner's signs of life
(``clustergrowth.partners``): its entries are shown stale only when both its last event and its last
heartbeat are older than the stale threshold on the service's clock (or it was never heard from).
Read-only here: a booking goes to the owning region's API.

Local events are not projected (this region's catalogue is its own ``resources``); a redelivered replica
applies once (inbox in each document).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clustergrowth.bus.federation import Origin, replay_partners
from clustergrowth.bus.port import EventBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.inbox import apply_once
from clustergrowth.instants import instant
from clustergrowth.partners import HEARTBEAT_POLL_S, PARTNERS, PartnerSigns
from clustergrowth.store.port import Doc, DocumentStore
from contracts import facilities as ev

GROUP = "facilities.network"
RESOURCES = "network_resources"
LISTED = ev.ResourceListed.event_type()
FIELDS = ("resource_id", "site_id", "resource_name", "kind", "capacity", "timezone")
DEMO = "demo-"  # ids of the one-process demo's seeded replicas (services/facilities/seed.py)
OPTIONAL = ("site_name", "city", "policy")  # carried when the owning region's contract version has them
__all__ = ["GROUP", "HEARTBEAT_POLL_S", "PARTNERS", "RESOURCES", "NetworkCatalogue", "clear", "entry_id"]


def entry_id(region: str, resource_id: str) -> str:
    return f"{region}:{resource_id}"


@dataclass
class NetworkCatalogue(PartnerSigns):
    """The partner catalogue: its projection (``handle``) and what its reads need; its partners' signs
    of life (``PartnerSigns``)."""

    async def ensure_indexes(self) -> None:
        await self.store.ensure_index(RESOURCES, ["region", "site_id", "resource_name", "_id"])
        await self.store.ensure_index(RESOURCES, ["kind"])

    async def handle(self, event: CloudEvent, origin: Origin) -> None:
        if origin.partner is None or origin.region == self.region:
            return  # ours: this region's own catalogue is its resources
        region = origin.region
        await self.seen(region, event)
        if event.type != LISTED:
            return
        data = event.data

        def listed(doc: Doc) -> Doc:
            if doc.get("updated_at") is not None and instant(doc["updated_at"]) > instant(event.time):
                return doc  # an older listing replayed after a newer one: keep the newer
            doc.update({k: data[k] for k in FIELDS})
            doc.update({k: data.get(k) for k in OPTIONAL})
            doc["region"] = region
            doc["updated_at"] = event.time
            doc["demo"] = event.id.startswith(DEMO)
            return doc

        await apply_once(self.store, RESOURCES, entry_id(region, data["resource_id"]), event.id, listed)

    async def rebuild(self, bus: EventBus, topic: str) -> dict[str, Any]:
        """Fold the partner catalogue again from the partners' replicas of ``topic`` on ``bus`` (their whole
        history: replicas keep it, retention.ms=-1): the entries are cleared, every replicated event is
        replayed through ``handle``, each partner's last heartbeat is kept. Reads meanwhile may see part of
        the catalogue; a live consumer may go on (each entry's latest event wins, each applies once)."""
        beats = {r: b for r, (_, b) in (await self.signs_of_life()).items() if b is not None}
        cleared = await clear(self.store, RESOURCES) + await clear(self.store, PARTNERS)
        read = await replay_partners(bus, [topic], self.region, self.handle)
        for region, at in beats.items():
            await self.heartbeat(region, at)
        return {"cleared": cleared, "events": read, "resources": await self.store.count(RESOURCES)}

    async def partners(self, now: datetime) -> list[dict[str, Any]]:
        """Every partner region heard from or configured, with its freshness at ``now``."""
        heard = await self.signs_of_life()
        out = []
        for region in sorted(set(heard) | set(self.api_bases)):
            last, beat = heard.get(region, (None, None))
            out.append(
                {
                    "region": region,
                    "api_base": self.api_bases.get(region),
                    "last_event_at": last,
                    "last_heartbeat_at": beat,
                    "stale": self.stale(last, now, beat),
                    "resources": await self.store.count(RESOURCES, {"region": region}),
                }
            )
        return out


async def clear(store: DocumentStore, collection: str, batch: int = 1000) -> int:
    """Delete every document of a projection's collection; how many."""
    n = 0
    while docs := await store.find(collection, {}, limit=batch):
        for d in docs:
            n += await store.delete(collection, d["_id"])
    return n
