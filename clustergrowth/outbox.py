"""The outbox relay: publish pending events from aggregate documents, then remove them.

A crash between publishing and removing republishes on the next pass: delivery is at least once and
consumers de-duplicate by event id. Order is kept per document (events are published in the order
they were written, and removal only after the broker acknowledged all of them).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import UTC, datetime

from clustergrowth import telemetry
from clustergrowth.aggregate import OUTBOX, PENDING
from clustergrowth.bus.port import EventBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.metrics import OUTBOX_OLDEST_AGE, OUTBOX_PENDING, OUTBOX_PUBLISHED
from clustergrowth.store.port import Doc, DocumentStore

log = logging.getLogger("clustergrowth.outbox")


class OutboxRelay:
    """Moves events from documents' outboxes to their topic; one per service."""

    def __init__(
        self,
        service: str,
        store: DocumentStore,
        bus: EventBus,
        routes: dict[str, str],
        *,
        interval_s: float = 0.5,
        batch: int = 200,
    ) -> None:
        self.service = service
        self.store = store
        self.bus = bus
        self.routes = routes  # collection -> topic
        self.interval_s = interval_s
        self.batch = batch
        self._wake = asyncio.Event()
        self._dirty: set[str] = set()
        self._stopped = False

    def notify(self, collection: str | None = None) -> None:
        """Wake the relay now: a write just added events (to ``collection``, if named)."""
        self._dirty.add(collection or "*")
        self._wake.set()

    async def run_once(self, only: set[str] | None = None) -> int:
        """Publish everything pending now (in ``only`` those collections), batched per topic.

        Returns how many events were published.
        """
        published = 0
        oldest: str | None = None
        pending_total = 0
        try:
            for collection, topic in self.routes.items():
                if only is not None and collection not in only:
                    continue
                docs = await self.store.find(collection, {PENDING: True}, limit=self.batch)
                batch: list[CloudEvent] = []
                for doc in docs:
                    events = [CloudEvent.from_dict(e) for e in doc.get(OUTBOX) or []]
                    batch += events  # documents' events stay in order: same key, same partition, one producer
                    if events and (oldest is None or events[0].time < oldest):
                        oldest = events[0].time
                pending_total += len(batch)
                if not batch:
                    continue
                if telemetry.enabled():
                    await self._publish_traced(topic, batch)
                else:
                    await self.bus.publish(topic, batch)
                await asyncio.gather(*[self._remove(collection, doc) for doc in docs])
                published += len(batch)
                OUTBOX_PUBLISHED.labels(self.service).inc(len(batch))
        finally:  # also when the broker refused a batch: what this pass found and could not publish
            OUTBOX_PENDING.labels(self.service).set(max(0, pending_total - published))
            age = (datetime.now(UTC) - datetime.fromisoformat(oldest)).total_seconds() if oldest else 0.0
            OUTBOX_OLDEST_AGE.labels(self.service).set(age)
        return published

    async def _publish_traced(self, topic: str, batch: list[CloudEvent]) -> None:
        """Publish with a producer span per event, child of the context the event was made in; the event
        goes out carrying the producer span's context, which its consumers continue."""
        system = telemetry.system_of(self.bus)
        spans = [telemetry.producer_span(topic, e.id, e.traceparent, system) for e in batch]
        sent = [
            dataclasses.replace(e, traceparent=telemetry.traceparent_of(s)) for e, s in zip(batch, spans, strict=True)
        ]
        try:
            await self.bus.publish(topic, sent)
        except BaseException as e:
            telemetry.end_failed(spans, e)
            raise
        for s in spans:
            s.end()

    async def _remove(self, collection: str, doc: Doc) -> None:
        """Drop the published events from the document, keeping any that were added meanwhile."""
        await self.store.drop_outbox(collection, doc["_id"], {e["id"] for e in doc.get(OUTBOX) or []})

    async def run(self) -> None:
        """Relay until stopped; a failing broker is retried with backoff, never dropped.

        A write's wake-up scans only the collection it named; the periodic pass scans them all.
        """
        backoff = 0.1
        scope: set[str] | None = None  # None: scan every collection
        while not self._stopped:
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            this_pass = None if scope is None or "*" in dirty else scope | dirty
            try:
                n = await self.run_once(this_pass)
                backoff = 0.1
                if n:
                    scope = this_pass  # there may be more than one batch
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("outbox relay pass failed; retrying in %.1fs", backoff, exc_info=True)  # pragma: no mutate
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                scope = None
                continue
            try:
                async with asyncio.timeout(self.interval_s):  # not wait_for: it can swallow a cancel
                    await self._wake.wait()
                scope = set()
            except TimeoutError:
                scope = None

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()
