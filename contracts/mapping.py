"""Events published by the mapping service on topic ``mapping.events``.

They carry no personal data (no contact person), so the event log needs no erasure of its own;
``SMEErased`` tells projections to forget an SME.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from clustergrowth.events import EventData

TOPIC = "mapping.events"


class _Mapping(EventData):
    service: ClassVar[str] = "mapping"


class SMERegistered(_Mapping):
    """An engineering SME was registered."""

    name: ClassVar[str] = "SMERegistered"
    sme_id: str = Field(description="id of the SME")
    region: str = Field(description="NUTS-2 code")
    nuts3: str = Field(description="NUTS-3 code")
    country: str = Field(description="ISO 3166-1 alpha-2 country code")
    nace: str = Field(description="primary NACE Rev. 2 code, e.g. C28.29")
    sector: str = Field(description="NACE division of the primary code, e.g. C28")
    size_class: str = Field(description="micro, small, medium or large (EU 2003/361/EC)")
    headcount: int = Field(description="staff headcount (annual work units)")
    councils: list[str] = Field(description="Cluster Growth Councils the SME belongs to")


class SMEAssessed(_Mapping):
    """An SME answered the growth-needs instrument; scores are 1-5 maturity per dimension."""

    name: ClassVar[str] = "SMEAssessed"
    sme_id: str = Field(description="id of the SME")
    assessment_id: str = Field(description="id of this assessment (an SME is re-assessed over time)")
    region: str = Field(description="NUTS-2 code")
    nace: str = Field(description="primary NACE Rev. 2 code")
    sector: str = Field(description="NACE division, e.g. C28")
    size_class: str = Field(description="micro, small, medium or large")
    headcount: int = Field(description="staff headcount")
    councils: list[str] = Field(description="Cluster Growth Councils the SME belongs to")
    instrument_version: str = Field(description="version of the instrument answered, e.g. 1")
    scores: dict[str, float] = Field(description="maturity 1-5 per dimension id")
    top_needs: list[str] = Field(description="dimension ids, the greatest need first")
    assessed_at: str = Field(description="ISO 8601 UTC time of the submission")
    organisation: str | None = Field(None, description="organisation that registered the SME, if known")


class SMEErased(_Mapping):
    """An SME's data was erased at its request; projections must forget it."""

    name: ClassVar[str] = "SMEErased"
    sme_id: str = Field(description="id of the erased SME")
    region: str = Field(description="NUTS-2 code it had")
    sector: str = Field(description="NACE division it had")


ALL: list[type[EventData]] = [SMERegistered, SMEAssessed, SMEErased]
