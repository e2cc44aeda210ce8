"""What the placements routes accept: strict input models (unknown fields refused), every string and list
bounded. Who a party is comes from the token, never from a body."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from clustergrowth.types import PersonName

Topic = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Language = Annotated[str, Field(pattern=r"^[a-z]{2}$", description="ISO 639-1 code")]
Id = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._:-]+$")]
Line = Annotated[str, Field(min_length=1, max_length=300)]
Party = Literal["applicant", "host", "sending_intermediary", "host_intermediary"]
PARTIES: tuple[Party, ...] = ("applicant", "host", "sending_intermediary", "host_intermediary")
MAX_WEEKS = 26
MAX_PARTS = 4


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _unique(v: list[str]) -> list[str]:
    if len(set(v)) != len(v):
        raise ValueError("are repeated")
    return v


class _Profile(Strict):
    offers: list[Topic] = Field(max_length=20, description="what this side brings (topics, e.g. lean, export)")
    seeks: list[Topic] = Field(min_length=1, max_length=20, description="what this side wants to learn or get")
    languages: list[Language] = Field(min_length=1, max_length=6)
    statement: str = Field("", max_length=4000)

    _offers_unique = field_validator("offers", "seeks", "languages")(_unique)


class ApplyForPlacement(_Profile):
    """The caller applies for a placement (a person working in an SME, or a new entrepreneur)."""

    kind: Literal["sme_staff", "new_entrepreneur"]
    name: PersonName | None = Field(None, description="the applicant's name, for those who see the application")
    business_started: date | None = Field(None, description="when the caller's business started, if it has")
    preferences: list[Id] = Field([], max_length=10, description="hosts the applicant prefers, best first")

    _prefs_unique = field_validator("preferences")(_unique)


class RegisterHost(_Profile):
    """The caller's organisation offers to host placements."""

    name: str = Field(min_length=1, max_length=200)
    kind: Literal["sme", "institution"]
    years_running: int = Field(ge=0, le=300, description="years the organisation has been running")
    places: int = Field(ge=1, le=5, description="placements it can host at once")
    preferences: list[Id] = Field([], max_length=20, description="applicants the host prefers, best first")

    _prefs_unique = field_validator("preferences")(_unique)


class Screen(Strict):
    """An intermediary's screening of an application or a host: accepted into the programme or not."""

    decision: Literal["accepted", "rejected"]
    note: str = Field("", max_length=1000)


class Suggest(Strict):
    """Match this region's accepted applicants to accepted hosts of any region."""

    mode: Literal["stable", "optimal"] = "stable"


class Part(Strict):
    """One stay of a placement: its first day and length in weeks."""

    start: date
    weeks: int = Field(ge=1, le=MAX_WEEKS)


class Terms(Strict):
    """A placement agreement: objectives, activity plan, and its dates as 1-4 parts (1-26 weeks in all)."""

    objectives: list[Line] = Field(min_length=1, max_length=10)
    activity_plan: str = Field(min_length=1, max_length=4000)
    parts: list[Part] = Field(min_length=1, max_length=MAX_PARTS)


class Propose(Terms):
    """An intermediary proposes an applicant to a host with the draft agreement."""

    applicant_id: Id
    host_id: Id


class Revise(Terms):
    """New terms; every acceptance given so far lapses. ``revision`` is the one the editor read."""

    revision: int = Field(ge=1)


class AcceptAgreement(Strict):
    """Accept the agreement as one party, naming the revision accepted (a later revision needs it again)."""

    party: Party
    revision: int = Field(ge=1)


class Report(Strict):
    kind: Literal["progress", "final"]
    text: str = Field(min_length=1, max_length=4000)


class End(Strict):
    reason: str = Field(min_length=1, max_length=1000)
