"""Writing state and its events together: the outbox embedded in the aggregate's document."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from clustergrowth.envelope import CloudEvent
from clustergrowth.store.port import Doc, DocumentStore, DuplicateKey

OUTBOX = "outbox"
PENDING = "outbox_pending"


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
    outbox = list(doc.get(OUTBOX) or []) + [e.to_dict() for e in events]
    new = {**doc, OUTBOX: outbox, PENDING: bool(outbox)}
    if expected_version is None:
        try:
            await store.insert(collection, new)
        except DuplicateKey as e:
            raise ConcurrentUpdate(str(e)) from e
    elif not await store.replace(collection, new, expected_version):
        raise ConcurrentUpdate(f"{collection}/{doc['_id']} changed since version {expected_version}")
    if events and on_saved:
        on_saved(collection)
