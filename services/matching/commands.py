"""Commands the matching service accepts: strict input models (unknown fields are refused, so ids,
versions, owners, regions of people and statuses can never be posted)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from clustergrowth.auth import PERSON_ID_PATTERN
from clustergrowth.types import PersonName
from contracts.matching import Programme

NUTS2 = r"^[A-Z]{2}[0-9A-Z]{2}$"
TERM = r"^[0-9]{4}-(autumn|spring|summer)$"
IPTemplate = Literal["open-results", "nda-portfolio-safe", "ip-assignment-portfolio-safe"]
IP_TEMPLATES: dict[str, str] = {
    "open-results": "Results may be published by all parties; students keep full portfolio rights.",
    "nda-portfolio-safe": (
        "The SME's confidential information stays confidential; students may still describe their role, "
        "methods and skills in a portfolio, CV or thesis without confidential figures."
    ),
    "ip-assignment-portfolio-safe": (
        "Results are assigned to the SME; students keep a licence to show a redacted summary in their "
        "portfolio and to be named as contributors."
    ),
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Language = Annotated[str, Field(pattern=r"^[a-z]{2}$", description="ISO 639-1 code")]
Skill = Annotated[str, Field(min_length=1, max_length=60)]


def _after(start_field: str) -> Any:
    """A validator for an end date: not before ``start_field`` and at most a year after it."""

    def check(cls: type, v: date, info: ValidationInfo) -> date:
        start = info.data.get(start_field)
        if start is not None:
            if v < start:
                raise ValueError(f"is before {start_field}")
            if (v - start).days > 366:
                raise ValueError("the window is longer than a year; split it into terms")
        return v

    return check


class PostChallenge(Strict):
    """A challenge an SME offers to a student team (consultancy) or a visiting academic."""

    programme: Programme = "consultancy"
    title: str = Field(min_length=3, max_length=200)
    scope: str = Field(min_length=10, max_length=5000, description="what the team should deliver")
    skills: list[Skill] = Field(default_factory=list, max_length=20)
    languages: list[Language] = Field(min_length=1, max_length=5)
    region: str = Field(pattern=NUTS2, description="NUTS-2 code where the work happens")
    work_mode: Literal["on_site", "remote", "hybrid"]
    term: str = Field(pattern=TERM, description="academic term, e.g. 2027-spring")
    starts_on: date
    ends_on: date
    capacity: int = Field(ge=1, le=10, description="team size")
    ip_template: IPTemplate = Field(description="IP/NDA terms; every template protects students' portfolios")
    supervisor: str | None = Field(
        None,
        pattern=PERSON_ID_PATTERN,
        validate_default=True,
        description="platform id (`p-…`) of the supervising academic (required for consultancy)",
    )
    sme_id: str | None = Field(None, max_length=100, description="mapping-service id of the SME")

    _ends = field_validator("ends_on")(_after("starts_on"))

    @field_validator("supervisor")
    @classmethod
    def _supervised(cls, v: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("programme") == "consultancy" and not v:
            raise ValueError("a consultancy challenge needs a supervising academic")
        return v


class Profile(Strict):
    """A candidate's profile: students for consultancy, academics for change of perspective.

    Home region comes from the token, never from the body.
    """

    kind: Literal["student", "academic"] = Field(description="student (consultancy) or academic (placements)")
    display_name: PersonName | None = Field(
        None,
        description="the name shown (else your platform id) to the hosts of the challenges you rank and of your "
        "matches, and to the coordinator; an academic's also to those who post challenges (GET /supervisors)",
    )
    skills: list[Skill] = Field(default_factory=list, max_length=30, description="skills or expertise")
    languages: list[Language] = Field(min_length=1, max_length=8)
    programme_of_study: str | None = Field(None, max_length=200, description="students: degree programme")
    available_from: date
    available_until: date
    cross_border: bool = Field(False, description="willing to work on site in another region")
    supervision_capacity: int = Field(
        6, ge=1, le=50, description="academics: how many consultancy students they can supervise"
    )

    _until = field_validator("available_until")(_after("available_from"))


class Ranking(Strict):
    """Ids best first, each once."""

    ranking: list[str] = Field(max_length=200)


class RunRound(Strict):
    programme: Programme
    term: str = Field(pattern=TERM)
    mode: Literal["stable", "optimal"] = "stable"
    proposal_ttl_hours: float | None = Field(
        None, gt=0, le=24 * 60, description="how long proposals stay open (default: the service setting)"
    )


class Decline(Strict):
    reason: str | None = Field(None, max_length=1000)


class Milestone(Strict):
    title: str = Field(min_length=3, max_length=200)
    due_on: date


class Rating(Strict):
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(None, max_length=2000)
