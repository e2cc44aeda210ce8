"""Sites, resources, booking policies, and the per-resource-per-day schedule that guards bookings."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from clustergrowth import ids
from clustergrowth.context import stamp
from clustergrowth.problems import Conflict, Forbidden, NotFound, Unprocessable, field_error

SiteKind = Literal["science_park", "university", "business_organisation"]
ResourceKind = Literal["hot_desk", "meeting_room", "lab", "equipment", "university_access_point"]
BookingStatus = Literal["pending_approval", "confirmed", "cancelled", "rejected", "released"]
ACTIVE: tuple[BookingStatus, ...] = ("pending_approval", "confirmed")
MEMBERSHIP_ENDED = "membership_ended"  # a booking's cause: the council membership its policy required ended
NO_SHOW = "no_show"  # a released booking's cause: not checked in within its resource's grace period
CHECK_IN_OPENS = timedelta(minutes=15)  # check-in opens this long before a booking's start
EntryStatus = Literal["waiting", "offered", "claimed", "lapsed", "left"]
LIVE_ENTRY: tuple[EntryStatus, ...] = ("waiting", "offered")
MAX_WAITLIST = 200  # waitlist entries (of any status) one resource's day keeps: its document stays bounded
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)


iso = stamp  # the runtime's one timestamp format


def parse_iso(s: str) -> datetime:
    return datetime.fromisoformat(s)  # Python 3.11 reads a trailing Z as UTC


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
    check_in_grace_minutes: int | None = None  # None: no check-in; else released unless checked in by start + this

    def to_doc(self) -> dict[str, Any]:
        doc = {
            "max_duration_minutes": self.max_duration_minutes,
            "max_days_ahead": self.max_days_ahead,
            "eligible_regions": list(self.eligible_regions),
            "eligible_roles": list(self.eligible_roles),
            "requires_approval": self.requires_approval,
            "required_training": self.required_training,
            "member_of_councils": list(self.member_of_councils),
        }
        if self.check_in_grace_minutes is not None:  # only where check-in is asked; older policies lack it
            doc["check_in_grace_minutes"] = self.check_in_grace_minutes
        return doc

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
            check_in_grace_minutes=d.get("check_in_grace_minutes"),
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
    cause: str | None = None  # why the platform itself withdrew it (``membership_ended``, ``no_show``); else None
    check_in_by: datetime | None = None  # its resource asks for check-in: released if not checked in by then
    checked_in_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end


def minute(dt: datetime) -> datetime:
    """``dt`` cut to its minute: where a slot taken from now on starts (never after now)."""
    return dt.replace(second=0, microsecond=0)


@dataclass(frozen=True)
class OfferRules:
    """How long a waitlist offer is held: ``claim_minutes``, but never more than half the time left
    before the offered slot starts, and never less than ``min_claim_minutes``; and never past the slot's
    end. So: expires = min(now + max(floor, min(default, (start - now) / 2)), end)."""

    claim_minutes: int = 30
    min_claim_minutes: int = 5

    def expiry(self, start: datetime, end: datetime, now: datetime) -> datetime:
        held = min(timedelta(minutes=self.claim_minutes), (start - now) / 2)
        return min(now + max(timedelta(minutes=self.min_claim_minutes), held), end)


@dataclass(frozen=True)
class WaitEntry:
    """A person in line for a resource: any slot that frees up within [start, end) of one local day (the
    exact slot of a taken booking is the narrowest window). While ``offered`` the slot [offer_start,
    offer_end) is held for them until ``expires_at`` (exclusive): nobody else may book it meanwhile."""

    id: str
    resource_id: str
    person: str
    person_region: str
    organisation: str | None
    start: datetime
    end: datetime
    joined_at: datetime
    status: EntryStatus = "waiting"
    offer_start: datetime | None = None
    offer_end: datetime | None = None
    offered_at: datetime | None = None
    expires_at: datetime | None = None
    freed_booking: str | None = None  # the booking whose end of life made the offer
    booking_id: str | None = None  # the booking a claim made
    changed_at: datetime | None = None

    @property
    def live(self) -> bool:
        return self.status in LIVE_ENTRY

    def holds(self, now: datetime) -> bool:
        """Whether its offer holds the slot at ``now`` (an offer lapses at ``expires_at``)."""
        return self.status == "offered" and self.expires_at is not None and now < self.expires_at

    def wants(self, start: datetime, end: datetime) -> bool:
        return self.status == "waiting" and self.start <= start and end <= self.end

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


_HEX = frozenset("0123456789abcdef")


def item_id(resource_id: str, day: date) -> str:
    """The id of a booking or a waitlist entry: the day that holds it, then 32 random hex digits
    (``<resource>@<day>.<hex>``), so that finding it by id reads one document, not every day's."""
    return f"{ResourceDay.key(resource_id, day)}.{ids.uuid4_hex()}"


