"""What the mapping API answers: wire models, apart from the stored documents, so that what is stored
can change without changing the API (and nothing stored leaks into an answer by accident)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from services.mapping.commands import Contact, LawfulBasis


class Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ConsentOut(Wire):
    lawful_basis: LawfulBasis
    note: str | None = None
    recorded_at: str
    recorded_by: str | None = None


class AssessmentOut(Wire):
    id: str
    instrument_version: str
    answers: dict[str, Any]
    scores: dict[str, float]
    top_needs: list[str]
    assessed_at: str
    assessed_by: str | None = None


class SMEOut(Wire):
    id: str
    legal_name: str
    country: str
    region: str
    nuts3: str
    nace_primary: str
    nace_secondary: list[str] = []
    sector: str
    size_class: str
    headcount: int
    turnover_eur: float
    balance_sheet_eur: float
    founded: int
    clusters: list[str] = []
    councils: list[str] = []
    contact: Contact
    consent: ConsentOut
    organisation: str | None = None
    created_by: str | None = None
    registered_at: str
    assessments: list[AssessmentOut] = []


class SMEExport(SMEOut):
    """Everything held about an SME, for its data-portability right."""

    exported_at: str
