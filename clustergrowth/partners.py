"""Partner regions' signs of life, as a service's network projection keeps them (issue 18).

Every replicated event of a partner moves its ``last_event_at`` (the CloudEvent time of the latest one,
whatever order they arrive in); MirrorMaker 2's heartbeats (``<alias>.heartbeats``, read by
``poll_heartbeats``) move its ``last_heartbeat_at``, so a partner whose event topics are quiet while its
heartbeats keep arriving is alive. A partner is stale when both are older than the threshold on the
service's clock, or when it was never heard from. One document per partner region in the service's own
store (``network_partners``); a redelivered event applies once (inbox in the document).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from clustergrowth.bus.federation import partner_heartbeats
from clustergrowth.bus.port import EventBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.inbox import apply_once
from clustergrowth.instants import instant, later
from clustergrowth.store.port import Doc, DocumentStore, DuplicateKey

PARTNERS = "network_partners"
MAX_PARTNER_REGIONS = 1000  # partners heard from (a partners file lists at most 64; replicas may name more)
HEARTBEAT_POLL_S = 10.0  # how often partners' latest heartbeats are read (MirrorMaker 2 emits one a second)


@dataclass
class PartnerSigns:
    """The partners of ``region`` (configured in ``api_bases`` or heard from) and their signs of life."""

    store: DocumentStore
    region: str
    api_bases: dict[str, str | None] = field(default_factory=dict)  # partner region -> its public API base
    stale_after: timedelta = timedelta(minutes=15)

    async def seen(self, region: str, event: CloudEvent) -> None:
        """A replicated event of ``region``: its time is a sign of life (once per event id)."""

        def moved(doc: Doc) -> Doc:
            doc["region"] = region
            doc["last_event_at"] = later(doc.get("last_event_at"), event.time)
            doc["events"] = doc.get("events", 0) + 1
            return doc

        await apply_once(self.store, PARTNERS, region, event.id, moved)

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

    def stale(self, last_event_at: str | None, now: datetime, last_heartbeat_at: str | None = None) -> bool:
        """Silent for longer than the threshold, events and heartbeats alike (or never heard from)."""
        signs = [instant(t) for t in (last_event_at, last_heartbeat_at) if t is not None]
        return not signs or now - max(signs) > self.stale_after
