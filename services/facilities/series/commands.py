"""What the series routes accept (strict: unknown fields are refused)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from clustergrowth.types import Instant
from services.facilities.commands import Id, Strict


class BookSeries(Strict):
    """Book a recurring slot: the first occurrence [start, end) and an RFC 5545 RRULE (subset)."""

    resource_id: Id
    start: Instant = Field(description="start of the first occurrence, ISO 8601 with offset")
    end: Instant = Field(description="end of the first occurrence, ISO 8601 with offset")
    rrule: str = Field(
        min_length=1,
        max_length=200,
        description="FREQ=DAILY|WEEKLY, INTERVAL, BYDAY, and COUNT (<= 366) or UNTIL, e.g. FREQ=WEEKLY;COUNT=10",
    )
    on_conflict: Literal["fail", "skip"] = Field(
        "fail", description="fail: book nothing if any occurrence conflicts; skip: book the rest"
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _text_only(cls, v: object) -> object:
        if not isinstance(v, str | datetime):
            raise ValueError("must be an ISO 8601 string with an offset, e.g. 2026-12-01T09:00:00+01:00")
        return v

    @field_validator("end")
    @classmethod
    def _after_start(cls, v: datetime, info: ValidationInfo) -> datetime:
        if "start" in info.data and v <= info.data["start"]:
            raise ValueError("must be after start")
        return v


class SeriesTarget(Strict):
    """Which occurrences: ``one`` or ``following`` name an occurrence by its recurrence id."""

    scope: Literal["one", "following", "all"]
    occurrence: Instant | None = Field(
        None, description="recurrence id of the occurrence (ISO 8601 with offset); required unless scope is all"
    )


class MoveSeries(SeriesTarget):
    """Move occurrences to another time of their own day (local time of the resource)."""

    start_time: time = Field(description="new local start, HH:MM")
    end_time: time = Field(description="new local end, HH:MM")

    @field_validator("end_time")
    @classmethod
    def _after_start(cls, v: time, info: ValidationInfo) -> time:
        if "start_time" in info.data and v <= info.data["start_time"]:
            raise ValueError("must be after start_time")
        return v
