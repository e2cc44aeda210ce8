"""What the training API answers: explicit output models, so that nothing stored leaks by accident
(answers and scores only to the SME's organisation; no outbox, no version, no applied event ids)."""

from __future__ import annotations

from pydantic import BaseModel


class PracticeScale(BaseModel):
    min: float
    max: float


class PracticeAssessmentOut(BaseModel):
    id: str
    sme_id: str
    instrument: str
    instrument_version: str
    scale: PracticeScale
    answers: dict[str, int]
    scores: dict[str, float]
    areas: dict[str, float]
    overall: float
    previous_assessment_id: str | None
    region: str
    nace_division: str
    size_class: str
    councils: list[str]
    assessed_at: str


class FocusAreaOut(BaseModel):
    practice: str
    name: str
    area: str
    baseline: float | None
    target: float
    due: str
    needs: list[str]
    placement_suggested: bool


class GrowthPlanOut(BaseModel):
    id: str
    sme_id: str
    assessment_id: str
    instrument: str
    instrument_version: str
    growth_needs: list[str]
    focus_areas: list[FocusAreaOut]
    practices_to_address: list[str]
    suggested_modules: list[str]
    due: str
    status: str
    created_at: str
    updated_at: str
    invited_at: str | None
