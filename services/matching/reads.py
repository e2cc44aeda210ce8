"""What the matching service reads of other services' events: narrow local models, only the fields it
uses. A test checks each against the producer's committed JSON Schema, so a producer's change that would
break this reader fails the build."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Assessed(BaseModel):
    """The part of ``SMEAssessed`` this service reads (checked against the producer's committed schema)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sme_id: str
    assessment_id: str
    region: str
    scores: dict[str, float]
    top_needs: list[str]
    assessed_at: str
    organisation: str | None = None
