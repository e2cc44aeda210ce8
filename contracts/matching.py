"""Events published by the matching service on topic ``matching.events``.

People appear only by their subject (``sub``) from their home issuer; no names or contact data.
A proposal ends in exactly one of ``MatchAccepted`` (both sides said yes), ``MatchDeclined`` (one
side said no) or ``MatchExpired`` (nobody answered in time, so the place is free for the next round).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from clustergrowth.events import EventData

TOPIC = "matching.events"
Programme = Literal["consultancy", "change_of_perspective"]
Side = Literal["candidate", "host"]


class _Matching(EventData):
    service: ClassVar[str] = "matching"


class ChallengePosted(_Matching):
    """An SME posted a challenge for student teams (consultancy) or visiting academics."""

    name: ClassVar[str] = "ChallengePosted"
    challenge_id: str = Field(description="id of the challenge")
    programme: Programme = Field(description="consultancy (students) or change_of_perspective (academics)")
    sme_id: str | None = Field(description="mapping-service id of the SME, when known")
    organisation: str | None = Field(description="organisation that posted it")
    region: str = Field(description="NUTS-2 code where the work happens")
    term: str = Field(description="academic term, e.g. 2027-spring")
    work_mode: Literal["on_site", "remote", "hybrid"] = Field(description="where the work is done")
    skills: list[str] = Field(description="skills needed")
    capacity: int = Field(description="team size: how many candidates it takes")
    ip_template: str = Field(description="IP/NDA template id")
    suggested_from: str | None = Field(description="assessment id whose need suggested it, if any")
    title: str | None = Field(None, description="the challenge's title; absent from events published before it")
    languages: list[str] | None = Field(None, description="working languages; absent from events published before it")
    starts_on: str | None = Field(None, description="ISO 8601 date the work starts; absent from older events")
    ends_on: str | None = Field(None, description="ISO 8601 date the work ends; absent from older events")


class _Match(_Matching):
    match_id: str = Field(description="id of the proposal / engagement")
    round_id: str = Field(description="allocation round that proposed it")
    challenge_id: str = Field(description="the challenge")
    candidate: str = Field(description="subject (sub) of the student or academic")
    programme: Programme = Field(description="consultancy or change_of_perspective")
    region: str = Field(description="NUTS-2 code of the challenge")
    candidate_region: str = Field(description="NUTS-2 code of the candidate's home region")


class MatchProposed(_Match):
    """An allocation round proposed a candidate for a challenge; both sides must answer."""

    name: ClassVar[str] = "MatchProposed"
    mode: Literal["stable", "optimal"] = Field(description="allocation mode of the round")
    preference_rank: int = Field(description="1 = the candidate's first choice")
    expires_at: str = Field(description="ISO 8601 UTC time after which the proposal lapses")


class MatchAccepted(_Match):
    """Both sides accepted; the engagement starts."""

    name: ClassVar[str] = "MatchAccepted"
    accepted_at: str = Field(description="ISO 8601 UTC time of the second acceptance")


class MatchDeclined(_Match):
    """One side declined the proposal."""

    name: ClassVar[str] = "MatchDeclined"
    declined_by: Side = Field(description="which side declined")
    reason: str | None = Field(description="free-text reason, if given", json_schema_extra={"x-pii": "free-text"})


class MatchExpired(_Match):
    """Nobody (or only one side) answered before the proposal's deadline."""

    name: ClassVar[str] = "MatchExpired"
    expired_at: str = Field(description="ISO 8601 UTC deadline that passed")
    answered_by: list[Side] = Field(description="sides that had accepted before it lapsed")


class EngagementCompleted(_Match):
    """The engagement ended; ratings may follow from both sides."""

    name: ClassVar[str] = "EngagementCompleted"
    completed_at: str = Field(description="ISO 8601 UTC time")
    milestones: int = Field(description="milestones planned")
    milestones_done: int = Field(description="milestones done")


class EngagementRated(_Match):
    """One side rated a completed engagement (1-5)."""

    name: ClassVar[str] = "EngagementRated"
    rated_by: Side = Field(description="which side rated")
    score: int = Field(description="1 (poor) to 5 (excellent)")


ALL: list[type[EventData]] = [
    ChallengePosted,
    MatchProposed,
    MatchAccepted,
    MatchDeclined,
    MatchExpired,
    EngagementCompleted,
    EngagementRated,
]
