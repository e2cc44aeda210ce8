"""Partners' resources, as their regions published them (issue 18).

A federated consumer reads partners' replicas of ``facilities.events`` (``<alias>.facilities.events``)
and keeps, per partner resource, what its ``ResourceListed`` said (and its booking policy when the event
carries one), keyed ``<region>:<resource id>`` so two regions' ids never collide. Every partner event,
whatever its type, also moves that partner's ``last_event_at`` (the CloudEvent time of the latest
replicated event). MirrorMaker 2's heartbeats are a sign of life too (``poll_heartbeats``, every
``HEARTBEAT_POLL_S``: the latest of ``<alias>.heartbeats`` moves the partner's ``last_heartbeat_at``), so a
partner whose topics are quiet while its heartbeats keep arriving is not stale: its entries are shown
stale only when both its last event and its last heartbeat are older than the stale threshold on the
service's clock (or it was never heard from). Read-only here: a booking goes to the owning region's API.

Local events are not projected (this region's catalogue is its own ``resources``); a redelivered replica
applies once (inbox in each document).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from clustergrowth.bus.federation import Origin, partner_heartbeats, replay_partners
from clustergrowth.bus.port import EventBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.inbox import apply_once
from clustergrowth.instants import instant, later
from clustergrowth.store.port import Doc, DocumentStore, DuplicateKey
from contracts import facilities as ev

GROUP = "facilities.network"
RESOURCES = "network_resources"
PARTNERS = "network_partners"
LISTED = ev.ResourceListed.event_type()
FIELDS = ("resource_id", "site_id", "resource_name", "kind", "capacity", "timezone")
DEMO = "demo-"  # ids of the one-process demo's seeded replicas (services/facilities/seed.py)
MAX_PARTNER_REGIONS = 1000  # partners heard from (a partners file lists at most 64; replicas may name more)
OPTIONAL = ("site_name", "city", "policy")  # carried when the owning region's contract version has them
HEARTBEAT_POLL_S = 10.0  # how often partners' latest heartbeats are read (MirrorMaker 2 emits one a second)


def entry_id(region: str, resource_id: str) -> str:
    return f"{region}:{resource_id}"


@dataclass
class NetworkCatalogue:
    """The partner catalogue: its projection (``handle``) and what its reads need."""

    store: DocumentStore
    region: str
    api_bases: dict[str, str | None] = field(default_factory=dict)  # partner region -> its public API base
    stale_after: timedelta = timedelta(minutes=15)

    async def ensure_indexes(self) -> None:
        await self.store.ensure_index(RESOURCES, ["region", "site_id", "resource_name", "_id"])
        await self.store.ensure_index(RESOURCES, ["kind"])

    async def handle(self, event: CloudEvent, origin: Origin) -> None:
        if origin.partner is None or origin.region == self.region:
            return  # ours: this region's own catalogue is its resources
        region = origin.region

        def seen(doc: Doc) -> Doc:
            doc["region"] = region
            doc["last_event_at"] = later(doc.get("last_event_at"), event.time)
            doc["events"] = doc.get("events", 0) + 1
            return doc

        await apply_once(self.store, PARTNERS, region, event.id, seen)
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

    async def poll_heartbeats(self, bus: EventBus) -> dict[str, str] | None:
        """Read partners' latest MirrorMaker 2 heartbeats from the bus and keep each as its partner's
        ``last_heartbeat_at`` (a later one only); the partners moved, or None when none moved."""
        moved = {}
        for region, at in (await partner_heartbeats(bus, self.region)).items():
            if region != self.region and await self.heartbeat(region, at.isoformat()):
                moved[region] = at.isoformat()
        return moved or None

    async def heartbeat(self, region: str, at: str) -> bool:
        """Note a heartbeat of ``region`` at ``at`` (ISO 8601); True when it is later than the one held."""
        while True:
            doc = await self.store.get(PARTNERS, region)
            if doc is not None and doc.get("last_heartbeat_at") and instant(doc["last_heartbeat_at"]) >= instant(at):
                return False
            new = {**(doc or {"_id": region}), "region": region, "last_heartbeat_at": at}
            try:
                if doc is None:
                    await self.store.insert(PARTNERS, new)
                    return True
                if await self.store.replace(PARTNERS, new, doc["version"]):
                    return True
            except DuplicateKey:  # a concurrent first write: read again
                continue

    async def signs_of_life(self) -> dict[str, tuple[str | None, str | None]]:
        """Partner region -> (time of its last replicated event, of its last heartbeat); bounded."""
        docs = await self.store.find(PARTNERS, {}, sort=[("_id", 1)], limit=MAX_PARTNER_REGIONS)
        return {d["_id"]: (d.get("last_event_at"), d.get("last_heartbeat_at")) for d in docs}

    async def last_events(self) -> dict[str, str]:
        """Partner region -> time of its last replicated event (regions heard from; bounded)."""
        return {r: event for r, (event, _) in (await self.signs_of_life()).items() if event is not None}

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

    def stale(self, last_event_at: str | None, now: datetime, last_heartbeat_at: str | None = None) -> bool:
        """Silent for longer than the threshold, events and heartbeats alike (or never heard from)."""
        signs = [instant(t) for t in (last_event_at, last_heartbeat_at) if t is not None]
        return not signs or now - max(signs) > self.stale_after


async def clear(store: DocumentStore, collection: str, batch: int = 1000) -> int:
    """Delete every document of a projection's collection; how many."""
    n = 0
    while docs := await store.find(collection, {}, limit=batch):
        for d in docs:
            n += await store.delete(collection, d["_id"])
    return n
