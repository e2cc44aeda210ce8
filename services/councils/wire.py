"""What the councils API answers: wire models apart from the stored documents, so that nothing stored (who
formed a council, the outbox, a member's e-mail to those who may not see it) leaks into an answer by
accident. Answers are built with ``Model.model_validate(view)``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from contracts.councils import Constituency, MeetingMode, Position


class Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ThemeOut(Wire):
    key: str
    label: str | None = None
    share: float | None = None
    source: str | None = None


class SuccessFactorOut(Wire):
    key: str
    note: str | None = None


class QuorumRuleOut(Wire):
    rule: Literal["majority", "at_least"]
    fraction: float
    exact: str | None = None  # the fraction exactly, "n/d" (what quorum is computed with)
    label: str


class CompositionRulesOut(Wire):
    min_constituencies: int
    quorum: QuorumRuleOut


class CouncilOut(Wire):
    """A council's public profile (no members: those are for its members)."""

    id: str
    name: str
    city: str
    region: str
    host_organisation: str
    purpose: str
    themes: list[ThemeOut]
    success_factors: list[SuccessFactorOut]
    composition: CompositionRulesOut
    formed_at: str


class Warning(Wire):
    key: str
    detail: str


class CompositionOut(Wire):
    """Members by constituency and position; a warning when too few constituencies are represented."""

    council_id: str
    members: int
    by_constituency: dict[str, int]
    by_position: dict[str, int]
    constituencies_represented: list[str]
    min_constituencies: int
    warnings: list[Warning]


class MemberOut(Wire):
    """A membership as the council's members see it (the e-mail only for its managers and the member)."""

    id: str
    person: str
    display_name: str | None
    email: str | None = None
    organisation: str | None
    constituency: Constituency
    position: Position
    designated_on: str
    via: str
    ended_on: str | None
    end_reason: str | None


class RequestOut(Wire):
    """An invitation or application, as the person concerned and the council's managers see it; a pending
    invitation is ``expired`` from its ``expires_at`` on (30 days after it was made)."""

    id: str
    council_id: str
    kind: Literal["invitation", "application"]
    person: str
    constituency: Constituency
    position: Position
    organisation: str | None
    display_name: str | None
    email: str | None
    motivation: str | None
    status: Literal["pending", "accepted", "declined", "approved", "rejected", "withdrawn", "expired"]
    created_at: str
    expires_at: str | None = None  # an invitation's: expired from this instant on; an application's: None
    decided_at: str | None
    reason: str | None
    member_id: str | None = None


class AgendaItemOut(Wire):
    title: str
    minutes: int | None = None


class RegistrationOut(Wire):
    """``lapsed``: made by a person who is no longer an active member; it holds no seat and no place."""

    person: str
    status: Literal["registered", "waitlisted", "cancelled", "lapsed"]
    registered_at: str
    promoted_at: str | None
    cancelled_at: str | None


class AttendanceOut(Wire):
    person: str
    constituency: str
    checked_in_at: str


class ActionItemOut(Wire):
    title: str
    owner: str
    due_on: str
    status: str


class QuorumOut(Wire):
    rule: str
    voting_members: int
    needed: int
    voting_present: int
    met: bool


class MeetingPrivate(Wire):
    """What only the council's members and managers see of a meeting."""

    registrations: list[RegistrationOut]
    attendance: list[AttendanceOut]
    draft_minutes: str | None
    action_items: list[ActionItemOut]
    quorum_now: QuorumOut


class MeetingOut(Wire):
    """A meeting's public times and place, and once held its attendee count, quorum and decisions' ids;
    its ``minutes`` and ``private`` part only for the council's members and managers."""

    id: str
    council_id: str
    region: str
    title: str
    mode: MeetingMode
    place: str | None
    timezone: str
    start: str
    end: str
    seats: int
    seats_taken: int
    waitlisted: int
    agenda: list[AgendaItemOut]
    status: Literal["scheduled", "held", "cancelled"]
    sequence: int
    cancel_reason: str | None
    minutes: str | None
    attendees: int | None = None
    quorum: QuorumOut | None
    decisions: list[str]
    private: MeetingPrivate | None = None


class RegistrationAnswer(Wire):
    """Your registration, and who moved up from the waitlist when you cancelled."""

    meeting_id: str
    registration: RegistrationOut | None
    promoted: str | None = None


class VoteOut(Wire):
    person: str
    option: str
    reason: str | None
    at: str


class OutcomeOut(Wire):
    statement: str
    chosen_option: str
    review_on: str | None


class DecisionOut(Wire):
    """A proposal put to the council; ``state`` is a stable key, ``state_label`` its label in ``lang``."""

    id: str
    council_id: str
    title: str
    description: str | None
    method: Literal["endorsement", "vote"]
    options: list[str]
    state: Literal["open", "closed"]
    state_label: str
    initiative_id: str | None
    meeting_id: str | None
    votes: list[VoteOut]
    tally: dict[str, int]
    outcome: OutcomeOut | None
    opened_at: str
    closed_at: str | None


class CoSponsorOut(Wire):
    """``confirmed``: the council is known here (this region's), or another region's council confirmed it in
    its own region (``answer``, replicated back: who answered and when); a withdrawal unconfirms it."""

    council_id: str
    region: str
    confirmed: bool = False
    answer: Literal["confirmed", "withdrawn"] | None = None
    answered_by: str | None = None
    answered_at: str | None = None


class InitiativeMilestoneOut(Wire):
    title: str
    due_on: str
    done: bool


class KpiOut(Wire):
    key: str
    unit: str
    target: float
    value: float | None


class InitiativeOut(Wire):
    """A joint-innovation initiative: public, so that partner regions may show it."""

    id: str
    council_id: str
    region: str
    title: str
    summary: str
    co_sponsors: list[CoSponsorOut]
    regions: list[str]
    cross_border: bool
    needs: list[str]
    challenge_ids: list[str]
    resource_ids: list[str]
    state: Literal["proposed", "active", "completed", "abandoned"]
    proposed_by: str
    proposed_at: str
    decision_id: str | None
    launched_at: str | None
    milestones: list[InitiativeMilestoneOut]
    kpis: list[KpiOut]
    progress: int
    ended_at: str | None
    end_reason: str | None


class MemberExport(Wire):
    """Everything the councils service holds about a member in one council (data portability)."""

    council_id: str
    membership: dict[str, Any]
    requests: list[dict[str, Any]]
    registrations: list[dict[str, Any]]
    attendance: list[dict[str, Any]]
    action_items: list[dict[str, Any]]  # of meetings' minutes, those she owns
    votes: list[dict[str, Any]]
    initiatives_proposed: list[str]
    exported_at: str


class RequestsExport(Wire):
    """Everything the councils service holds about a person's invitations and applications, in every
    council, whether or not she joined (data portability): each request with all its fields."""

    person: str
    requests: list[dict[str, Any]]
    exported_at: str
