"""How councils aggregates map onto documents of the service's own database.

Each aggregate is one document with its outbox embedded, so state and its events are one write:
a council (profile, memberships and join requests), a meeting (registrations, attendance, minutes),
a decision (votes, outcome), an initiative, and a council's answer to a partner's initiative.
"""

from __future__ import annotations

from clustergrowth.store.port import DocumentStore

COUNCILS = "councils"
MEETINGS = "meetings"
DECISIONS = "decisions"
INITIATIVES = "initiatives"
SPONSORSHIPS = "sponsorships"  # this region's councils' answers to partners' initiatives naming them
OUTBOX_COLLECTIONS = (COUNCILS, MEETINGS, INITIATIVES, SPONSORSHIPS)


async def ensure_indexes(store: DocumentStore) -> None:
    await store.ensure_index(MEETINGS, ["council_id"])
    await store.ensure_index(DECISIONS, ["council_id"])
    await store.ensure_index(INITIATIVES, ["council_id"])
    # the sort keys of the list routes' pages
    await store.ensure_index(COUNCILS, ["city", "_id"])
    await store.ensure_index(MEETINGS, ["council_id", "start", "_id"])
    await store.ensure_index(DECISIONS, ["council_id", "opened_at", "_id"])
    await store.ensure_index(INITIATIVES, ["council_id", "proposed_at", "_id"])
    for c in OUTBOX_COLLECTIONS:
        await store.ensure_index(c, ["outbox_pending"])
