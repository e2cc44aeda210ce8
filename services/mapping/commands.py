"""Commands the mapping service accepts: strict input models (unknown fields are refused)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.mapping.domain.codes import code_lists

LawfulBasis = Literal["consent", "contract", "legitimate_interest", "public_task"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Contact(Strict):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Consent(Strict):
    """Why the platform may hold this SME's data (GDPR Art. 6)."""

    lawful_basis: LawfulBasis
    note: str | None = Field(None, max_length=500)


class RegisterSME(Strict):
    """Register an engineering SME; its size class is computed, never typed in."""

    legal_name: str = Field(min_length=1, max_length=300)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    region: str = Field(description="NUTS-2 code")
    nuts3: str = Field(description="NUTS-3 code inside region")
    nace_primary: str = Field(description="NACE Rev. 2 code, e.g. C28.29")
    nace_secondary: list[str] = Field(default_factory=list, max_length=10)
    headcount: int = Field(ge=0, le=1_000_000, description="staff headcount (annual work units)")
    turnover_eur: float = Field(ge=0)
    balance_sheet_eur: float = Field(ge=0)
    founded: int = Field(ge=1800, description="founding year")
    clusters: list[str] = Field(default_factory=list, max_length=20)
    councils: list[str] = Field(default_factory=list, max_length=6)
    contact: Contact
    consent: Consent

    @field_validator("region")
    @classmethod
    def _nuts2(cls, v: str) -> str:
        if v not in code_lists().regions:
            raise ValueError(f"unknown NUTS-2 code {v!r}")
        return v

    @field_validator("nace_primary")
    @classmethod
    def _nace(cls, v: str) -> str:
        if v not in code_lists().nace:
            raise ValueError(f"unknown NACE Rev. 2 code {v!r}")
        return v

    @field_validator("nace_secondary")
    @classmethod
    def _naces(cls, v: list[str]) -> list[str]:
        bad = [x for x in v if x not in code_lists().nace]
        if bad:
            raise ValueError(f"unknown NACE Rev. 2 codes {bad}")
        return v

    @field_validator("founded")
    @classmethod
    def _past(cls, v: int) -> int:
        if v > datetime.now(UTC).year:
            raise ValueError("is in the future")
        return v


class SubmitAssessment(Strict):
    """Answers to one version of the growth-needs instrument, by question id."""

    instrument_version: str = Field(min_length=1, max_length=10)
    answers: dict[str, int | float | str | None] = Field(description="question id -> answer on the scale")
