"""Small helpers shared by the tests."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from clustergrowth.auth import person_id
from clustergrowth.bus.port import EventBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.settings import DEV_ISSUER, RuntimeSettings, TrustedIssuer
from clustergrowth.store.port import DocumentStore
from services.facilities import store as st


def weekday_slots(n: int, days_ahead: int = 2) -> list[tuple[datetime, datetime]]:
    """n distinct one-hour slots on weekdays 08:00-18:00 UTC (inside every seeded site's hours)."""
    out: list[tuple[datetime, datetime]] = []
    d = datetime.now(UTC).date() + timedelta(days=days_ahead)
    while len(out) < n:
        if d.weekday() < 5:
            for h in range(9, 17):
                s = datetime(d.year, d.month, d.day, h, tzinfo=UTC)
                out.append((s, s + timedelta(hours=1)))
        d += timedelta(days=1)
    return out[:n]


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 60, what: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


async def outbox_empty(store: DocumentStore) -> bool:
    return sum([await store.count(c, {"outbox_pending": True}) for c in st.OUTBOX_COLLECTIONS]) == 0


async def read_all(bus: EventBus, topic: str) -> list[CloudEvent]:
    return [e async for _, e in bus.read([topic])]


async def usage_total(store: DocumentStore) -> dict[str, Any]:
    docs = await store.find(st.USAGE, {})
    return {"bookings": sum(d["bookings"] for d in docs), "docs": len(docs)}


def pid(sub: str, issuer: str = DEV_ISSUER) -> str:
    """The platform id of a person of ``issuer`` (the development issuer by default)."""
    return person_id(issuer, sub)


class Clock:
    """A settable clock to inject where the code takes ``Callable[[], datetime]``."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def publish_on(app: Any, service: str, topic: str, *events: CloudEvent) -> None:
    """Publish events on the embedded bus of one of the app's services, as MirrorMaker 2 would deliver
    partners' replicas (on ``<alias>.<service>.events``)."""
    (component,) = [c for c in app.state.components if c.name == service]
    await component.bus.publish(topic, list(events))


BOLOGNA_API = "https://bologna.example/api/v1"


def cork_with_bologna(data_dir: Any, stale_after_s: float = 600) -> RuntimeSettings:
    """A Cork (IE05) instance without demo data that trusts Bologna (ITH5) as a partner, whose API base
    is ``BOLOGNA_API``: the network views' component tests."""
    bologna = TrustedIssuer(
        issuer="https://id.bologna.example", region="ITH5", jwks_uri="https://id.bologna.example/jwks",
        api_base=BOLOGNA_API,
    )  # fmt: skip
    return RuntimeSettings(
        data_dir=data_dir,
        region="IE05",
        seed_demo=False,
        relay_interval_s=0.05,
        auth_partners=[bologna],
        network_stale_after_s=stale_after_s,
    )


def applied(*event_ids: str) -> str:
    """A projection document's record of handled events, written out from its documented format (each id's
    BLAKE2b-64 in base64url, 11 characters, oldest first), not by the code that keeps it."""
    return "".join(
        base64.urlsafe_b64encode(hashlib.blake2b(i.encode(), digest_size=8).digest()).decode()[:11] for i in event_ids
    )
