"""Commands the councils service accepts: strict input models (unknown fields are refused), every list
and string bounded, and free text without control characters (``ONE_LINE``, ``PARAGRAPHS``)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from clustergrowth.auth import ORG_ID_PATTERN, PERSON_ID_PATTERN
from clustergrowth.types import Instant
from contracts.councils import Constituency, MeetingMode, Position

# Free text, one shared check. A single-line field (titles, names, place, display names, reasons, keys, units)
# holds no C0 control character and no DEL; multi-line text (minutes, motivation, purposes, summaries,
# descriptions, statements, notes) may hold tab and line breaks (\n or \r\n) and no other. A refusal is a
# 422 naming the field, and the character and where it is.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_TAB_AND_NEWLINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)")


def _refuse(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(v: str) -> str:
        found = pattern.search(v)
        if found is not None:
            raise ValueError(f"{what}: U+{ord(found.group()[0]):04X} at position {found.start()}")
        return v

    return AfterValidator(check)


ONE_LINE = _refuse(_CONTROL, "must not contain control characters")
PARAGRAPHS = _refuse(_CONTROL_BUT_TAB_AND_NEWLINE, "must not contain control characters other than tab and line breaks")

Id = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._:-]+$")]
Key = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$"), ONE_LINE]
Person = Annotated[str, Field(pattern=PERSON_ID_PATTERN, description="a person's platform id (`p-…`)")]
Organisation = Annotated[
    str, Field(max_length=130, pattern=ORG_ID_PATTERN, description="a platform organisation id (`<NUTS-2>:<name>`)")
]
Nuts2 = Annotated[str, Field(pattern=r"^[A-Z]{2}[0-9A-Z]{2}$", description="NUTS-2 code, e.g. ITH5")]
Email = Annotated[
    str,
    Field(max_length=254, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$", description="an e-mail address"),
    ONE_LINE,
]
Line = Annotated[str, Field(min_length=1, max_length=200), ONE_LINE]
Name = Annotated[str, Field(min_length=1, max_length=120), ONE_LINE]
Place = Annotated[str, Field(min_length=1, max_length=300, description="address or room; a link online"), ONE_LINE]
TimeZone = Annotated[str, Field(min_length=1, max_length=64, description="IANA time zone, e.g. Europe/Rome"), ONE_LINE]
FRACTION = r"[1-9][0-9]{0,3}/[1-9][0-9]{0,3}"  # a quorum's fraction as text, e.g. 2/3
Text = Annotated[str, Field(min_length=1, max_length=4000), PARAGRAPHS]
Minutes = Annotated[str, Field(min_length=1, max_length=50_000), PARAGRAPHS]
SuccessFactor = Literal["sme_university", "cluster_cluster", "cluster_specific", "national_impact"]
EndReason = Literal["term_ended", "resigned", "removed"]


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


# Councils ---------------------------------------------------------------------------------------------
class ThemeIn(Strict):
    """A theme from the region's growth-needs analysis, with the share of assessed SMEs naming it."""

    key: Key = Field(description="machine key, e.g. finance, markets, talent, technology")
    label: Annotated[str, Field(min_length=1, max_length=120), ONE_LINE] | None = None
    share: float | None = Field(None, ge=0, le=1, description="share of the region's assessed SMEs naming it")
    source: Annotated[str, Field(min_length=1, max_length=200), ONE_LINE] | None = Field(
        None, description="where the share comes from"
    )


class SuccessFactorIn(Strict):
    key: SuccessFactor
    note: Annotated[str, Field(min_length=1, max_length=500), PARAGRAPHS] | None = None


