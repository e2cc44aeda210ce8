"""A series: its rule, its first slot and the state of each occurrence (pure; no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from services.facilities.domain.model import Booking, iso, parse_iso
from services.facilities.series.rules import Rule, expand, parse_rule

SeriesStatus = Literal["booking", "active", "failed", "cancelled"]
OccurrenceStatus = Literal["planned", "booked", "skipped", "cancelled"]
Scope = Literal["one", "following", "all"]
OnConflict = Literal["fail", "skip"]
Reason = Literal["taken", "closed", "outside_opening_hours", "policy"]


@dataclass(frozen=True)
class Occurrence:
    """One occurrence: ``rid`` is where the rule puts it (its RECURRENCE-ID, UTC), [start, end) where it is."""

    rid: datetime
    start: datetime
    end: datetime
    status: OccurrenceStatus = "planned"
    booking_id: str | None = None
    reason: Reason | None = None  # skipped: why
    detail: str | None = None  # skipped: the refusal's own words

    def to_doc(self) -> dict[str, Any]:
        return {
            "rid": iso(self.rid),
            "start": iso(self.start),
            "end": iso(self.end),
            "status": self.status,
            "booking_id": self.booking_id,
            "reason": self.reason,
            "detail": self.detail,
        }

    @classmethod
    def from_doc(cls, d: dict[str, Any]) -> Occurrence:
        return cls(
            parse_iso(d["rid"]),
            parse_iso(d["start"]),
            parse_iso(d["end"]),
            d["status"],
            d.get("booking_id"),
            d.get("reason"),
            d.get("detail"),
        )

    def out(self) -> dict[str, Any]:
        """As the API and the events show it."""
        return {
            "recurrence_id": iso(self.rid),
            "start": iso(self.start),
            "end": iso(self.end),
            "booking_id": self.booking_id,
            "reason": self.reason,
        }


@dataclass
class Series:
    """A recurring booking of one resource by one person. ``start``/``end`` are the first occurrence's
    slot under the rule (moving all occurrences moves them); ``bookings`` every booking id the series
    ever held (a moved occurrence gets a new booking), so its feeds never show them twice."""

    id: str
    resource_id: str
    site_id: str
    person: str
    region: str
    timezone: str
    rrule: str
    start: datetime
    end: datetime
    on_conflict: OnConflict
    created_at: datetime
    status: SeriesStatus = "booking"
    occurrences: list[Occurrence] = field(default_factory=list)
    bookings: list[str] = field(default_factory=list)
    sequence: int = 0

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def rule(self) -> Rule:
        return parse_rule(self.rrule)

    def local_date(self, o: Occurrence) -> date:
        return o.rid.astimezone(self.tz).date()

    def select(self, scope: Scope, rid: datetime | None, now: datetime) -> list[Occurrence]:
        """The booked occurrences a change for ``scope`` touches: the one at ``rid``, it and those after,
        or every one not started yet."""
        booked = [o for o in self.occurrences if o.status == "booked"]
        if scope == "one":
            return [o for o in booked if o.rid == rid]
        if scope == "following":
            return [o for o in booked if rid is not None and o.rid >= rid and o.start > now]
        return [o for o in booked if o.start > now]

    def set(self, o: Occurrence) -> None:
        self.occurrences = [o if x.rid == o.rid else x for x in self.occurrences]
        if o.booking_id and o.booking_id not in self.bookings:
            self.bookings.append(o.booking_id)

    def moved_slot(self, o: Occurrence, start: time, end: time) -> tuple[datetime, datetime]:
        """The slot of ``o``'s local day from ``start`` to ``end`` local time (a move never changes the day)."""
        day, tz = self.local_date(o), self.tz
        return datetime.combine(day, start, tz), datetime.combine(day, end, tz)

    def rebase(self, start: time, end: time) -> None:
        """Every occurrence moves (scope ``all``): the rule's first slot moves, so each occurrence's
        recurrence id is the rule's new instant for its day (the feed needs no override)."""
        first = self.occurrences[0]
        self.start, self.end = self.moved_slot(first, start, end)
        rids = expand(self.rule, self.start, self.tz)
        self.occurrences = [replace(o, rid=r) for o, r in zip(self.occurrences, rids, strict=True)]


def plan(
    series_id: str,
    rule: Rule,
    booking_resource: tuple[str, str, str, str],
    person: str,
    start: datetime,
    end: datetime,
    on_conflict: OnConflict,
    now: datetime,
) -> Series:
    """A new series with every occurrence planned (``booking_resource``: resource id, site id, region,
    time zone)."""
    resource_id, site_id, region, timezone = booking_resource
    duration = end - start
    s = Series(series_id, resource_id, site_id, person, region, timezone, rule.text(), start, end, on_conflict, now)
    s.occurrences = [Occurrence(r, r, r + duration) for r in expand(rule, start, ZoneInfo(timezone))]
    return s


def booked(o: Occurrence, b: Booking) -> Occurrence:
    return replace(o, start=b.start, end=b.end, status="booked", booking_id=b.id, reason=None, detail=None)


def skipped(o: Occurrence, reason: Reason, detail: str) -> Occurrence:
    return replace(o, status="skipped", booking_id=None, reason=reason, detail=detail)


def to_doc(s: Series, previous: dict[str, Any] | None) -> dict[str, Any]:
    base = dict(previous or {})
    base.update(
        {
            "_id": s.id,
            "resource_id": s.resource_id,
            "site_id": s.site_id,
            "person": s.person,
            "region": s.region,
            "timezone": s.timezone,
            "rrule": s.rrule,
            "start": iso(s.start),
            "end": iso(s.end),
            "on_conflict": s.on_conflict,
            "created_at": iso(s.created_at),
            "status": s.status,
            "occurrences": [o.to_doc() for o in s.occurrences],
            "bookings": list(s.bookings),
            "sequence": s.sequence,
        }
    )
    return base


def from_doc(d: dict[str, Any]) -> Series:
    return Series(
        id=d["_id"],
        resource_id=d["resource_id"],
        site_id=d["site_id"],
        person=d["person"],
        region=d["region"],
        timezone=d["timezone"],
        rrule=d["rrule"],
        start=parse_iso(d["start"]),
        end=parse_iso(d["end"]),
        on_conflict=d["on_conflict"],
        created_at=parse_iso(d["created_at"]),
        status=d["status"],
        occurrences=[Occurrence.from_doc(x) for x in d.get("occurrences", [])],
        bookings=list(d.get("bookings", [])),
        sequence=d.get("sequence", 0),
    )


MAX_DURATION = timedelta(days=1)
