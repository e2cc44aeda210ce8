"""What the matching API answers: wire models, apart from the stored documents, so that what is stored
can change without changing the API (and nothing stored leaks into an answer by accident).

Each model lists the fields an answer holds; a stored field not listed here (who created or published a
challenge and when, a profile's issuer and subject, a match's host key and expiry time, the outbox and
version) is never answered. Answers are built with ``Model.model_validate(stored view)``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.matching import Programme
from services.matching.commands import IPTemplate

WorkMode = Literal["on_site", "remote", "hybrid"]
MatchStatus = Literal["proposed", "active", "declined", "expired", "completed"]
Answer = Literal["accepted", "declined"]


class Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


# challenges


class NeedOut(Wire):
    """The assessed need that suggested a draft: its dimension and score (1-5)."""

    dimension: str
    score: float


class ChallengeOut(Wire):
    """A challenge: open (posted), or a draft suggested from an assessment (its posting fields null)."""

    id: str
    programme: Programme
    status: Literal["draft", "open"]
    title: str
    scope: str
    skills: list[str]
    languages: list[str]
    region: str
    work_mode: WorkMode | None = None
    term: str | None = None
    starts_on: str | None = None
    ends_on: str | None = None
    capacity: int | None = None
    ip_template: IPTemplate | None = None
    ip_terms: str | None = None
    supervisor: str | None = None
    sme_id: str | None = None
    organisation: str | None
    suggested_from: str | None
    need: NeedOut | None = None
    applicant_ranking: list[str]


# candidate profiles


class ProfileOut(Wire):
    """A candidate's profile and their ranking of challenges (`preferences`, best first)."""

    id: str
    kind: Literal["student", "academic"]
    display_name: str | None = None
    skills: list[str]
    languages: list[str]
    programme_of_study: str | None
    available_from: str
    available_until: str
    cross_border: bool
    supervision_capacity: int
    home_region: str
    organisation: str | None
    preferences: list[str]
    updated_at: str


class SupervisorOut(Wire):
    """An academic who offers supervision here (keeps an academic profile), as an SME's member picks the
    supervisor of a challenge: the name they give, their platform id, expertise and languages."""

    id: str
    display_name: str | None = None
    skills: list[str]
    languages: list[str]


class ApplicantOut(Wire):
    """A candidate who ranks a challenge, as its host side sees them to rank them in turn: what they
    offer and where they put this challenge in their own ranking (`rank`, 1 = first choice)."""

    id: str
    display_name: str | None = None
    kind: Literal["student", "academic"]
    skills: list[str]
    languages: list[str]
    programme_of_study: str | None
    available_from: str
    available_until: str
    cross_border: bool
    home_region: str
    rank: int


class ApplicantsOut(Wire):
    """A challenge's applicants (one page, by id) and the host's current ranking of them; the answer's
    ETag is the challenge's, for `PUT /challenges/{id}/ranking`."""

    challenge_id: str
    title: str
    programme: Programme
    status: Literal["draft", "open"]
    applicant_ranking: list[str]
    applicants: list[ApplicantOut]


# allocation rounds


class RoundAssignment(Wire):
    student: str
    display_name: str | None = Field(
        None, description="the candidate's display name from their profile, read when answered (null: none given)"
    )
    project: str


class RoundMetrics(Wire):
    """How good the allocation is: matched, the ranks they got, blocking pairs, cross-border share."""

    students: int
    matched: int
    mean_rank: float | None
    rank_distribution: dict[str, int]
    blocking_pairs: int
    cross_border_share: float | None


class WhyNot(Wire):
    project: str
    reason: str


def _number(schema: dict[str, Any]) -> None:
    """Document an optional field that is left out rather than null: a number, not required."""
    schema.pop("anyOf", None)
    schema.pop("default", None)
    schema["type"] = "number"


class CandidateExplanation(Wire):
    """Why a candidate got the challenge they got (`project`, null: none), and why not each one they
    ranked higher."""

    student: str
    display_name: str | None = Field(
        None, description="the candidate's display name from their profile, read when answered (null: none given)"
    )
    project: str | None
    rank: int | None
    why_not: list[WhyNot]
    preferences_from: str
    fit: float | None = Field(
        None,
        exclude_if=lambda v: v is None,
        json_schema_extra=_number,
        description="the fit score of the challenge they got; absent when they got none",
    )


class _Round(Wire):
    id: str
    programme: Programme
    term: str
    mode: Literal["stable", "optimal"]
    status: Literal["proposing", "proposed"]
    run_by: str
    run_at: str
    expires_at: str
    challenges: int
    candidates: int
    assignments: list[RoundAssignment]
    unassigned: list[str]
    metrics: RoundMetrics


class RoundSummary(_Round):
    """A round as it is run and listed: its assignments and report, without the explanations."""

    explanations: None = Field(None, description="always null here: read them with GET /rounds/{id}")


class RoundOut(_Round):
    """A round's full report (coordinator, analyst): with every candidate's explanation."""

    explanations: list[CandidateExplanation]


class RoundExplanation(Wire):
    """What a candidate sees of a round: their own explanation."""

    id: str
    programme: Programme
    term: str
    mode: Literal["stable", "optimal"]
    explanation: CandidateExplanation


# matches


class MatchResponses(Wire):
    """Each side's answer to the proposal (null: not yet)."""

    candidate: Answer | None
    host: Answer | None


class MilestoneOut(Wire):
    n: int
    title: str
    due_on: str
    done_at: str | None = None


class RatingOut(Wire):
    score: int
    comment: str | None
    by: str
    at: str


class MatchRatings(Wire):
    """Each side's rating of the completed engagement (null: not yet)."""

    candidate: RatingOut | None
    host: RatingOut | None


class MatchOut(Wire):
    """A proposal, then an engagement."""

    id: str
    round_id: str
    challenge_id: str
    challenge_title: str
    programme: Programme
    term: str
    candidate: str
    display_name: str | None = Field(
        None, description="the candidate's display name from their profile, read when answered (null: none given)"
    )
    candidate_region: str
    organisation: str | None
    supervisor: str | None
    region: str
    ip_template: IPTemplate
    status: MatchStatus
    responses: MatchResponses
    proposed_at: str
    expires_at: str
    preference_rank: int
    milestones: list[MilestoneOut]
    ratings: MatchRatings
    accepted_at: str | None = None
    completed_at: str | None = None
    reason: str | None = None
