"""What the council dashboards read of the platform's events: narrow local models, only the fields they
use. ``tests/unit/test_schemas.py`` checks each against its producer's committed JSON Schema, so a
producer's change that would break a dashboard fails the build."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from contracts import councils as cev
from contracts import facilities as fev
from contracts import mapping as mev
from contracts import matching as xev


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Assessed(_Read):
    """``SMEAssessed``: an SME of a region, its councils, its greatest needs, when."""

    sme_id: str
    assessment_id: str
    region: str
    councils: list[str]
    top_needs: list[str]
    assessed_at: str
    organisation: str | None = None


class Erased(_Read):
    """``SMEErased``: forget the SME."""

    sme_id: str
    region: str


class Booked(_Read):
    """``DeskBooked`` / ``FacilityBooked``: who booked what kind of resource, in which region, when."""

    resource_id: str
    resource_kind: str
    person: str
    organisation: str | None = None
    person_region: str
    region: str
    start: str


class Cancelled(_Read):
    """``BookingCancelled``: a confirmed booking withdrawn (``cancelled``) or a request refused."""

    resource_id: str
    person: str
    region: str
    start: str
    reason: str


class Posted(_Read):
    """``ChallengePosted``: a challenge in a region, and the assessment whose need suggested it."""

    challenge_id: str
    region: str
    suggested_from: str | None = None


class Accepted(_Read):
    """``MatchAccepted``: an engagement starts; the candidate's home region."""

    region: str
    candidate_region: str
    accepted_at: str


class Completed(_Read):
    """``EngagementCompleted``: an engagement ended."""

    region: str
    candidate_region: str
    completed_at: str


class Formed(_Read):
    """``CouncilFormed``: the council's region (every dashboard hangs on it), city and themes."""

    council_id: str
    city: str
    region: str
    themes: list[str]
    formed_at: str


class Joined(_Read):
    """``MemberJoined``: who may read the dashboard, and who is a university's person."""

    council_id: str
    member_id: str
    person: str
    organisation: str | None = None
    constituency: str


class Left(_Read):
    """``MemberLeft``: the membership ended."""

    council_id: str
    member_id: str
    person: str
    constituency: str


class Held(_Read):
    """``MeetingHeld``: attendance by constituency, quorum, decisions."""

    council_id: str
    meeting_id: str
    held_at: str
    attendees: int
    attendance: dict[str, int]
    quorum_met: bool
    decisions: list[str]


class Initiative(_Read):
    """``InitiativeProposed`` / ``InitiativeLaunched`` / ``InitiativeCompleted``: the sponsoring councils."""

    initiative_id: str
    council_id: str
    region: str  # the lead council's: a co-sponsor of that region was confirmed by the lead's service
    co_sponsors: list[str]
    cross_border: bool


class InitiativeProposed(Initiative):
    proposed_at: str


class InitiativeLaunched(Initiative):
    launched_at: str


class InitiativeEnded(Initiative):
    outcome: str
    ended_at: str


READS: dict[str, type[_Read]] = {
    mev.SMEAssessed.event_type(): Assessed,
    mev.SMEErased.event_type(): Erased,
    fev.DeskBooked.event_type(): Booked,
    fev.FacilityBooked.event_type(): Booked,
    fev.BookingCancelled.event_type(): Cancelled,
    xev.ChallengePosted.event_type(): Posted,
    xev.MatchAccepted.event_type(): Accepted,
    xev.EngagementCompleted.event_type(): Completed,
    cev.CouncilFormed.event_type(): Formed,
    cev.MemberJoined.event_type(): Joined,
    cev.MemberLeft.event_type(): Left,
    cev.MeetingHeld.event_type(): Held,
    cev.InitiativeProposed.event_type(): InitiativeProposed,
    cev.InitiativeLaunched.event_type(): InitiativeLaunched,
    cev.InitiativeCompleted.event_type(): InitiativeEnded,
}
TOPICS = [mev.TOPIC, fev.TOPIC, xev.TOPIC, cev.TOPIC]  # training.events joins when that service exists
