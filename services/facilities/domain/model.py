"""Sites, resources, booking policies, and the per-resource-per-day schedule that guards bookings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from clustergrowth.context import stamp
from clustergrowth.problems import Conflict, Forbidden, NotFound, Unprocessable, field_error

SiteKind = Literal["science_park", "university", "business_organisation"]
ResourceKind = Literal["hot_desk", "meeting_room", "lab", "equipment", "university_access_point"]
BookingStatus = Literal["pending_approval", "confirmed", "cancelled", "rejected"]
ACTIVE: tuple[BookingStatus, ...] = ("pending_approval", "confirmed")
MEMBERSHIP_ENDED = "membership_ended"  # a booking's cause: the council membership its policy required ended
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)


iso = stamp  # the runtime's one timestamp format


def parse_iso(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


@dataclass(frozen=True)
class OpeningHours:
    """Local opening windows per weekday (``mon``..``sun``); a missing day is closed."""

    windows: dict[str, list[tuple[time, time]]]

    @classmethod
    def from_doc(cls, d: dict[str, list[dict[str, str]]]) -> OpeningHours:
        return cls(
            {day: [(time.fromisoformat(x["open"]), time.fromisoformat(x["close"])) for x in w] for day, w in d.items()}
        )

    def to_doc(self) -> dict[str, list[dict[str, str]]]:
        """Windows as objects, not pairs: FerretDB (and so the store port) stores no nested arrays."""
        return {
            d: [{"open": a.strftime("%H:%M"), "close": b.strftime("%H:%M")} for a, b in w]
            for d, w in self.windows.items()
        }

    def on(self, day: date, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
        """The windows of one local date as aware datetimes."""
        out = []
        for a, b in self.windows.get(WEEKDAYS[day.weekday()], []):
            out.append((datetime.combine(day, a, tz), datetime.combine(day, b, tz)))
        return out

    def describe(self, day: date) -> str:
        w = self.windows.get(WEEKDAYS[day.weekday()], [])
        return ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in w) or "closed"


@dataclass(frozen=True)
class BookingPolicy:
    """Who may book a resource, for how long, how far ahead, and whether a manager approves."""

    max_duration_minutes: int = 8 * 60
    max_days_ahead: int = 30
    eligible_regions: tuple[str, ...] = ()  # empty: people from any region
    eligible_roles: tuple[str, ...] = ()  # empty: any authenticated person
    requires_approval: bool = False
    required_training: str | None = None
    member_of_councils: tuple[str, ...] = ()  # empty: no restriction; else members of one of these councils

    def to_doc(self) -> dict[str, Any]:
        return {
            "max_duration_minutes": self.max_duration_minutes,
            "max_days_ahead": self.max_days_ahead,
            "eligible_regions": list(self.eligible_regions),
            "eligible_roles": list(self.eligible_roles),
            "requires_approval": self.requires_approval,
            "required_training": self.required_training,
            "member_of_councils": list(self.member_of_councils),
        }

    @classmethod
    def from_doc(cls, d: dict[str, Any]) -> BookingPolicy:
        return cls(
            max_duration_minutes=d["max_duration_minutes"],
            max_days_ahead=d["max_days_ahead"],
            eligible_regions=tuple(d.get("eligible_regions") or ()),
            eligible_roles=tuple(d.get("eligible_roles") or ()),
            requires_approval=bool(d.get("requires_approval")),
            required_training=d.get("required_training"),
            member_of_councils=tuple(d.get("member_of_councils") or ()),
        )


@dataclass(frozen=True)
class Site:
    """A science park, university or business organisation that hosts resources."""

    id: str
    name: str
    kind: SiteKind
    region: str
    city: str
    address: str
    timezone: str
    opening_hours: OpeningHours
    organisation: str | None = None


@dataclass(frozen=True)
class Resource:
    """Something bookable at a site; ``capacity`` is how many bookings may overlap."""

    id: str
    site_id: str
    name: str
    kind: ResourceKind
    capacity: int
    policy: BookingPolicy
    region: str
    timezone: str
    opening_hours: OpeningHours
    organisation: str | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Booker:
    """The booking person as the domain sees them (from the verified principal): their platform id."""

    person: str
    roles: frozenset[str]
    region: str
    org: str | None
    trainings: frozenset[str] = frozenset()
    councils: frozenset[str] = frozenset()  # councils the person is a member of (from MemberJoined/MemberLeft)
    qualified_until: dict[str, datetime] = field(default_factory=dict)  # training -> when it expires (valid_until)


@dataclass(frozen=True)
class Booking:
    """A claim on a resource for [start, end)."""

    id: str
    resource_id: str
    site_id: str
    resource_kind: ResourceKind
    person: str
    organisation: str | None
    person_region: str
    region: str
    start: datetime
    end: datetime
    status: BookingStatus
    created_at: datetime
    sequence: int = 0  # iCalendar SEQUENCE: bumped on every change a calendar must see
    changed_by: str | None = None
    cause: str | None = None  # why the platform itself withdrew it (``membership_ended``); None otherwise

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end


def _max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    points: list[tuple[datetime, int]] = []
    for s, e in intervals:
        points += [(s, 1), (e, -1)]
    points.sort(key=lambda p: (p[0], p[1]))  # an end at t frees the slot for a start at t
    cur = best = 0
    for _, d in points:
        cur += d
        best = max(best, cur)
    return best


@dataclass
class ResourceDay:
    """The schedule of one resource on one local date: the aggregate that makes bookings exclusive.

    Every booking starting on this date lives in this one document, so checking for overlaps and
    adding the booking is a single version-guarded write that the database arbitrates.
    """

    resource_id: str
    day: date
    bookings: list[Booking] = field(default_factory=list)

    @staticmethod
    def key(resource_id: str, day: date) -> str:
        return f"{resource_id}@{day.isoformat()}"

    def conflicts(self, resource: Resource, start: datetime, end: datetime) -> list[Booking]:
        """Active bookings that would push overlap above capacity, or [] when the slot is free."""
        overlapping = [b for b in self.bookings if b.active and b.overlaps(start, end)]
        clipped = [(max(b.start, start), min(b.end, end)) for b in overlapping]
        if _max_overlap([*clipped, (start, end)]) > resource.capacity:
            return overlapping
        return []

    def book(self, resource: Resource, who: Booker, start: datetime, end: datetime, now: datetime) -> Booking:
        """Check every rule and add a booking; raises a Problem naming what was refused and why."""
        check_booking_rules(resource, who, start, end, now)
        clash = self.conflicts(resource, start, end)
        if clash:
            raise Conflict(
                "the requested slot is already booked",
                conflicting=[{"start": iso(b.start), "end": iso(b.end)} for b in clash],
                requested={"start": iso(start), "end": iso(end)},
            )
        booking = Booking(
            id=str(uuid.uuid4()),
            resource_id=resource.id,
            site_id=resource.site_id,
            resource_kind=resource.kind,
            person=who.person,
            organisation=who.org,
            person_region=who.region,
            region=resource.region,
            start=utc(start),
            end=utc(end),
            status="pending_approval" if resource.policy.requires_approval else "confirmed",
            created_at=utc(now),
        )
        self.bookings.append(booking)
        return booking

    def find(self, booking_id: str) -> Booking:
        for b in self.bookings:
            if b.id == booking_id:
                return b
        raise NotFound(f"no booking {booking_id}")

    def _set(self, booking: Booking) -> Booking:
        self.bookings = [booking if b.id == booking.id else b for b in self.bookings]
        return booking

    def cancel(self, booking_id: str, by: str, may_manage: bool) -> Booking:
        b = self.find(booking_id)
        if b.person != by and not may_manage:
            raise NotFound(f"no booking {booking_id}")
        if not b.active:
            raise Conflict(f"booking {booking_id} is already {b.status}", status_now=b.status)
        return self._set(replace(b, status="cancelled", sequence=b.sequence + 1, changed_by=by))

    def decide(self, booking_id: str, by: str, approve: bool) -> Booking:
        """The transition alone; a manager's approval goes through ``approve``, which re-checks the holder."""
        b = self.find(booking_id)
        if b.status != "pending_approval":
            raise Conflict(f"booking {booking_id} is {b.status}, not awaiting approval", status_now=b.status)
        status: BookingStatus = "confirmed" if approve else "rejected"
        return self._set(replace(b, status=status, sequence=b.sequence + 1, changed_by=by))

    def approve(self, booking_id: str, by: str, resource: Resource, holder: Booker) -> Booking:
        """Confirm a request if its holder still meets the resource's policy (``check_standing``: region,
        councils, training, as known now); else 409 naming the rule, and the request stays pending."""
        b = self.find(booking_id)
        if b.status == "pending_approval":
            try:
                check_standing(resource.policy, holder)
                check_qualification(resource.policy, holder, b.end)
            except (Forbidden, Unprocessable) as e:
                raise Conflict(
                    f"booking {booking_id} cannot be approved: {e.detail}", **e.extensions, status_now=b.status
                ) from e
        return self.decide(booking_id, by, approve=True)

    def end_membership(
        self, person: str, council_id: str, councils: frozenset[str], resource: Resource, now: datetime, by: str
    ) -> list[tuple[BookingStatus, Booking]]:
        """Withdraw ``person``'s bookings starting after ``now`` when the resource's policy asks for
        membership of ``council_id`` and of no council in ``councils`` (those she still belongs to).
        Returns (status before, booking after) of each withdrawn booking; a second call withdraws nothing."""
        required = resource.policy.member_of_councils
        if council_id not in required or councils & set(required):
            return []
        out: list[tuple[BookingStatus, Booking]] = []
        for b in list(self.bookings):
            if b.person == person and b.active and b.start > now:
                gone = replace(b, status="cancelled", sequence=b.sequence + 1, changed_by=by, cause=MEMBERSHIP_ENDED)
                out.append((b.status, self._set(gone)))
        return out


