"""Writing state and its events together: the outbox embedded in the aggregate's document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from clustergrowth.envelope import CloudEvent
from clustergrowth.metrics import WRITE_CONFLICTS
from clustergrowth.problems import ServiceUnavailable
from clustergrowth.store.port import OUTBOX, PENDING, Doc, DocumentStore, DuplicateKey

__all__ = ["OUTBOX", "PENDING", "ConcurrentUpdate", "save", "update"]


class ConcurrentUpdate(Exception):
    """Another writer changed the document first; reload and try again."""


async def save(
    store: DocumentStore,
    collection: str,
    doc: Doc,
    events: Sequence[CloudEvent],
    *,
    expected_version: int | None,
    on_saved: Callable[[str], None] | None = None,
) -> None:
    """One guarded write of new state plus its pending events (insert when ``expected_version`` is None).

    ``on_saved(collection)`` wakes the relay for that collection once the write is durable.
    """
    added = [e.to_dict() for e in events]
    if expected_version is None:
        outbox = list(doc.get(OUTBOX) or []) + added
        try:
            await store.insert(collection, {**doc, OUTBOX: outbox, PENDING: bool(outbox)})
        except DuplicateKey as e:
            raise ConcurrentUpdate(str(e)) from e
    elif not await store.replace_with_outbox(collection, doc, added, expected_version):
        raise ConcurrentUpdate(f"{collection}/{doc['_id']} changed since version {expected_version}")
    if events and on_saved:
        on_saved(collection)


ATTEMPTS = 20
T = TypeVar("T")
Change = Callable[[Doc | None], Awaitable[tuple[Doc, Sequence[CloudEvent], T]]]


async def update(
    store: DocumentStore,
    collection: str,
    id: str,
    change: Change[T],
    *,
    on_saved: Callable[[str], None] | None = None,
    attempts: int = ATTEMPTS,
    busy: str = "busy",
) -> T:
    """Read → change → guarded write, retried when another writer got there first; the one loop for that.

    ``change(doc)`` gets the stored document (``None`` when there is none, then the write is an insert) and
    returns the new document, its events and a result; it may raise a Problem, which ends the attempt
    with nothing written. After ``attempts`` lost races the caller gets 503 with ``busy`` as its detail.
    """
    for _ in range(attempts):
        doc = await store.get(collection, id)
        new, events, result = await change(doc)
        try:
            await save(
                store,
                collection,
                new,
                events,
                expected_version=None if doc is None else doc["version"],
                on_saved=on_saved,
            )
            return result
        except ConcurrentUpdate:
            WRITE_CONFLICTS.labels(collection).inc()
            continue
    raise ServiceUnavailable(f"{busy}; try again")
