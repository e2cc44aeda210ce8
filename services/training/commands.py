"""Commands the training service accepts: strict input models (unknown fields are refused), every list,
map and string bounded. Answers are checked against the instrument in the domain, so that every bad
answer is named at once."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.training import InstrumentId

Id = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._:-]+$")]
Key = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]
Version = Annotated[str, Field(min_length=1, max_length=10, pattern=r"^[0-9]+$")]
Answer = Annotated[Any, Field(description="wms: a whole number 1-5; mops: the chosen option's index (0 = first)")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AssessPractices(Strict):
    """An SME's answers to one version of an instrument (the latest when none is named)."""

    sme_id: Id = Field(description="an SME of your organisation, as known here from mapping's assessments")
    instrument: InstrumentId
    instrument_version: Version | None = None
    answers: dict[Key, Answer] = Field(max_length=40, description="answer per practice/question id")
    previous_assessment_id: Id | None = Field(None, description="the assessment this one re-assesses")


class CreateGrowthPlan(Strict):
    """Generate the growth action plan of a baseline assessment."""

    assessment_id: Id


class FocusAreaIn(Strict):
    practice: Key
    target: float = Field(ge=0, le=5, description="the score aimed at, on the instrument's scale")
    due: date | None = Field(None, description="when (ISO date); the plan's due date if left out")


class EditGrowthPlan(Strict):
    """The SME's changes to its plan: focus areas (1-3) and/or the due date."""

    focus_areas: list[FocusAreaIn] | None = Field(None, min_length=1, max_length=3)
    due: date | None = None
