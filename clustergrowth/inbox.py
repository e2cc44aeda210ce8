"""Consumers that have an effect once per event, commit after handling, and park poison events.

``apply_once`` makes a projection update idempotent without transactions: the record of handled events
lives in the same document as the effect, so the effect and the record of it are one guarded write. The
record is one string of fixed-width digests (``event_digest``), not a list of ids: a busy projection
document is read, decoded, checked and written back on every event, and 2,000 ids as a JSON list were
most of that work.
``run_consumer`` drives a handler over a bus subscription with bounded retries and a dead-letter topic;
``run_federated_consumer`` does the same over this region's topics and its partners' replicas of them,
telling the handler each event's ``Origin``.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime

from clustergrowth import logs, telemetry
from clustergrowth.bus.federation import ForeignEvent, Origin, origin_of, partner_pattern
from clustergrowth.bus.port import Delivery, EventBus, dlq_topic
from clustergrowth.envelope import CloudEvent
from clustergrowth.metrics import CONSUMER_HANDLED, CONSUMER_LAG
from clustergrowth.store.port import Doc, DocumentStore, DuplicateKey

log = logging.getLogger("clustergrowth.inbox")
APPLIED = "applied_events"
WINDOW = 2000  # handled events remembered per projection document
DIGEST = 11  # characters of an event's digest in the record


def event_digest(event_id: str) -> str:
    """An event id as it is remembered: BLAKE2b-64 of its UTF-8, base64url, 11 characters. Two of the
    2,000 remembered in one document share a digest with odds of about 1 in 10^16."""
    return base64.urlsafe_b64encode(hashlib.blake2b(event_id.encode(), digest_size=8).digest())[:DIGEST].decode()


def _record(value: object) -> str:
    """A stored record as digests: a string as it is, a list of event ids (stored before) digested."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(event_digest(str(i)) for i in value)
    return ""


def was_applied(doc: Doc | None, event_id: str) -> bool:
    """Whether ``doc``'s record holds this event (a digest found at a digest's place in the string)."""
    if doc is None:
        return False
    value = doc.get(APPLIED)
    if isinstance(value, list):  # ids as stored before: looked up as they are, not digested each time
        return event_id in value
    record, digest = _record(value), event_digest(event_id)
    at = record.find(digest)
    while at != -1 and at % DIGEST:  # found across two digests: look further
        at = record.find(digest, at + 1)
    return at != -1


def with_applied(record: object, event_id: str) -> str:
    """The record with this event added last, the oldest forgotten beyond ``WINDOW``."""
    return (_record(record) + event_digest(event_id))[-WINDOW * DIGEST :]


def applied_record(event_ids: Iterable[str]) -> str:
    """The record of these events, in order, the last ``WINDOW`` kept (a projection rebuilt in memory)."""
    return "".join(event_digest(i) for i in event_ids)[-WINDOW * DIGEST :]


Handler = Callable[[CloudEvent], Awaitable[None]]
FederatedHandler = Callable[[CloudEvent, Origin], Awaitable[None]]


async def apply_once(
    store: DocumentStore,
    collection: str,
    id: str,
    event_id: str,
    mutate: Callable[[Doc], Doc],
) -> bool:
    """Apply ``mutate`` to document ``id`` unless this event was applied already; True if applied."""
    while True:
        doc = await store.get(collection, id)
        if was_applied(doc, event_id):
            return False
        base = doc if doc is not None else {"_id": id}
        new = mutate({k: v for k, v in base.items() if k != APPLIED})
        new[APPLIED] = with_applied(base.get(APPLIED), event_id)
        try:
            if doc is None:
                await store.insert(collection, new)
                return True
            if await store.replace(collection, new, doc["version"]):
                return True
        except DuplicateKey:
            pass  # a concurrent first insert; reload and decide again


async def run_consumer(
    bus: EventBus,
    group: str,
    topics: Sequence[str],
    handler: Handler,
    *,
    retries: int = 3,
    backoff_s: float = 0.05,
    source: str = "clustergrowth",
) -> None:
    """Handle every delivery; commit only after it was handled or parked on the dead-letter topic.

    Reads only ``topics`` (this region's own): partners' replicas never reach a consumer that is not
    federated. Commits are gathered as ``Commits`` says."""
    commits = Commits()
    async for delivery in bus.consume(group, topics):
        event = delivery.event
        if event is None:
            await _park_undecodable(bus, delivery, delivery.topic, group, source)
        else:
            await _handle(
                bus, group, delivery, event, delivery.topic, functools.partial(handler, event), retries, backoff_s
            )
        await commits.done(delivery)


async def run_federated_consumer(
    bus: EventBus,
    group: str,
    topics: Sequence[str],
    handler: FederatedHandler,
    *,
    region: str,
    retries: int = 3,
    backoff_s: float = 0.05,
    source: str = "clustergrowth",
) -> None:
    """Like ``run_consumer`` over this region's ``topics`` and every partner's replica of them
    (``<alias>.<topic>``, found by pattern, also when created later); the handler gets each event with
    its ``Origin`` (local, or which partner). A replicated event that does not say it is its partner's is
    skipped and counted (label ``foreign``), never handled. Failures park on the local topic's
    dead-letter topic. Replicas are redelivered after a failover (translated offsets land earlier):
    handlers must be idempotent (``apply_once``)."""
    local = list(topics)
    commits = Commits()
    async for delivery in bus.consume(group, local, pattern=partner_pattern(local, region)):
        event = delivery.event
        try:
            origin = origin_of(delivery.topic, event, local, region) if event is not None else None
        except ForeignEvent as e:
            log.warning("%s skips %s: %s", group, delivery.position, e)  # pragma: no mutate
            CONSUMER_HANDLED.labels(group, "foreign").inc()
            await commits.done(delivery)
            continue
        parked_on = origin.local_topic if origin is not None else _local_of(delivery.topic, local)
        if event is None or origin is None:
            await _park_undecodable(bus, delivery, parked_on, group, source)
        else:
            await _handle(
                bus, group, delivery, event, parked_on, functools.partial(handler, event, origin), retries, backoff_s
            )
        await commits.done(delivery)


