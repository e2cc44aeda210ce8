"""Events published by the councils service on topic ``councils.events``.

They carry ids, constituencies and counts, never a member's name or e-mail: personal data stays in the
councils service (exported and erased there). ``person`` is the platform's person id (``p-`` + 26
base32 characters), ``organisation`` a platform organisation id (``<region>:<claim>``).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from clustergrowth.events import EventData

TOPIC = "councils.events"
Constituency = Literal["sme", "university", "government", "intermediary", "investor"]
Position = Literal["chair", "vice_chair", "secretary", "member", "observer"]
MeetingMode = Literal["in_person", "online", "hybrid"]


class _Councils(EventData):
    service: ClassVar[str] = "councils"


class CouncilFormed(_Councils):
    """A Cluster Growth Council was formed in a region."""

    name: ClassVar[str] = "CouncilFormed"
    council_id: str = Field(description="id of the council")
    city: str = Field(description="council city, e.g. Bologna")
    region: str = Field(description="NUTS-2 code of the council's region")
    host_organisation: str = Field(description="platform id of the hosting organisation")
    themes: list[str] = Field(description="theme keys, e.g. finance, talent (from the region's growth needs)")
    formed_at: str = Field(description="ISO 8601 UTC time the council was formed")


class MemberJoined(_Councils):
    """A person became a member of a council (invitation accepted or application approved)."""

    name: ClassVar[str] = "MemberJoined"
    council_id: str = Field(description="id of the council")
    member_id: str = Field(description="id of the membership")
    person: str = Field(description="platform person id of the member")
    organisation: str | None = Field(description="platform id of the member's organisation, if any")
    constituency: Constituency = Field(description="the constituency the member represents")
    position: Position = Field(description="position in the council")
    region: str = Field(description="NUTS-2 code of the council's region")
    joined_at: str = Field(description="designation date, ISO 8601 UTC")


class MemberLeft(_Councils):
    """A membership ended (term ended, resigned, removed)."""

    name: ClassVar[str] = "MemberLeft"
    council_id: str = Field(description="id of the council")
    member_id: str = Field(description="id of the membership")
    person: str = Field(description="platform person id of the former member")
    constituency: Constituency = Field(description="the constituency the member represented")
    region: str = Field(description="NUTS-2 code of the council's region")
    left_at: str = Field(description="end date, ISO 8601 UTC")
    reason: str = Field(description="machine key of the reason: term_ended, resigned, removed, erased")


class MeetingScheduled(_Councils):
    """A council meeting was scheduled (or rescheduled: same meeting_id, higher sequence)."""

    name: ClassVar[str] = "MeetingScheduled"
    council_id: str = Field(description="id of the council")
    meeting_id: str = Field(description="id of the meeting")
    region: str = Field(description="NUTS-2 code of the council's region")
    mode: MeetingMode = Field(description="in person, online or hybrid")
    start: str = Field(description="start, ISO 8601 UTC")
    end: str = Field(description="end, ISO 8601 UTC")
    seats: int = Field(description="seat limit of the registration")
    sequence: int = Field(description="iCalendar SEQUENCE of this version of the meeting")


class MeetingHeld(_Councils):
    """A meeting was closed with minutes: who attended (by constituency) and what was decided."""

    name: ClassVar[str] = "MeetingHeld"
    council_id: str = Field(description="id of the council")
    meeting_id: str = Field(description="id of the meeting")
    region: str = Field(description="NUTS-2 code of the council's region")
    held_at: str = Field(description="start of the meeting, ISO 8601 UTC")
    attendees: int = Field(description="number of people checked in")
    attendance: dict[str, int] = Field(description="attendees per constituency")
    quorum_met: bool = Field(description="whether the council's quorum rule was met")
    decisions: list[str] = Field(description="ids of the decisions recorded at the meeting")
    action_items: int = Field(description="number of action items recorded")


class MeetingCancelled(_Councils):
    """A scheduled meeting was cancelled."""

    name: ClassVar[str] = "MeetingCancelled"
    council_id: str = Field(description="id of the council")
    meeting_id: str = Field(description="id of the meeting")
    region: str = Field(description="NUTS-2 code of the council's region")
    start: str = Field(description="the start it had, ISO 8601 UTC")
    reason: str = Field(description="why, as given by the secretary", json_schema_extra={"x-pii": "free-text"})


class _Initiative(_Councils):
    initiative_id: str = Field(description="id of the joint-innovation initiative")
    council_id: str = Field(description="the proposing (lead) council")
    region: str = Field(description="NUTS-2 code of the lead council's region")
    co_sponsors: list[str] = Field(description="ids of the other councils sponsoring it")
    regions: list[str] = Field(description="NUTS-2 codes of every sponsoring council, sorted")
    cross_border: bool = Field(description="sponsored by councils of more than one country")


class InitiativeProposed(_Initiative):
    """A member proposed a joint-innovation initiative to a council."""

    name: ClassVar[str] = "InitiativeProposed"
    proposed_at: str = Field(description="ISO 8601 UTC")


class InitiativeLaunched(_Initiative):
    """The council endorsed the initiative by a decision: it is active."""

    name: ClassVar[str] = "InitiativeLaunched"
    decision_id: str = Field(description="the decision that endorsed it")
    launched_at: str = Field(description="ISO 8601 UTC")


class InitiativeCompleted(_Initiative):
    """An active initiative ended: completed, or abandoned with a reason."""

    name: ClassVar[str] = "InitiativeCompleted"
    outcome: Literal["completed", "abandoned"] = Field(description="how it ended")
    reason: str | None = Field(
        description="why it was abandoned (None when completed)", json_schema_extra={"x-pii": "free-text"}
    )
    ended_at: str = Field(description="ISO 8601 UTC")


class _CoSponsorship(_Councils):
    initiative_id: str = Field(description="the partner region's initiative (its id in the lead region)")
    lead_council_id: str = Field(description="the council that leads it, in its own region")
    lead_region: str = Field(description="NUTS-2 code of the lead council's region (where it is decided)")
    council_id: str = Field(description="the co-sponsoring council: this region's")
    region: str = Field(description="NUTS-2 code of the co-sponsoring council's region (the publisher)")
    person: str = Field(description="platform person id of the council's manager who answered")


class CoSponsorshipConfirmed(_CoSponsorship):
    """A council confirmed that it co-sponsors a partner region's initiative that names it; the lead
    region shows the co-sponsor confirmed, by whom and when."""

    name: ClassVar[str] = "CoSponsorshipConfirmed"
    confirmed_at: str = Field(description="ISO 8601 UTC")


class CoSponsorshipWithdrawn(_CoSponsorship):
    """A council withdrew from co-sponsoring a partner region's initiative (confirmed before or not)."""

    name: ClassVar[str] = "CoSponsorshipWithdrawn"
    withdrawn_at: str = Field(description="ISO 8601 UTC")


ALL: list[type[EventData]] = [
    CouncilFormed,
    MemberJoined,
    MemberLeft,
    MeetingScheduled,
    MeetingHeld,
    MeetingCancelled,
    InitiativeProposed,
    InitiativeLaunched,
    InitiativeCompleted,
    CoSponsorshipConfirmed,
    CoSponsorshipWithdrawn,
]
