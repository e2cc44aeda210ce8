"""What the modules routes accept: strict input models (unknown fields refused), every string and list
bounded. Practice ids are the assessment instruments' ids (``ops_lean``, ``q3``…): any id of that shape is
taken, so modules need not wait for an instrument version to name a practice."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from clustergrowth.auth import PERSON_ID_PATTERN
from clustergrowth.types import Instant, PersonName

PracticeId = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Person = Annotated[str, Field(pattern=PERSON_ID_PATTERN, description="a person's platform id (`p-…`)")]
Format = Literal["in_person", "online", "blended"]
MAX_SESSIONS = 40
MAX_CAPACITY = 200


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _text_time(v: object) -> object:
    if not isinstance(v, str | datetime):  # numbers would be read as Unix seconds
        raise ValueError("must be an ISO 8601 string with an offset, e.g. 2027-03-01T10:00:00+01:00")
    return v


def _unique(v: list[str]) -> list[str]:
    if len(set(v)) != len(v):
        raise ValueError("are repeated")
    return v


class SessionIn(Strict):
    """One dated session of a module."""

    title: str = Field(min_length=1, max_length=200)
    start: Instant
    end: Instant
    place: str | None = Field(None, min_length=1, max_length=200, description="room or address (in person)")

    _times = field_validator("start", "end", mode="before")(_text_time)


class _ModuleFields(Strict):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    practices: list[PracticeId] = Field(min_length=1, max_length=18, description="practice ids the module addresses")
    language: str = Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$", description="BCP 47 language, e.g. en, it, en-IE")
    format: Format
    duration_hours: int = Field(ge=1, le=500, description="learning time in hours")
    capacity: int = Field(ge=1, le=MAX_CAPACITY, description="confirmed places; more people join the waitlist")
    sessions: list[SessionIn] = Field(min_length=1, max_length=MAX_SESSIONS)
    min_sessions: int | None = Field(
        None, ge=1, le=MAX_SESSIONS, description="sessions to attend for completion (default: all of them)"
    )

    _practices_unique = field_validator("practices")(_unique)


class CreateModule(_ModuleFields):
    """A training module of this region, run by its coordinator."""


class UpdateModule(Strict):
    """Change a module: more capacity promotes from the waitlist; less than those confirmed is refused."""

    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=4000)
    capacity: int | None = Field(None, ge=1, le=MAX_CAPACITY)
    sessions: list[SessionIn] | None = Field(None, min_length=1, max_length=MAX_SESSIONS)
    min_sessions: int | None = Field(None, ge=1, le=MAX_SESSIONS)


class Attendance(Strict):
    """Who attended one session: the confirmed participants present (the rest are recorded absent)."""

    present: list[Person] = Field(max_length=MAX_CAPACITY)

    _present_unique = field_validator("present")(_unique)


class Enrol(Strict):
    """An enrolment's optional body: the name the participant goes by on the module's roster (shown to the
    module's coordinators and to the participant; without one the roster shows the platform id)."""

    display_name: PersonName | None = Field(None, description="the participant's name (1-100 characters)")


class Revoke(Strict):
    reason: str = Field(min_length=1, max_length=500)


class Verify(Strict):
    """A credential to check, as issued: the compact VC-JWT."""

    credential: str = Field(min_length=1, max_length=20000)
