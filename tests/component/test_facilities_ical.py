"""iCalendar round trip: the feeds parsed back by the ``icalendar`` library and expanded by
``recurring-ical-events`` (an expander independent of ours: RRULE, EXDATE and RECURRENCE-ID overrides)
must give exactly the slots the bookings API lists.

The story (service clock fixed at Monday 2 March 2026 08:00 UTC): Alice books ten Tuesdays 10:00-11:00
Cork time with on_conflict=skip while Bob holds two of them; she cancels the fourth and moves the
second to 14:00-15:00; she also books one single slot and cancels another."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import icalendar
import recurring_ical_events

from tests.component.facilities_fixtures import API
from tests.component.facilities_fixtures import alice as alice  # a shared fixture
from tests.component.facilities_fixtures import app as app  # a shared fixture
from tests.component.facilities_fixtures import bob as bob  # a shared fixture
from tests.component.facilities_fixtures import client as client  # a shared fixture
from tests.component.facilities_fixtures import manager as manager  # a shared fixture
from tests.component.facilities_fixtures import room as room  # a shared fixture
from tests.component.test_facilities_series import TEN_TUESDAYS, WEEKLY, two_taken
from tests.helpers import pid

WINDOW = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC))


def expanded(text: str) -> list[tuple[datetime, datetime, str]]:
    """Every instance in the window as the independent expander sees it: (start, end, STATUS), UTC."""
    cal = icalendar.Calendar.from_ical(text)
    out = [
        (e.decoded("DTSTART").astimezone(UTC), e.decoded("DTEND").astimezone(UTC), str(e.get("STATUS")))
        for e in recurring_ical_events.of(cal).between(*WINDOW)
    ]
    return sorted(out)


def utc(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


async def story(client: httpx.AsyncClient, room: str, alice: dict[str, str], bob: dict[str, str]) -> dict[str, str]:
    await two_taken(client, room, bob)
    r = await client.post(f"{API}/series", json={"resource_id": room, **WEEKLY, "on_conflict": "skip"}, headers=alice)
    assert r.status_code == 201, r.text
    s = r.json()
    url = f"{API}/series/{s['id']}"
    r = await client.post(f"{url}/cancel", json={"scope": "one", "occurrence": TEN_TUESDAYS[3]}, headers=alice)
    assert r.status_code == 200, r.text
    move = {"scope": "one", "occurrence": TEN_TUESDAYS[1], "start_time": "14:00", "end_time": "15:00"}
    assert (await client.post(f"{url}/move", json=move, headers=alice)).status_code == 200
    single = {"resource_id": room, "start": "2026-03-05T12:00:00Z", "end": "2026-03-05T13:00:00Z"}
    assert (await client.post(f"{API}/bookings", json=single, headers=alice)).status_code == 201
    gone = {"resource_id": room, "start": "2026-03-06T12:00:00Z", "end": "2026-03-06T13:00:00Z"}
    g = (await client.post(f"{API}/bookings", json=gone, headers=alice)).json()
    assert (await client.post(f"{API}/bookings/{g['id']}/cancel", headers=alice)).status_code == 200
    return {"series": s["id"], "cancelled": g["id"]}


async def test_my_feed_expands_to_my_bookings(
    client: httpx.AsyncClient, room: str, alice: dict[str, str], bob: dict[str, str]
) -> None:
    ids = await story(client, room, alice, bob)
    r = await client.get(f"{API}/me/calendar.ics", headers=alice)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    listed = (await client.get(f"{API}/bookings/mine", params={"limit": 100}, headers=alice)).json()
    active = sorted((utc(b["start"]), utc(b["end"]), "CONFIRMED") for b in listed if b["status"] == "confirmed")
    cancelled_single = [(utc(b["start"]), utc(b["end"]), "CANCELLED") for b in listed if b["id"] == ids["cancelled"]]
    assert expanded(r.text) == sorted(active + cancelled_single)
    # and by hand: the 10 Tuesdays but the two taken (3rd, 7th) and the cancelled 4th, the 2nd at 14:00
    tuesdays = [utc(t) for i, t in enumerate(TEN_TUESDAYS) if i not in (1, 2, 3, 6)]
    by_hand = [(t, t.replace(hour=t.hour + 1), "CONFIRMED") for t in tuesdays]
    by_hand += [(datetime(2026, 3, 10, 14, tzinfo=UTC), datetime(2026, 3, 10, 15, tzinfo=UTC), "CONFIRMED")]
    by_hand += [(datetime(2026, 3, 5, 12, tzinfo=UTC), datetime(2026, 3, 5, 13, tzinfo=UTC), "CONFIRMED")]
    by_hand += [(datetime(2026, 3, 6, 12, tzinfo=UTC), datetime(2026, 3, 6, 13, tzinfo=UTC), "CANCELLED")]
    assert expanded(r.text) == sorted(by_hand)
    cal = icalendar.Calendar.from_ical(r.text)
    masters = [e for e in cal.walk("VEVENT") if "RRULE" in e]
    assert len(masters) == 1 and str(masters[0]["UID"]) == f"series-{ids['series']}@facilities.smeclustergrowth.eu"
    assert masters[0]["RRULE"].to_ical() == b"FREQ=WEEKLY;COUNT=10"
    assert str(masters[0]["DTSTART"].params["TZID"]) == "Europe/Dublin"
    exdate: Any = masters[0]["EXDATE"]
    exdates = sorted(d.dt.astimezone(UTC) for x in (exdate if isinstance(exdate, list) else [exdate]) for d in x.dts)
    assert exdates == [utc(TEN_TUESDAYS[i]) for i in (2, 3, 6)]
    overrides = [e for e in cal.walk("VEVENT") if "RECURRENCE-ID" in e]
    assert [e.decoded("RECURRENCE-ID").astimezone(UTC) for e in overrides] == [utc(TEN_TUESDAYS[1])]
    assert [c["TZID"] for c in cal.walk("VTIMEZONE")] == ["Europe/Dublin"]


async def test_the_resource_feed_expands_to_its_bookings_without_personal_data(
    client: httpx.AsyncClient, room: str, alice: dict[str, str], bob: dict[str, str], manager: dict[str, str]
) -> None:
    await story(client, room, alice, bob)
    r = await client.get(f"{API}/resources/{room}/calendar.ics", headers=bob)
    listed = (await client.get(f"{API}/resources/{room}/bookings", params={"limit": 100}, headers=manager)).json()
    confirmed = [(utc(b["start"]), utc(b["end"])) for b in listed if b["status"] == "confirmed"]
    assert len(confirmed) == 2 + 7 + 1  # Bob's two; Alice's seven Tuesdays (one moved) and her single slot
    assert [(s, e) for s, e, status in expanded(r.text) if status == "CONFIRMED"] == sorted(confirmed)
    assert pid("alice") not in r.text and pid("bob") not in r.text and "alice" not in r.text
