"""How matching aggregates map onto documents of the service's own database.

Every aggregate is one document with its outbox embedded, so state and events are one write:
a challenge, a candidate profile, an allocation round, and a match (proposal, then engagement).
"""

from __future__ import annotations

from clustergrowth.store.port import DocumentStore

CHALLENGES = "challenges"
CANDIDATES = "candidates"  # _id = the person's subject
ROUNDS = "rounds"
SMES = "smes_known"  # which organisation each SME belongs to, from SMEAssessed (for challenges that name one)
MATCHES = "matches"  # _id = "<round id>:<candidate>"
OUTBOX_COLLECTIONS = (CHALLENGES, MATCHES)


async def ensure_indexes(store: DocumentStore) -> None:
    await store.ensure_index(CHALLENGES, ["status"])
    await store.ensure_index(MATCHES, ["status"])
    await store.ensure_index(MATCHES, ["candidate"])
    await store.ensure_index(MATCHES, ["challenge_id"])
    await store.ensure_index(ROUNDS, ["status"])
    await store.ensure_index(CANDIDATES, ["kind"])  # the academics who offer supervision
    # the sort keys of the list routes' pages (newest first)
    await store.ensure_index(CHALLENGES, ["posted_at", "suggested_at", "_id"])
    await store.ensure_index(ROUNDS, ["run_at", "_id"])
    await store.ensure_index(MATCHES, ["proposed_at", "_id"])
    for c in OUTBOX_COLLECTIONS:
        await store.ensure_index(c, ["outbox_pending"])