def check_booking_rules(resource: Resource, who: Booker, start: datetime, end: datetime, now: datetime) -> None:
    """Time, opening-hours and policy rules; 422 for the slot, 403 for who may book."""
    errors: list[dict[str, str]] = []
    if end <= start:
        errors.append({"field": "end", "reason": "must be after start"})
    if start < now - timedelta(minutes=1):
        errors.append({"field": "start", "reason": "is in the past"})
    policy = resource.policy
    if end > start and end - start > timedelta(minutes=policy.max_duration_minutes):
        errors.append({"field": "end", "reason": f"longer than the maximum of {policy.max_duration_minutes} minutes"})
    if start > now + timedelta(days=policy.max_days_ahead):
        errors.append({"field": "start", "reason": f"more than {policy.max_days_ahead} days ahead"})
    tz = resource.tz
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    if end > start and not any(
        a <= local_start and local_end <= b for a, b in resource.opening_hours.on(local_start.date(), tz)
    ):
        hours = resource.opening_hours.describe(local_start.date())
        errors.append(
            {
                "field": "start",
                "reason": f"outside opening hours ({hours} {resource.timezone} on {local_start.date()})",
            }
        )
    if errors:
        raise Unprocessable("; ".join(f"{e['field']}: {e['reason']}" for e in errors), errors)
    check_standing(policy, who, roles=True)
    check_qualification(policy, who, end)


