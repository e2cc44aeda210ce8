"""What the facilities service reads of other services' events: narrow local models, only the fields it
uses. A test checks each against the producer's committed JSON Schema, so a producer's change that would
break this reader fails the build."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class MembershipStarted(BaseModel):
    """The part of the councils service's ``MemberJoined`` this service reads (booking eligibility)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    council_id: str
    member_id: str
    person: str


class MembershipEnded(BaseModel):
    """The part of the councils service's ``MemberLeft`` this service reads (booking eligibility)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    council_id: str
    member_id: str
    person: str
