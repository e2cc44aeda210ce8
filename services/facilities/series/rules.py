"""The RRULE subset a series accepts, parsed by ``icalendar`` and expanded by ``dateutil.rrule``.

Accepted: ``FREQ=DAILY|WEEKLY``, ``INTERVAL`` (1..52), ``BYDAY`` (plain weekdays, no ordinals), and
exactly one of ``COUNT`` (1..366) or ``UNTIL`` (a UTC date-time or a date). Occurrences are generated in
the resource's local time (10:00 stays 10:00 across a daylight-saving change), at most
``MAX_OCCURRENCES`` of them and none later than ``HORIZON`` after the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from typing import Literal
from zoneinfo import ZoneInfo

from dateutil import rrule as du
from icalendar import vRecur

from clustergrowth.problems import Unprocessable, field_error

MAX_OCCURRENCES = 366
HORIZON = timedelta(days=366)
MAX_INTERVAL = 52
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
KEYS = {"FREQ", "INTERVAL", "BYDAY", "COUNT", "UNTIL"}


@dataclass(frozen=True)
class Rule:
    """A parsed rule of the subset."""

    freq: Literal["DAILY", "WEEKLY"]
    interval: int = 1
    byday: tuple[str, ...] = ()
    count: int | None = None
    until: datetime | None = None  # UTC

    def to_ical(self) -> vRecur:
        """The rule as the iCalendar library's value (for an RRULE property)."""
        parts: dict[str, list[object]] = {"FREQ": [self.freq]}
        if self.interval != 1:
            parts["INTERVAL"] = [self.interval]
        if self.byday:
            parts["BYDAY"] = list(self.byday)
        if self.count is not None:
            parts["COUNT"] = [self.count]
        if self.until is not None:
            parts["UNTIL"] = [self.until]
        return vRecur(parts)

    def text(self) -> str:
        return bytes(self.to_ical().to_ical()).decode()


def bad(reason: str) -> Unprocessable:
    return field_error("rrule", reason)


def parse_rule(text: str) -> Rule:
    """Parse and check a rule; 422 on ``rrule`` naming what is wrong."""
    names = [p.split("=", 1)[0].strip().upper() for p in text.split(";")]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise bad(f"parts {twice} are given more than once")
    try:
        parts = vRecur.from_ical(text)
    except (ValueError, TypeError) as e:
        raise bad(f"is not an RFC 5545 recurrence rule: {e}") from e
    unknown = sorted(set(parts) - KEYS)
    if unknown:
        raise bad(f"parts {unknown} are not supported (only FREQ, INTERVAL, BYDAY, COUNT, UNTIL)")
    if any(len(v) != 1 for k, v in parts.items() if k != "BYDAY"):
        raise bad("each part may appear once, with one value (but BYDAY)")
    freq = str(parts.get("FREQ", [""])[0]).upper()
    if freq not in ("DAILY", "WEEKLY"):
        raise bad("FREQ must be DAILY or WEEKLY")
    interval = parts.get("INTERVAL", [1])[0]
    if not isinstance(interval, int) or not 1 <= interval <= MAX_INTERVAL:
        raise bad(f"INTERVAL must be 1..{MAX_INTERVAL}")
    byday = tuple(str(d).upper() for d in parts.get("BYDAY", []))
    if any(d not in DAYS for d in byday):
        raise bad(f"BYDAY takes plain weekdays {list(DAYS)}, without ordinals")
    if len(set(byday)) != len(byday):
        raise bad("BYDAY names a weekday twice")
    if "COUNT" in parts and "UNTIL" in parts:
        raise bad("COUNT and UNTIL must not both be given")
    if "COUNT" not in parts and "UNTIL" not in parts:
        raise bad("one of COUNT or UNTIL is required (a series is bounded)")
    count = parts["COUNT"][0] if "COUNT" in parts else None
    if count is not None and (not isinstance(count, int) or not 1 <= count <= MAX_OCCURRENCES):
        raise bad(f"COUNT must be 1..{MAX_OCCURRENCES}")
    until: datetime | None = None
    if "UNTIL" in parts:
        u = parts["UNTIL"][0]
        if isinstance(u, datetime):
            if u.tzinfo is None:
                raise bad("UNTIL must be a UTC date-time (ending in Z) or a date")
            until = u.astimezone(UTC)
        elif isinstance(u, date):
            until = datetime.combine(u, time(23, 59, 59), UTC)
        else:
            raise bad("UNTIL must be a UTC date-time (ending in Z) or a date")
    return Rule(freq, interval, byday, count, until)  # type: ignore[arg-type]


def expand(rule: Rule, start: datetime, tz: ZoneInfo) -> list[datetime]:
    """The rule's occurrences from ``start`` (which must be the first), as UTC instants; 422 beyond the
    bounds. Generated as local wall times and then placed in ``tz``."""
    local = start.astimezone(tz).replace(tzinfo=None)
    until = rule.until.astimezone(tz).replace(tzinfo=None) if rule.until else None
    gen = du.rrule(
        du.DAILY if rule.freq == "DAILY" else du.WEEKLY,
        dtstart=local,
        interval=rule.interval,
        byweekday=[DAYS.index(d) for d in rule.byday] or None,
        count=rule.count,
        until=until,
    )
    wall = list(islice(gen, MAX_OCCURRENCES + 1))
    if not wall:
        raise bad("has no occurrence from start on")
    if len(wall) > MAX_OCCURRENCES:
        raise bad(f"gives more than {MAX_OCCURRENCES} occurrences")
    if wall[0] != local:
        raise field_error("start", "is not an occurrence of rrule (its weekday is not in BYDAY)")
    out = [w.replace(tzinfo=tz).astimezone(UTC) for w in wall]
    if out[-1] - out[0] > HORIZON:
        raise bad(f"reaches more than {HORIZON.days} days beyond start")
    return out
