"""Commands the facilities service accepts: strict input models (unknown fields are refused)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from clustergrowth.auth import ORG_ID_PATTERN, PERSON_ID_PATTERN, ROLES
from clustergrowth.settings import NUTS2
from clustergrowth.types import Instant
from services.facilities.domain.model import WEEKDAYS, ResourceKind, SiteKind

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Id = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._:-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Window(Strict):
    """One opening window in local time, ``open`` before ``close``."""

    open: time = Field(description="local opening time, HH:MM")
    close: time = Field(description="local closing time, HH:MM")

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.close <= self.open:
            raise ValueError("close must be after open")
        return self


class CreateSite(Strict):
    """Register a site in this region."""

    name: str = Field(min_length=1, max_length=200)
    kind: SiteKind
    city: str = Field(min_length=1, max_length=100)
    address: str = Field(min_length=1, max_length=300)
    timezone: str = Field(min_length=1, max_length=64, description="IANA time zone, e.g. Europe/Dublin")
    opening_hours: dict[Weekday, list[Window]] = Field(description="local windows per weekday")
    organisation: str | None = Field(
        None,
        max_length=130,
        pattern=ORG_ID_PATTERN,
        description="platform id of the owning organisation (`<NUTS-2>:<name>`); default: yours",
    )


class PolicyIn(Strict):
    """How a resource may be booked."""

    max_duration_minutes: int = Field(8 * 60, ge=15, le=7 * 24 * 60)
    max_days_ahead: int = Field(30, ge=0, le=365)
    eligible_regions: list[str] = Field(default_factory=list, max_length=100)
    eligible_roles: list[str] = Field(default_factory=list, max_length=len(ROLES))
    requires_approval: bool = False
    required_training: str | None = Field(None, min_length=1, max_length=80)
    member_of_councils: list[Id] = Field(
        default_factory=list,
        max_length=20,
        description="ids of councils whose members alone may book (empty: no restriction)",
    )
    check_in_grace_minutes: int | None = Field(
        None,
        ge=1,
        le=240,
        description="ask for check-in: a booking not checked in by its start + this many minutes is released "
        "to the waitlist (a no-show); null: no check-in",
    )

    @field_validator("eligible_regions")
    @classmethod
    def _nuts2(cls, v: list[str]) -> list[str]:
        bad = [r for r in v if not NUTS2.match(r)]
        if bad:
            raise ValueError(f"not NUTS-2 codes: {bad}")
        return v

    @field_validator("eligible_roles")
    @classmethod
    def _roles(cls, v: list[str]) -> list[str]:
        bad = [r for r in v if r not in ROLES]
        if bad:
            raise ValueError(f"unknown roles: {bad}")
        return v


class ListResource(Strict):
    """List a bookable resource at a site."""

    site_id: Id
    name: str = Field(min_length=1, max_length=200)
    kind: ResourceKind
    capacity: int = Field(1, ge=1, le=500, description="how many bookings may overlap")
    policy: PolicyIn = Field(default_factory=PolicyIn)


class BookResource(Strict):
    """Book a resource for [start, end); times are ISO 8601 with an offset."""

    resource_id: Id
    start: Instant = Field(description="ISO 8601 with offset")
    end: Instant = Field(description="ISO 8601 with offset")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _text_only(cls, v: object) -> object:
        if not isinstance(v, str | datetime):  # numbers would be read as Unix seconds
            raise ValueError("must be an ISO 8601 string with an offset, e.g. 2026-12-01T09:00:00+01:00")
        return v


class JoinWaitlist(Strict):
    """Join a resource's waitlist for [start, end) of one local day: the exact slot of a taken booking, or
    a wider window in which any freed slot will do. Times are ISO 8601 with an offset."""

    resource_id: Id
    start: Instant = Field(description="window start, ISO 8601 with offset")
    end: Instant = Field(description="window end, ISO 8601 with offset (the same local day)")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _text_only(cls, v: object) -> object:
        if not isinstance(v, str | datetime):  # numbers would be read as Unix seconds
            raise ValueError("must be an ISO 8601 string with an offset, e.g. 2026-12-01T09:00:00+01:00")
        return v


class GrantTraining(Strict):
    """Record that a person completed the training a resource requires, until a date."""

    person: str = Field(pattern=PERSON_ID_PATTERN, description="the person's platform id (`p-…`)")
    training: str = Field(min_length=1, max_length=80)
    valid_until: Instant


assert tuple(Weekday.__args__) == WEEKDAYS  # type: ignore[attr-defined]