def day_of(item: str) -> str | None:
    """The key of the ResourceDay an ``item_id`` names; None for an id not made so (a UUID, made before)."""
    key, dot, tail = item.rpartition(".")
    resource_id, at, day = key.rpartition("@")
    if not (dot and at and resource_id) or len(tail) != 32 or not _HEX.issuperset(tail):
        return None
    try:
        if date.fromisoformat(day).isoformat() != day:  # the one spelling item_id writes
            return None
    except ValueError:
        return None
    return key


@dataclass
class ResourceDay:
    """The schedule of one resource on one local date: the aggregate that makes bookings exclusive.

    Every booking starting on this date lives in this one document, so checking for overlaps and
    adding the booking is a single version-guarded write that the database arbitrates. The day's
    waitlist lives here too: an offer holds its slot like a booking, and a claim turns it into one in
    the same guarded write, so a claim and a direct booking of the slot cannot both win.
    """

    resource_id: str
    day: date
    bookings: list[Booking] = field(default_factory=list)
    waitlist: list[WaitEntry] = field(default_factory=list)  # in the order people joined

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

    def taken(self, now: datetime) -> list[tuple[datetime, datetime]]:
        """What no one else may book at ``now``: each active booking's slot and each slot an offer holds
        (until its ``expires_at``, exclusive), as [start, end) pairs naming nobody (availability's busy)."""
        out = [(b.start, b.end) for b in self.bookings if b.active]
        out += [(e.offer_start, e.offer_end) for e in self.waitlist if e.holds(now) and e.offer_start and e.offer_end]
        return out

    def held(self, resource: Resource, start: datetime, end: datetime, now: datetime, skip: str | None = None) -> bool:
        """Whether active bookings and the offers holding a slot at ``now`` (but entry ``skip``'s) leave
        no room for [start, end)."""
        taken = [(b.start, b.end) for b in self.bookings if b.active and b.overlaps(start, end)]
        for e in self.waitlist:
            if e.id != skip and e.holds(now) and e.offer_start and e.offer_end:
                if e.offer_start < end and start < e.offer_end:
                    taken.append((e.offer_start, e.offer_end))
        clipped = [(max(a, start), min(b, end)) for a, b in taken]
        return _max_overlap([*clipped, (start, end)]) > resource.capacity

    def _check_free(
        self, resource: Resource, start: datetime, end: datetime, now: datetime, skip: str | None = None
    ) -> None:
        clash = self.conflicts(resource, start, end)
        if clash:
            raise Conflict(
                "the requested slot is already booked",
                conflicting=[{"start": iso(b.start), "end": iso(b.end)} for b in clash],
                requested={"start": iso(start), "end": iso(end)},
            )
        if self.held(resource, start, end, now, skip):
            offers = [e for e in self.waitlist if e.id != skip and e.holds(now)]
            raise Conflict(
                "the requested slot is held for someone on the waitlist until their offer is claimed or lapses",
                held=[
                    {"start": iso(e.offer_start), "end": iso(e.offer_end), "until": iso(e.expires_at)}
                    for e in offers
                    if e.offer_start and e.offer_end and e.expires_at
                ],
                requested={"start": iso(start), "end": iso(end)},
            )

    def book(self, resource: Resource, who: Booker, start: datetime, end: datetime, now: datetime) -> Booking:
        """Check every rule and add a booking; raises a Problem naming what was refused and why."""
        check_booking_rules(resource, who, start, end, now)
        self._check_free(resource, start, end, now)
        return self._add(resource, who, start, end, now)

    def _add(self, resource: Resource, who: Booker, start: datetime, end: datetime, now: datetime) -> Booking:
        grace = resource.policy.check_in_grace_minutes
        booking = Booking(
            id=item_id(self.resource_id, self.day),
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
            check_in_by=None if grace is None else utc(start) + timedelta(minutes=grace),
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

    # Check-in and no-show release ------------------------------------------------------------------
    def check_in(self, booking_id: str, by: str, may_manage: bool, now: datetime) -> Booking:
        """The holder (or a manager) checks in from ``CHECK_IN_OPENS`` before the start until ``check_in_by``
        inclusive; 409 naming the window outside it, after a release, or where no check-in is asked.
        Checking in again changes nothing (the same booking comes back)."""
        b = self.find(booking_id)
        if b.person != by and not may_manage:
            raise NotFound(f"no booking {booking_id}")
        if b.check_in_by is None:
            raise Conflict(f"booking {booking_id}'s resource asks for no check-in", status_now=b.status)
        if b.status == "released":
            raise Conflict(
                f"booking {booking_id} was released as a no-show: check-in closed at {iso(b.check_in_by)}",
                status_now=b.status,
            )
        if b.status != "confirmed":
            raise Conflict(f"booking {booking_id} is {b.status}, not confirmed", status_now=b.status)
        if b.checked_in_at is not None:
            return b
        opens = b.start - CHECK_IN_OPENS
        if now < opens:
            raise Conflict(
                f"check-in opens at {iso(opens)}, {CHECK_IN_OPENS.seconds // 60} minutes before the start",
                opens_at=iso(opens),
            )
        if now > b.check_in_by:
            raise Conflict(f"check-in closed at {iso(b.check_in_by)}", closed_at=iso(b.check_in_by))
        return self._set(replace(b, checked_in_at=utc(now), changed_by=by))

    def release_no_shows(self, now: datetime, by: str) -> list[Booking]:
        """Release every confirmed booking not checked in whose ``check_in_by`` has passed (now after it)."""
        out = []
        for b in list(self.bookings):
            if b.status == "confirmed" and b.check_in_by and b.checked_in_at is None and now > b.check_in_by:
                gone = replace(b, status="released", sequence=b.sequence + 1, changed_by=by, cause=NO_SHOW)
                out.append(self._set(gone))
        return out

    # Waitlist ---------------------------------------------------------------------------------------
    def entry(self, entry_id: str) -> WaitEntry:
        for e in self.waitlist:
            if e.id == entry_id:
                return e
        raise NotFound(f"no waitlist entry {entry_id}")

    def _set_entry(self, entry: WaitEntry) -> WaitEntry:
        self.waitlist = [entry if e.id == entry.id else e for e in self.waitlist]
        return entry

    def position(self, entry_id: str) -> int | None:
        """1 + the people still waiting who joined before and want an overlapping time (at most that many
        are offered a slot first); None once the entry no longer waits."""
        me = self.entry(entry_id)
        if me.status != "waiting":
            return None
        ahead = 0
        for e in self.waitlist:
            if e.id == entry_id:
                break
            ahead += e.status == "waiting" and e.overlaps(me.start, me.end)
        return ahead + 1

    def join(self, resource: Resource, who: Booker, start: datetime, end: datetime, now: datetime) -> WaitEntry:
        """Join the line for [start, end) of this day: 422 for a window that is not of this one local day,
        has ended, is beyond the booking horizon or misses the opening hours; 403 if the person may not
        book the resource; 409 if the window is free to book now, if they are already in line for it or
        hold a booking in it, or if the day's list is full."""
        errors: list[dict[str, str]] = []
        tz = resource.tz
        if end <= start:
            errors.append({"field": "end", "reason": "must be after start"})
        elif end <= now:
            errors.append({"field": "end", "reason": "has passed"})
        if start.astimezone(tz).date() != self.day:
            errors.append({"field": "start", "reason": f"must be on {self.day} ({resource.timezone})"})
        elif end > datetime.combine(self.day + timedelta(days=1), time(), tz):
            errors.append({"field": "end", "reason": f"must be on {self.day} ({resource.timezone}), by midnight"})
        if start > now + timedelta(days=resource.policy.max_days_ahead):
            errors.append({"field": "start", "reason": f"more than {resource.policy.max_days_ahead} days ahead"})
        elif end > start and not any(a < end and start < b for a, b in resource.opening_hours.on(self.day, tz)):
            hours = resource.opening_hours.describe(self.day)
            errors.append({"field": "start", "reason": f"outside opening hours ({hours} {resource.timezone})"})
        if errors:
            raise Unprocessable("; ".join(f"{e['field']}: {e['reason']}" for e in errors), errors)
        check_standing(resource.policy, who, roles=True)
        for e in self.waitlist:
            if e.person == who.person and e.live and e.overlaps(start, end):
                raise Conflict("you are already on this waitlist for an overlapping time", entry_id=e.id)
        mine = [b for b in self.bookings if b.person == who.person and b.active and b.overlaps(start, end)]
        if mine:
            raise Conflict("you hold a booking in this window", booking_id=mine[0].id)
        try:
            check_booking_rules(resource, who, start, end, now)
            free = not self.held(resource, start, end, now)
        except (Unprocessable, Forbidden):
            free = False  # not bookable as one slot (a wider window, past its start): a line is what is left
        if free:
            raise Conflict("the slot is free: book it instead", requested={"start": iso(start), "end": iso(end)})
        if len(self.waitlist) >= MAX_WAITLIST:
            raise Conflict(f"this day's waitlist is full ({MAX_WAITLIST} entries)")
        entry = WaitEntry(
            id=item_id(self.resource_id, self.day),
            resource_id=resource.id,
            person=who.person,
            person_region=who.region,
            organisation=who.org,
            start=utc(start),
            end=utc(end),
            joined_at=utc(now),
        )
        self.waitlist.append(entry)
        return entry

    def offer(
        self, resource: Resource, start: datetime, end: datetime, now: datetime, rules: OfferRules, freed: str | None
    ) -> list[WaitEntry]:
        """Offer [start, end), from now on, to the first person still waiting whose window holds it and
        who holds no booking in it, if the slot is free; [] when nobody is (then the slot is just free)."""
        start = max(start, minute(now))
        if start >= end or self.held(resource, start, end, now):
            return []
        for e in self.waitlist:
            if not e.wants(start, end):
                continue
            if any(b.person == e.person and b.active and b.overlaps(start, end) for b in self.bookings):
                continue
            offered = replace(
                e,
                status="offered",
                offer_start=start,
                offer_end=end,
                offered_at=utc(now),
                expires_at=rules.expiry(start, end, utc(now)),
                freed_booking=freed,
                changed_at=utc(now),
            )
            return [self._set_entry(offered)]
        return []

    def offer_freed(
        self, resource: Resource, freed: Booking, now: datetime, rules: OfferRules, kept: Booking | None = None
    ) -> list[WaitEntry]:
        """After a booking left the schedule (cancelled, rejected, released): its slot to the line. When
        its holder moved it (``kept``: the new booking of the same day), only the parts of the old slot the
        new one does not cover were given back: each is offered on its own."""
        pieces = [(freed.start, freed.end)]
        if kept is not None and kept.overlaps(freed.start, freed.end):
            pieces = [(a, b) for a, b in ((freed.start, kept.start), (kept.end, freed.end)) if a < b]
        return [e for a, b in pieces for e in self.offer(resource, a, b, now, rules, freed.id)]

    def lapse_due(self, resource: Resource, now: datetime, rules: OfferRules) -> list[WaitEntry]:
        """Every offer whose ``expires_at`` has come lapses and its slot goes to the next in line: the
        lapsed entries and the new offers, in that order per slot (a second call changes nothing)."""
        out: list[WaitEntry] = []
        for e in list(self.waitlist):
            if e.status == "offered" and e.expires_at is not None and now >= e.expires_at:
                out.append(self._set_entry(replace(e, status="lapsed", changed_at=utc(now))))
                if e.offer_start and e.offer_end:
                    out += self.offer(resource, e.offer_start, e.offer_end, now, rules, e.freed_booking)
        return out

    def claim(self, resource: Resource, entry_id: str, who: Booker, now: datetime) -> tuple[WaitEntry, Booking]:
        """Turn one's offer into a booking of its slot (from now on if it has started) before it lapses;
        the booking rules apply as to any booking, and the slot must still have room."""
        e = self.entry(entry_id)
        if e.person != who.person:
            raise NotFound(f"no waitlist entry {entry_id}")
        if e.status != "offered" or not (e.offer_start and e.offer_end and e.expires_at):
            raise Conflict(f"waitlist entry {entry_id} is {e.status}: there is no offer to claim", status_now=e.status)
        if now >= e.expires_at:
            raise Conflict(f"the offer lapsed at {iso(e.expires_at)}", expired_at=iso(e.expires_at))
        start = max(e.offer_start, minute(now))
        check_booking_rules(resource, who, start, e.offer_end, now)
        self._check_free(resource, start, e.offer_end, now, skip=e.id)
        booking = self._add(resource, who, start, e.offer_end, now)
        claimed = replace(e, status="claimed", booking_id=booking.id, changed_at=utc(now))
        return self._set_entry(claimed), booking

    def leave(
        self, entry_id: str, by: str, may_manage: bool, resource: Resource, now: datetime, rules: OfferRules
    ) -> tuple[WaitEntry, list[WaitEntry]]:
        """Leave the line (the person, or a manager); an offer held is passed on to the next in line."""
        e = self.entry(entry_id)
        if e.person != by and not may_manage:
            raise NotFound(f"no waitlist entry {entry_id}")
        if not e.live:
            raise Conflict(f"waitlist entry {entry_id} is {e.status}", status_now=e.status)
        left = self._set_entry(replace(e, status="left", changed_at=utc(now)))
        offers: list[WaitEntry] = []
        if e.holds(now) and e.offer_start and e.offer_end:
            offers = self.offer(resource, e.offer_start, e.offer_end, now, rules, e.freed_booking)
        return left, offers

    def next_due(self) -> datetime | None:
        """The earliest moment something here is due: an offer's lapse or a booking's check-in deadline."""
        due = [e.expires_at for e in self.waitlist if e.status == "offered" and e.expires_at]
        due += [
            b.check_in_by for b in self.bookings if b.status == "confirmed" and b.check_in_by and not b.checked_in_at
        ]
        return min(due, default=None)


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
