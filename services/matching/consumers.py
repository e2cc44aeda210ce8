"""What the matching service reads: ``SMEAssessed`` from the mapping service suggests draft challenges.

Idempotent by construction: the draft's id is derived from the assessment id, so a redelivered
event collides on insert and changes nothing.
"""

from __future__ import annotations

from clustergrowth.envelope import CloudEvent
from contracts import mapping as mapping_ev
from services.matching import handlers
from services.matching.reads import Assessed

GROUP = "matching.needs"
ASSESSED = mapping_ev.SMEAssessed.event_type()


READS = {ASSESSED: Assessed}  # event type -> the narrow model read


class NeedsConsumer:
    def __init__(self, m: handlers.Matching) -> None:
        self.m = m

    async def handle(self, event: CloudEvent) -> None:
        if event.type == ASSESSED:
            await handlers.suggest_draft(self.m, Assessed.model_validate(event.data))
