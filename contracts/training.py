"""Events published by the training service on topic ``training.events``.

No personal data: SMEs by id, people by platform person id (``p-`` + 26 base32 characters),
organisations by platform id (``<region>:<claim>``). An assessment's scores ride along with the facts
peers are grouped by (NACE sector, NUTS-2 region, country, size class, councils), so the benchmark
projection needs nothing else.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from clustergrowth.events import EventData

TOPIC = "training.events"
InstrumentId = Literal["wms", "mops"]


class _Training(EventData):
    service: ClassVar[str] = "training"


class PracticesAssessed(_Training):
    """An SME assessed its management practices with a versioned instrument (scored once, at submission)."""

    name: ClassVar[str] = "PracticesAssessed"
    assessment_id: str = Field(description="id of this assessment")
    sme_id: str = Field(description="the SME (mapping's id)")
    instrument: InstrumentId = Field(description="wms: 18 practices scored 1-5; mops: 16 questions scored 0-1")
    instrument_version: str = Field(description="version of the instrument answered")
    region: str = Field(description="NUTS-2 code of the SME")
    country: str = Field(description="ISO 3166-1 alpha-2 country code of the SME")
    nace_division: str = Field(description="NACE division of the SME's primary activity, e.g. C28")
    nace_section: str = Field(description="NACE section letter, e.g. C")
    size_class: str = Field(description="micro, small, medium or large (EU 2003/361/EC)")
    councils: list[str] = Field(description="councils the SME belongs to")
    scores: dict[str, float] = Field(description="score per practice id (the instrument's scale)")
    areas: dict[str, float] = Field(description="mean score per practice area (operations, monitoring, ...)")
    overall: float = Field(description="mean over every practice, on the instrument's scale")
    previous_assessment_id: str | None = Field(description="the assessment this one re-assesses, if any")
    assessed_at: str = Field(description="ISO 8601 UTC time of the submission")
    organisation: str | None = Field(
        None,
        description="platform id of the SME's organisation (<region>:<claim>), so that partner regions' peer "
        "benchmarks count organisations as this region does; absent from events published before it",
    )


class _Plan(_Training):
    plan_id: str = Field(description="id of the growth action plan")
    sme_id: str = Field(description="the SME")
    region: str = Field(description="NUTS-2 code of the SME")
    assessment_id: str = Field(description="the baseline assessment the plan was generated from")
    focus_areas: list[str] = Field(description="practice ids in focus (at most three)")
    due: str = Field(description="the plan's due date (ISO 8601 date): re-assessment is invited after it")


class ActionPlanCreated(_Plan):
    """A growth action plan was generated from the weakest practices and the SME's growth needs."""

    name: ClassVar[str] = "ActionPlanCreated"
    created_at: str = Field(description="ISO 8601 UTC")


class ActionPlanUpdated(_Plan):
    """The SME edited its plan (focus areas, goals, due date)."""

    name: ClassVar[str] = "ActionPlanUpdated"
    updated_at: str = Field(description="ISO 8601 UTC")


class ReassessmentInvited(_Plan):
    """A plan's due date passed: the SME is invited to re-assess its practices."""

    name: ClassVar[str] = "ReassessmentInvited"
    invited_at: str = Field(description="ISO 8601 UTC")


class EnrolmentConfirmed(_Training):
    """A person holds a confirmed place in a training module (at once, or promoted from the waitlist)."""

    name: ClassVar[str] = "EnrolmentConfirmed"
    enrolment_id: str = Field(description="id of the enrolment")
    module_id: str = Field(description="the module")
    person: str = Field(description="platform person id of the participant")
    organisation: str | None = Field(description="platform id of the participant's organisation, if any")
    sme_id: str | None = Field(description="the SME the participant trains for, if any")
    region: str = Field(description="NUTS-2 code of the region that runs the module")
    practices: list[str] = Field(description="practice ids the module addresses")
    from_waitlist: bool = Field(description="promoted from the waitlist when a place freed")
    confirmed_at: str = Field(description="ISO 8601 UTC")


class ModuleCompleted(_Training):
    """A participant completed a module; a credential was issued."""

    name: ClassVar[str] = "ModuleCompleted"
    enrolment_id: str = Field(description="id of the enrolment")
    module_id: str = Field(description="the module")
    person: str = Field(description="platform person id of the participant")
    sme_id: str | None = Field(description="the SME the participant trained for, if any")
    region: str = Field(description="NUTS-2 code of the region that runs the module")
    practices: list[str] = Field(description="practice ids the module addresses")
    credential_id: str = Field(description="id of the Open Badges 3.0 credential issued")
    completed_at: str = Field(description="ISO 8601 UTC")


class _Placement(_Training):
    placement_id: str = Field(description="id of the mobility placement")
    applicant: str = Field(description="platform person id of the applicant")
    host_id: str = Field(description="id of the host (an SME or institution of any partner region)")
    applicant_region: str = Field(description="NUTS-2 code of the applicant's region")
    host_region: str = Field(description="NUTS-2 code of the host's region")
    cross_border: bool = Field(description="applicant and host in different countries")
    weeks: int = Field(description="planned length in weeks (1-26)")


class PlacementProposed(_Placement):
    """Matching proposed an applicant to a host (or an intermediary did by hand)."""

    name: ClassVar[str] = "PlacementProposed"
    proposed_at: str = Field(description="ISO 8601 UTC")


class PlacementAgreed(_Placement):
    """All four parties accepted the placement agreement (applicant, host, both intermediaries)."""

    name: ClassVar[str] = "PlacementAgreed"
    start: str = Field(description="first day (ISO 8601 date)")
    end: str = Field(description="last day (ISO 8601 date)")
    agreed_at: str = Field(description="ISO 8601 UTC")


class PlacementCompleted(_Placement):
    """A placement ended: completed, or ended early with a reason."""

    name: ClassVar[str] = "PlacementCompleted"
    outcome: Literal["completed", "ended_early"] = Field(description="how it ended")
    reason: str | None = Field(
        description="why it ended early (None when completed)", json_schema_extra={"x-pii": "free-text"}
    )
    ended_at: str = Field(description="ISO 8601 UTC")


ALL: list[type[EventData]] = [
    PracticesAssessed,
    ActionPlanCreated,
    ActionPlanUpdated,
    ReassessmentInvited,
    EnrolmentConfirmed,
    ModuleCompleted,
    PlacementProposed,
    PlacementAgreed,
    PlacementCompleted,
]
