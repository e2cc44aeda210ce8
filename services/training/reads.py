"""What the training service reads of other services' events: narrow local models, only the fields it
uses. A test checks each against the producer's committed JSON Schema (``consumers.READS``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Assessed(BaseModel):
    """The part of mapping's ``SMEAssessed`` this service reads: the facts peers are grouped by, the
    organisation (who may assess the SME here), and the growth needs plans start from."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sme_id: str
    assessment_id: str
    region: str
    nace: str
    sector: str
    size_class: str
    councils: list[str]
    top_needs: list[str]
    assessed_at: str
    organisation: str | None = None
