"""What the training service reads: mapping's ``SMEAssessed`` becomes its own projection of SMEs (facts
for peer groups, the organisation for tenancy, the latest growth needs). Each event is applied once
(``apply_once``); an older assessment arriving after a newer one changes nothing."""

from __future__ import annotations

from typing import Any

from clustergrowth.envelope import CloudEvent
from clustergrowth.inbox import apply_once
from clustergrowth.store.port import DocumentStore
from contracts import mapping as mapping_ev
from services.training import store as st
from services.training.domain.benchmark import country_of, section_of
from services.training.reads import Assessed

GROUP = "training.smes"
ASSESSED = mapping_ev.SMEAssessed.event_type()
READS = {ASSESSED: Assessed}  # event type -> the narrow model read


def facts(d: Assessed) -> dict[str, Any]:
    """An SME as this service keeps it."""
    return {
        "region": d.region,
        "country": country_of(d.region),
        "nace": d.nace,
        "nace_division": d.sector,
        "nace_section": section_of(d.sector),
        "size_class": d.size_class,
        "councils": list(d.councils),
        "organisation": d.organisation,
        "top_needs": list(d.top_needs),
        "needs_assessment_id": d.assessment_id,
        "needs_assessed_at": d.assessed_at,
    }


class SmeFacts:
    """Keeps ``smes`` from ``SMEAssessed``."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    async def handle(self, event: CloudEvent) -> None:
        if event.type != ASSESSED:
            return
        d = Assessed.model_validate(event.data)

        def mutate(doc: dict[str, Any]) -> dict[str, Any]:
            if (doc.get("needs_assessed_at") or "", doc.get("needs_assessment_id") or "") > (
                d.assessed_at,
                d.assessment_id,
            ):
                return doc  # a newer assessment is known already
            return {**doc, **facts(d)}

        await apply_once(self.store, st.SMES, d.sme_id, event.id, mutate)
