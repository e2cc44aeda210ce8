"""Free and busy times of a resource within a window."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from clustergrowth.problems import Unprocessable, field_error
from services.facilities import store as st
from services.facilities.domain.model import (
    Resource,
    iso,
)
from services.facilities.handlers.context import MAX_WINDOW, Facilities


# Availability --------------------------------------------------------------------------------------
def _check_window(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise Unprocessable("from/to need an offset", [{"field": "from", "reason": "needs a UTC offset"}])
    if end <= start:
        raise field_error("to", "must be after from")
    if end - start > MAX_WINDOW:
        raise field_error("to", f"the window may be at most {MAX_WINDOW.days} days")


async def availability(f: Facilities, resource: Resource, start: datetime, end: datetime) -> dict[str, Any]:
    """Free intervals (opening hours minus what is taken at capacity) within [start, end). Taken: the
    active bookings and the slots held for someone on the waitlist by an offer not lapsed at the clock's
    now (a direct booking of those is refused as well); both are busy alike, naming nobody."""
    _check_window(start, end)
    tz = ZoneInfo(resource.timezone)
    d0, d1 = start.astimezone(tz).date(), end.astimezone(tz).date()
    docs = await f.store.find(
        st.SCHEDULES, {"resource_id": resource.id, "day": {"$gte": d0.isoformat(), "$lte": d1.isoformat()}}
    )
    now = f.clock()
    taken = [x for d in docs for x in st.schedule_from_doc(d).taken(now)]
    free: list[dict[str, str]] = []
    day: date = d0
    while day <= d1:
        for a, b in resource.opening_hours.on(day, tz):
            lo, hi = max(a, start), min(b, end)
            if lo >= hi:
                continue
            cuts = sorted({lo, hi, *(x for t in taken for x in t if lo < x < hi)})
            for s, e in pairwise(cuts):
                used = sum(1 for ts, te in taken if ts < e and s < te)
                if used < resource.capacity:
                    if free and free[-1]["end"] == iso(s):
                        free[-1]["end"] = iso(e)
                    else:
                        free.append({"start": iso(s), "end": iso(e)})
        day += timedelta(days=1)
    return {
        "resource_id": resource.id,
        "timezone": resource.timezone,
        "from": iso(start),
        "to": iso(end),
        "free": free,
        "busy": [{"start": iso(s), "end": iso(e)} for s, e in sorted(taken) if s < end and start < e],
    }