class CompositionIn(Strict):
    """Composition rules: how many constituencies must be represented, and the quorum of a meeting."""

    min_constituencies: int = Field(2, ge=2, le=5)
    quorum_rule: Literal["majority", "at_least"] = Field(
        "majority", description="majority: more than the fraction of voting members; at_least: that fraction or more"
    )
    quorum_fraction: float | str = Field(
        0.5,
        description="a number (taken exactly as written: 0.334 is 334/1000) or a fraction such as '2/3'; "
        "above 0, at most 1, and below 1 for a majority (checked with the rule)",
    )

    @field_validator("quorum_fraction", mode="before")
    @classmethod
    def _number_or_fraction(cls, v: object) -> float | str:
        if isinstance(v, int | float) and not isinstance(v, bool):
            if not 0 < v <= 1:
                raise ValueError("must be more than 0 and at most 1")
            return float(v)
        if isinstance(v, str) and re.fullmatch(FRACTION, v):
            return v
        raise ValueError("must be a number or a fraction such as '2/3' (digits/digits, no zero numerator)")


class FormCouncil(Strict):
    """Form a council of this region."""

    name: Line
    city: Annotated[str, Field(min_length=1, max_length=100), ONE_LINE]
    host_organisation: Organisation
    purpose: Text
    themes: list[ThemeIn] = Field(default_factory=list, max_length=20)
    success_factors: list[SuccessFactorIn] = Field(default_factory=list, max_length=4)
    composition: CompositionIn = Field(default_factory=CompositionIn)

    @field_validator("themes")
    @classmethod
    def _themes_once(cls, v: list[ThemeIn]) -> list[ThemeIn]:
        _unique([t.key for t in v])
        return v

    @field_validator("success_factors")
    @classmethod
    def _factors_once(cls, v: list[SuccessFactorIn]) -> list[SuccessFactorIn]:
        _unique([f.key for f in v])
        return v


class UpdateCouncil(Strict):
    """Change a council's profile (send only what changes)."""

    name: Line | None = None
    purpose: Text | None = None
    themes: list[ThemeIn] | None = Field(None, max_length=20)
    success_factors: list[SuccessFactorIn] | None = Field(None, max_length=4)
    composition: CompositionIn | None = None

    @field_validator("themes")
    @classmethod
    def _themes_once(cls, v: list[ThemeIn] | None) -> list[ThemeIn] | None:
        if v is not None:
            _unique([t.key for t in v])
        return v


# Membership -------------------------------------------------------------------------------------------
class Invite(Strict):
    """The secretary invites a person; she becomes a member when she accepts."""

    person: Person
    constituency: Constituency
    position: Position = "member"
    organisation: Organisation | None = None
    display_name: Name = Field(description="the name shown to the council's members")
    email: Email | None = None


class Apply(Strict):
    """A person applies to join a council; the secretary approves or rejects. The organisation is yours."""

    council_id: Id
    constituency: Constituency
    display_name: Name
    email: Email | None = None
    motivation: Annotated[str, Field(min_length=1, max_length=2000), PARAGRAPHS] | None = None


class Accept(Strict):
    """Accept an invitation; the name and e-mail you give replace those the secretary typed."""

    display_name: Name | None = None
    email: Email | None = None


class Reject(Strict):
    reason: Annotated[str, Field(min_length=1, max_length=500), ONE_LINE] | None = None


class EndMembership(Strict):
    reason: EndReason


# Meetings ---------------------------------------------------------------------------------------------
class AgendaItem(Strict):
    title: Line
    minutes: int | None = Field(None, ge=1, le=720, description="time planned for it")


class _MeetingFields(Strict):
    @field_validator("start", "end", mode="before", check_fields=False)
    @classmethod
    def _text_only(cls, v: object) -> object:
        return _text_time(v)


class ScheduleMeeting(_MeetingFields):
    """Schedule a meeting of the council: times with an offset, shown in the meeting's IANA time zone."""

    title: Line
    mode: MeetingMode
    place: Place | None = None
    timezone: TimeZone
    start: Instant
    end: Instant
    seats: int = Field(ge=1, le=1000, description="seat limit of the registration; more people join the waitlist")
    agenda: list[AgendaItem] = Field(default_factory=list, max_length=50)


