"""Partners' resources, as their regions published them (issue 18).

A federated consumer reads partners' replicas of ``facilities.events`` (``<alias>.facilities.events``)
and keeps, per partner resource, what its ``ResourceListed`` said (and its booking policy when the event
carries one), keyed ``<region>:<resource id>`` so two regions' ids never collide. Every partner event,
whatever its type, also moves that partner's ``last_event_at`` (the CloudEvent time of the latest
replicated event): when it is older than the stale threshold on the service's clock, the partner's
entries are shown stale with that time. Read-only here: a booking goes to the owning region's API.

Local events are not projected (this region's catalogue is its own ``resources``); a redelivered replica
applies once (inbox in each document).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from clustergrowth.bus.federation import Origin
from clustergrowth.envelope import CloudEvent
from clustergrowth.inbox import apply_once
from clustergrowth.store.port import Doc, DocumentStore
from contracts import facilities as ev

GROUP = "facilities.network"
RESOURCES = "network_resources"
PARTNERS = "network_partners"
LISTED = ev.ResourceListed.event_type()
FIELDS = ("resource_id", "site_id", "resource_name", "kind", "capacity", "timezone")
DEMO = "demo-"  # ids of the one-process demo's seeded replicas (services/facilities/seed.py)
MAX_PARTNER_REGIONS = 1000  # partners heard from (a partners file lists at most 64; replicas may name more)
OPTIONAL = ("site_name", "city", "policy")  # carried when the owning region's contract version has them


def instant(s: str) -> datetime:
    """An ISO 8601 instant; one without an offset is taken as UTC (CloudEvents times should carry one)."""
    t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def entry_id(region: str, resource_id: str) -> str:
    return f"{region}:{resource_id}"


def later(a: str | None, b: str) -> str:
    """The later of two ISO 8601 instants (b when a is None)."""
    return b if a is None or instant(b) > instant(a) else a


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

    async def last_events(self) -> dict[str, str]:
        """Partner region -> time of its last replicated event (regions heard from; bounded)."""
        docs = await self.store.find(PARTNERS, {}, sort=[("_id", 1)], limit=MAX_PARTNER_REGIONS)
        return {d["_id"]: d["last_event_at"] for d in docs}

    async def partners(self, now: datetime) -> list[dict[str, Any]]:
        """Every partner region heard from or configured, with its freshness at ``now``."""
        heard = await self.last_events()
        out = []
        for region in sorted(set(heard) | set(self.api_bases)):
            last = heard.get(region)
            out.append(
                {
                    "region": region,
                    "api_base": self.api_bases.get(region),
                    "last_event_at": last,
                    "stale": self.stale(last, now),
                    "resources": await self.store.count(RESOURCES, {"region": region}),
                }
            )
        return out

    def stale(self, last_event_at: str | None, now: datetime) -> bool:
        """Silent for longer than the threshold (or never heard from)."""
        return last_event_at is None or now - instant(last_event_at) > self.stale_after
