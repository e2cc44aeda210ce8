"""Pages of bookings, which live inside their resource's day documents: read a few days at a time,
they still come out whole and in order, across time zones a day apart from UTC."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from fastapi import Response
from starlette.requests import Request

from clustergrowth.paging import PageRequest, _decode
from clustergrowth.problems import Unprocessable
from clustergrowth.store.sqlite import SqliteStore
from services.facilities import handlers as h
from services.facilities import store as st
from services.facilities.domain.model import Booking, ResourceDay
from services.facilities.handlers import bookings as reading

ZONES = {"r-kiri": "Pacific/Kiritimati", "r-pago": "Pacific/Pago_Pago", "r-mad": "Europe/Madrid"}  # +14, -11, +1/+2


def _bookings(n: int) -> list[Booking]:
    rng = random.Random(5)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        rid = rng.choice(list(ZONES))
        start = t0 + timedelta(minutes=30 * rng.randrange(60 * 48))  # 60 days, some starts shared
        out.append(
            Booking(
                id=f"bk-{i:04d}",
                resource_id=rid,
                site_id="s1",
                resource_kind="hot_desk",
                person=rng.choice(["p1", "p2", "p3"]),
                organisation=None,
                person_region="IE05",
                region="IE05",
                start=start,
                end=start + timedelta(minutes=30),
                status="confirmed",
                created_at=t0,
            )
        )
    return out


async def _store(tmp_path: Path, bookings: list[Booking]) -> SqliteStore:
    store = SqliteStore(tmp_path / "facilities.sqlite")
    await st.ensure_indexes(store)
    days: dict[tuple[str, date], list[Booking]] = {}
    for b in bookings:  # each in its resource's document of the day it starts on there
        days.setdefault((b.resource_id, b.start.astimezone(ZoneInfo(ZONES[b.resource_id])).date()), []).append(b)
    for (rid, day), held in days.items():
        await store.insert(st.SCHEDULES, st.schedule_to_doc(ResourceDay(rid, day, held), None))
    return store


async def _walk(f: h.Facilities, days: dict[str, Any], keep: Any, limit: int) -> list[str]:
    seen: list[str] = []
    after = None
    for _ in range(1000):
        request = Request({"type": "http", "method": "GET", "path": "/b", "query_string": b"", "headers": []})
        response = Response()
        got = await h.bookings_page(f, days, keep, PageRequest(limit, after, request, response))
        assert len(got) <= limit
        seen += [b.id for b in got]
        link = response.headers.get("link")
        if not link:
            return seen
        after = _decode(parse_qs(urlsplit(link[1 : link.index(">")]).query)["cursor"][0])
    raise AssertionError("the walk did not end")


@pytest.mark.parametrize("days_read", [1, 3, reading.DAYS_READ])
async def test_bookings_walk_whole_and_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, days_read: int
) -> None:
    monkeypatch.setattr(reading, "DAYS_READ", days_read)  # where bookings_page reads it
    bookings = _bookings(400)
    store = await _store(tmp_path, bookings)
    f = h.Facilities(store, "IE05")
    try:
        for person in ("p1", "p3"):
            expected = [b.id for b in sorted((b for b in bookings if b.person == person), key=h.booking_key)]
            for limit in (1, 7, 50, len(expected) + 1):
                keep = lambda b, p=person: b.person == p  # noqa: E731
                assert await _walk(f, {"bookings.person": person}, keep, limit) == expected, (person, limit)
        expected = [b.id for b in sorted((b for b in bookings if b.resource_id == "r-kiri"), key=h.booking_key)]
        for limit in (1, 13, 200):
            assert await _walk(f, {"resource_id": "r-kiri"}, lambda b: True, limit) == expected
    finally:
        await store.close()


@pytest.mark.parametrize(
    "after", [["x"], [1, "bk"], ["not a time", "bk"], [None, "bk"], ["2026-03-02T10:00:00.000000Z", 7]]
)
async def test_a_cursor_of_another_list_is_refused(tmp_path: Path, after: list[Any]) -> None:
    store = await _store(tmp_path, _bookings(5))
    request = Request({"type": "http", "method": "GET", "path": "/b", "query_string": b"", "headers": []})
    try:
        with pytest.raises(Unprocessable) as e:
            await h.bookings_page(
                h.Facilities(store, "IE05"), {}, lambda b: True, PageRequest(5, after, request, Response())
            )
        assert e.value.extensions["errors"][0]["field"] == "cursor"
    finally:
        await store.close()