class UpdateMeeting(_MeetingFields):
    """Change a scheduled meeting (send only what changes; ``place: null`` clears the place, which a meeting
    online may do without); every change bumps its SEQUENCE."""

    title: Line | None = None
    mode: MeetingMode | None = None
    place: Place | None = None
    timezone: TimeZone | None = None
    start: Instant | None = None
    end: Instant | None = None
    seats: int | None = Field(None, ge=1, le=1000)
    agenda: list[AgendaItem] | None = Field(None, max_length=50)


class CancelMeeting(Strict):
    reason: Annotated[str, Field(min_length=1, max_length=500), ONE_LINE]


class CheckIn(Strict):
    """Record that a member attends."""

    person: Person


class DraftMinutes(Strict):
    text: Minutes


class ActionItem(Strict):
    """An action item: its owner an active member of the council, due on the meeting's day or later."""

    title: Line
    owner: Person
    due_on: date
    status: Literal["open", "done", "dropped"] = "open"


class CloseMeeting(Strict):
    """Close a held meeting: minutes (required here or drafted before), decisions taken, action items."""

    minutes: Minutes | None = None
    decisions: list[Id] = Field(default_factory=list, max_length=50, description="ids of this council's decisions")
    action_items: list[ActionItem] = Field(default_factory=list, max_length=100)

    _unique_decisions = field_validator("decisions")(_unique)


# Decisions --------------------------------------------------------------------------------------------
class OpenDecision(Strict):
    """Put a proposal to the council: an endorsement (endorse/object/abstain) or a vote on given options."""

    title: Line
    description: Annotated[str, Field(min_length=1, max_length=10_000), PARAGRAPHS] | None = None
    method: Literal["endorsement", "vote"] = "endorsement"
    options: list[Key] | None = Field(None, max_length=10, description="a vote's options as machine keys")
    initiative_id: Id | None = Field(None, description="the initiative this decision would launch")
    meeting_id: Id | None = None


class Vote(Strict):
    option: Key
    reason: Annotated[str, Field(min_length=1, max_length=2000), ONE_LINE] | None = None


class CloseDecision(Strict):
    statement: Text
    chosen_option: Key
    review_on: date | None = None


# Initiatives ------------------------------------------------------------------------------------------
class CoSponsor(Strict):
    """A co-sponsoring council: of this region (checked here), or of another region (known by id only)."""

    council_id: Id
    region: Nuts2


class ProposeInitiative(Strict):
    title: Line
    summary: Text
    co_sponsors: list[CoSponsor] = Field(default_factory=list, max_length=10)
    needs: list[Key] = Field(default_factory=list, max_length=20, description="growth-need keys (mapping)")
    challenge_ids: list[Id] = Field(default_factory=list, max_length=50, description="challenge ids (matching)")
    resource_ids: list[Id] = Field(default_factory=list, max_length=50, description="resource ids (facilities)")

    _unique_links = field_validator("needs", "challenge_ids", "resource_ids")(_unique)


class Launch(Strict):
    decision_id: Id


class InitiativeMilestone(Strict):
    title: Line
    due_on: date
    done: bool = False


class Kpi(Strict):
    key: Key
    unit: Annotated[str, Field(min_length=1, max_length=40), ONE_LINE]
    target: float = Field(ge=-1e12, le=1e12)
    value: float | None = Field(None, ge=-1e12, le=1e12)


class Progress(Strict):
    milestones: list[InitiativeMilestone] = Field(default_factory=list, max_length=50)
    kpis: list[Kpi] = Field(default_factory=list, max_length=30)
    progress: int = Field(ge=0, le=100, description="percent")

    @field_validator("kpis")
    @classmethod
    def _kpis_once(cls, v: list[Kpi]) -> list[Kpi]:
        _unique([k.key for k in v])
        return v


class Abandon(Strict):
    reason: Annotated[str, Field(min_length=1, max_length=1000), ONE_LINE]
