"""How training aggregates map onto documents of the service's own database.

- ``smes``: the service's projection of SMEs, from mapping's ``SMEAssessed`` (its facts for peer groups,
  its organisation for tenancy, its latest growth needs).
- ``assessments``: one document per submission, scores computed once and stored with the instrument
  version; its ``PracticesAssessed`` rides in its outbox.
- ``plans``: one growth action plan per baseline assessment (id derived from it), with its outbox.
- ``peers_g<N>`` / ``peers_meta``: the benchmark projection (``services.training.projection``).
"""

from __future__ import annotations

from clustergrowth.store.port import DocumentStore

SMES = "smes"
ASSESSMENTS = "assessments"
PLANS = "plans"
OUTBOX_COLLECTIONS = (ASSESSMENTS, PLANS)


def plan_id(assessment_id: str) -> str:
    """A plan's id, derived from its baseline assessment's: one plan per baseline, a second POST collides."""
    return "pl-" + assessment_id.removeprefix("as-")


async def ensure_indexes(store: DocumentStore) -> None:
    await store.ensure_index(SMES, ["organisation"])
    await store.ensure_index(ASSESSMENTS, ["organisation", "assessed_at", "_id"])
    await store.ensure_index(ASSESSMENTS, ["sme_id", "assessed_at", "_id"])
    await store.ensure_index(PLANS, ["organisation", "created_at", "_id"])
    await store.ensure_index(PLANS, ["invited_at", "due"])
    await store.ensure_index(PLANS, ["region"])
    for c in OUTBOX_COLLECTIONS:
        await store.ensure_index(c, ["outbox_pending"])