def _local_of(topic: str, local: Sequence[str]) -> str:
    """The local topic a replica mirrors (``ith5.facilities.events`` -> ``facilities.events``)."""
    return topic if topic in local else topic.partition(".")[2]


async def _park_undecodable(bus: EventBus, delivery: Delivery, topic: str, group: str, source: str) -> None:
    await _park_raw(bus, topic, group, delivery.position, delivery.raw_error or "", source)
    CONSUMER_HANDLED.labels(group, "dead_letter").inc()


async def _handle(
    bus: EventBus,
    group: str,
    delivery: Delivery,
    event: CloudEvent,
    dlq_of: str,
    call: Callable[[], Awaitable[None]],
    retries: int,
    backoff_s: float,
) -> None:
    """Call the handler with bounded retries; park the event on ``dlq_of``'s dead-letter topic when it
    keeps failing (the caller commits either way)."""
    token = logs.event_id.set(event.id)
    traced = (
        telemetry.consumer_span(delivery.topic, group, event, telemetry.system_of(bus)) if telemetry.enabled() else None
    )
    try:
        error: BaseException | None = None
        for attempt in range(retries + 1):
            try:
                await call()
                error = None
                break
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - every failure is retried, then parked
                error = e
                log.warning("handler failed (attempt %d/%d): %s", attempt + 1, retries + 1, e)  # pragma: no mutate
                await asyncio.sleep(backoff_s * (2**attempt))
        if error is not None:
            if traced is not None:
                traced.failed(error)
            await bus.publish(dlq_topic(dlq_of), [_dead_letter(event, group, error)])
            CONSUMER_HANDLED.labels(group, "dead_letter").inc()
        else:
            CONSUMER_HANDLED.labels(group, "handled").inc()
            try:
                age = (datetime.now(UTC) - datetime.fromisoformat(event.time)).total_seconds()
                CONSUMER_LAG.labels(group).set(max(age, 0.0))
            except ValueError:
                pass
    finally:
        logs.event_id.reset(token)
        if traced is not None:
            traced.close()


COMMIT_EVERY = 100  # handled deliveries at most between two commits, whatever the bus says


class Commits:
    """One consumer's commits: a handled (or parked) delivery is committed at once when the bus has no
    further record at hand (``Delivery.batch_end``, the last of a fetch), else the latest delivery of
    each stream once ``COMMIT_EVERY`` have gathered (a commit acknowledges its stream's earlier records).
    The embedded bus hands over up to 200 records of each topic a fetch: a consumer behind its topics
    commits every 100 records and at the end of a fetch, not once a record. What a crash or a stop
    leaves uncommitted is delivered again, and handlers are idempotent, as for a failed commit."""

    def __init__(self, every: int = COMMIT_EVERY) -> None:
        self.every = every
        self.pending: dict[str, Delivery] = {}
        self.gathered = 0

    async def done(self, delivery: Delivery) -> None:
        self.pending[delivery.stream or delivery.topic] = delivery
        self.gathered += 1
        if delivery.batch_end or self.gathered >= self.every:
            pending, self.pending, self.gathered = list(self.pending.values()), {}, 0
            for d in pending:
                await _commit(d)


async def _commit(delivery: Delivery) -> None:
    """Commit after handling; a failed commit (broker away, rebalance) only means a redelivery later,
    which the idempotent handler absorbs, so the consumer keeps going instead of dying."""
    try:
        await delivery.commit()
    except asyncio.CancelledError:
        raise
    except Exception as e:  # noqa: BLE001 - see the docstring
        log.warning("commit of %s failed, it will be redelivered: %s", delivery.position, e)  # pragma: no mutate


async def supervise(name: str, factory: Callable[[], Awaitable[None]], max_backoff_s: float = 10.0) -> None:
    """Run a long-lived loop (a consumer) and restart it after failures such as a broker outage.

    Uncommitted deliveries are simply delivered again after a restart; handlers are idempotent.
    """
    backoff = 0.2
    while True:
        try:
            await factory()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("%s failed; restarting in %.1fs", name, backoff, exc_info=True)  # pragma: no mutate
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff_s)


def _dead_letter(event: CloudEvent, group: str, error: BaseException) -> CloudEvent:
    data = {**event.data, "_dead_letter": {"group": group, "error": f"{type(error).__name__}: {error}"}}
    return CloudEvent(
        type=event.type,
        source=event.source,
        data=data,
        region=event.region,
        partitionkey=event.partitionkey,
        subject=event.subject,
        id=event.id,
        time=event.time,
        traceparent=event.traceparent,
        requestid=event.requestid,
    )


async def _park_raw(bus: EventBus, topic: str, group: str, position: str, error: str, source: str) -> None:
    await bus.publish(
        dlq_topic(topic),
        [
            CloudEvent(
                type="eu.smeclustergrowth.runtime.UndecodableRecord.v1",
                source=source,
                data={"group": group, "position": position, "error": error},
                region="",
                partitionkey=position,
            )
        ],
    )