def check_standing(policy: BookingPolicy, who: Booker, *, roles: bool = False) -> None:
    """The rules about the person (403 naming the rule): region, roles when ``roles``, council membership,
    training. At approval the holder's token is gone, so roles (which only a token carries) are not
    re-checked; region (kept on the booking), councils and trainings (kept by this service) are."""
    if policy.eligible_regions and who.region not in policy.eligible_regions:
        raise Forbidden(
            f"people from region {who.region} may not book this resource",
            eligible_regions=list(policy.eligible_regions),
        )
    if roles and policy.eligible_roles and not (who.roles & set(policy.eligible_roles)):
        raise Forbidden("your roles may not book this resource", eligible_roles=list(policy.eligible_roles))
    if policy.member_of_councils and not (who.councils & set(policy.member_of_councils)):
        councils = list(policy.member_of_councils)
        raise Forbidden(
            f"this resource's policy member_of_councils admits members of the councils {councils} only",
            member_of_councils=councils,
        )
    if policy.required_training and policy.required_training not in who.trainings:
        raise Forbidden(
            f"this resource requires valid training '{policy.required_training}'",
            required_training=policy.required_training,
        )


def check_qualification(policy: BookingPolicy, who: Booker, end: datetime) -> None:
    """A training-gated resource's slot must end by the time the person's training expires: a slot ending
    exactly at its valid_until is fine (validity and slot are both half-open), one ending a second later
    is refused, 422 on ``end`` naming the date (``required_training`` and ``valid_until`` as extensions).
    A training without a known expiry (``qualified_until`` lacks it) is not checked here."""
    training = policy.required_training
    until = who.qualified_until.get(training) if training else None
    if until is None or end <= until:
        return
    reason = f"after your training '{training}' expires at {iso(until)}"
    problem = Unprocessable(f"end: {reason}", [{"field": "end", "reason": reason}])
    problem.extensions.update(required_training=training, valid_until=iso(until))
    raise problem


def validate_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except Exception as e:
        raise field_error("timezone", f"unknown IANA time zone {name!r}") from e
