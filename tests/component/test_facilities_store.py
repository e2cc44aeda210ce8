"""How a ResourceDay goes back into its document: the bookings a change did not touch are written as they
were stored (not decoded and encoded again), the ones it touched and the new ones in the current format.

The stored day is written by hand in an older format (``+00:00`` offsets, no ``sequence``), so a booking
that was encoded again would be told apart from one copied as stored."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from clustergrowth.store.sqlite import SqliteStore
from services.facilities import store as st
from services.facilities.domain.model import Booker, BookingPolicy, OpeningHours, Resource, ResourceDay, day_of

DAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DESK = Resource(
    id="desk-1",
    site_id="site-1",
    name="Desk 1",
    kind="hot_desk",
    capacity=1,
    policy=BookingPolicy(),
    region="IE05",
    timezone="UTC",
    opening_hours=OpeningHours.from_doc({"mon": [{"open": "08:00", "close": "20:00"}]}),
    organisation=None,
)
ALICE = Booker("alice", frozenset({"student"}), "IE05", None)


def old_booking(n: int, hour: int) -> dict[str, Any]:
    return {
        "id": f"b{n}",
        "resource_id": "desk-1",
        "site_id": "site-1",
        "resource_kind": "hot_desk",
        "person": "alice",
        "organisation": None,
        "person_region": "IE05",
        "region": "IE05",
        "start": f"2026-03-02T{hour:02d}:00:00+00:00",
        "end": f"2026-03-02T{hour:02d}:30:00+00:00",
        "status": "confirmed",
        "created_at": "2026-03-01T09:00:00+00:00",
        "changed_by": None,
    }


def stored_day() -> dict[str, Any]:
    return {
        "_id": "desk-1@2026-03-02",
        "resource_id": "desk-1",
        "day": "2026-03-02",
        "bookings": [old_booking(1, 9), old_booking(2, 10)],
        "version": 3,
    }


def test_a_booking_keeps_the_other_bookings_as_stored_and_adds_the_new_one_in_the_current_format() -> None:
    doc = stored_day()
    day = st.schedule_from_doc(doc)
    new = day.book(DESK, ALICE, datetime(2026, 3, 2, 11, tzinfo=UTC), datetime(2026, 3, 2, 11, 30, tzinfo=UTC), NOW)
    out = st.schedule_to_doc(day, doc)
    assert out["bookings"][:2] == [old_booking(1, 9), old_booking(2, 10)]
    assert out["bookings"][2] == {
        "id": new.id,
        "resource_id": "desk-1",
        "site_id": "site-1",
        "resource_kind": "hot_desk",
        "person": "alice",
        "organisation": None,
        "person_region": "IE05",
        "region": "IE05",
        "start": "2026-03-02T11:00:00.000000Z",
        "end": "2026-03-02T11:30:00.000000Z",
        "status": "confirmed",
        "created_at": "2026-03-01T09:00:00.000000Z",
        "sequence": 0,
        "changed_by": None,
    }
    assert (out["version"], out["_id"]) == (3, "desk-1@2026-03-02")


def test_a_changed_booking_is_written_anew_and_the_untouched_one_as_stored() -> None:
    doc = stored_day()
    day = st.schedule_from_doc(doc)
    day.cancel("b1", "alice", may_manage=False)
    out = st.schedule_to_doc(day, doc)
    assert out["bookings"][1] == old_booking(2, 10)
    assert out["bookings"][0] == {
        **old_booking(1, 9),
        "start": "2026-03-02T09:00:00.000000Z",
        "end": "2026-03-02T09:30:00.000000Z",
        "created_at": "2026-03-01T09:00:00.000000Z",
        "status": "cancelled",
        "sequence": 1,
        "changed_by": "alice",
    }


def test_a_day_made_anew_encodes_every_booking() -> None:
    day = ResourceDay("desk-1", DAY, st.schedule_from_doc(stored_day()).bookings)
    out = st.schedule_to_doc(day, None)
    assert [b["start"] for b in out["bookings"]] == ["2026-03-02T09:00:00.000000Z", "2026-03-02T10:00:00.000000Z"]
    assert [b["sequence"] for b in out["bookings"]] == [0, 0]


async def test_a_store_made_before_loses_the_schedules_index_on_resource_id_alone_and_still_searches_by_index(
    tmp_path: Path,
) -> None:
    """The (resource_id, day, _id) index answers a resource's days by its first field, so the index on
    resource_id alone (which every booking's write updated too) is dropped from a store that has it."""
    path = tmp_path / "facilities.sqlite"
    store = SqliteStore(path)
    await store.ensure_index(st.SCHEDULES, ["day"])  # the table, as stores made before had it
    with sqlite3.connect(path) as db:  # and its index on resource_id alone, under the name indexes had then
        db.execute("CREATE INDEX ix_c_schedules_resource_id ON c_schedules (json_extract(doc, '$.resource_id'))")
    await st.ensure_indexes(store)
    await st.ensure_indexes(store)  # again, as each start does
    await store.insert(st.SCHEDULES, stored_day())
    assert [d["_id"] for d in await store.find(st.SCHEDULES, {"resource_id": "desk-1"})] == ["desk-1@2026-03-02"]
    await store.close()
    with sqlite3.connect(path) as db:
        indexes = {
            n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='c_schedules'")
        }
        plan = " ".join(
            str(r[-1])
            for r in db.execute(
                "EXPLAIN QUERY PLAN SELECT doc FROM c_schedules WHERE json_extract(ix, '$.resource_id') = ?", ("x",)
            )
        )
    assert not {"ix_c_schedules(resource_id)", "ix_c_schedules_resource_id"} & indexes
    assert "ix_c_schedules(resource_id,day,_id)" in indexes
    assert "USING INDEX ix_c_schedules(resource_id,day,_id)" in plan, plan


# Finding a booking or a waitlist entry by its id --------------------------------------------------------

HEX = "0123456789abcdef" * 2  # 32 hex digits, the random part of an id


@pytest.mark.parametrize(
    ("item", "day"),
    [
        (f"desk-1@2026-03-02.{HEX}", "desk-1@2026-03-02"),
        (f"ork.lab@2@2026-03-02.{HEX}", "ork.lab@2@2026-03-02"),  # "." and "@" inside a resource's id
        ("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", None),  # a UUID, as ids were made before
        (f"desk-1@2026-03-02.{HEX[:31]}", None),  # 31 digits
        (f"desk-1@2026-03-02.{HEX}0", None),  # 33
        (f"desk-1@2026-03-02.{HEX.upper()}", None),  # item_id writes lower case
        (f"desk-1@20260302.{HEX}", None),  # another spelling of the day
        (f"desk-1@2026-02-30.{HEX}", None),  # no such day
        (f"@2026-03-02.{HEX}", None),  # no resource
        (f"desk-1-2026-03-02.{HEX}", None),  # no @
    ],
)
def test_the_day_an_id_names_is_read_from_it_and_only_from_one_made_so(item: str, day: str | None) -> None:
    assert day_of(item) == day


def test_a_booking_and_a_waitlist_entry_are_named_for_the_day_that_holds_them() -> None:
    day = ResourceDay("desk-1", DAY)
    b = day.book(DESK, ALICE, datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 2, 10, tzinfo=UTC), NOW)
    bob = Booker("bob", frozenset({"student"}), "IE05", None)
    e = day.join(DESK, bob, datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 2, 10, tzinfo=UTC), NOW)
    for item in (b.id, e.id):
        assert item.startswith("desk-1@2026-03-02.") and len(item) == len("desk-1@2026-03-02.") + 32
        assert day_of(item) == "desk-1@2026-03-02"
    assert b.id != e.id


class Reads:
    """The store, counting what the lookup asks of it."""

    def __init__(self, store: SqliteStore) -> None:
        self.store, self.gets, self.finds = store, 0, 0

    async def get(self, collection: str, id: str) -> dict[str, Any] | None:
        self.gets += 1
        return await self.store.get(collection, id)

    async def find(self, collection: str, filter: dict[str, Any], **kw: Any) -> list[dict[str, Any]]:
        self.finds += 1
        return await self.store.find(collection, filter, **kw)


async def test_a_booking_is_found_by_reading_the_day_its_id_names_and_one_made_before_by_looking(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "facilities.sqlite")
    named = {**old_booking(3, 11), "id": f"desk-1@2026-03-02.{HEX}"}
    await store.insert(st.SCHEDULES, {**stored_day(), "bookings": [old_booking(1, 9), named]})
    reads = Reads(store)
    doc = await st.day_holding(reads, "bookings", named["id"])  # type: ignore[arg-type]
    assert doc is not None and doc["_id"] == "desk-1@2026-03-02" and (reads.gets, reads.finds) == (1, 0)
    # an id naming a day that does not hold it, or a day that does not exist: nothing, by one read each
    assert await st.day_holding(reads, "bookings", f"desk-1@2026-03-02.{HEX[::-1]}") is None  # type: ignore[arg-type]
    assert await st.day_holding(reads, "bookings", f"desk-1@2026-03-03.{HEX}") is None  # type: ignore[arg-type]
    assert await st.day_holding(reads, "waitlist", named["id"]) is None  # type: ignore[arg-type]  # not an entry
    assert (reads.gets, reads.finds) == (4, 0)
    doc = await st.day_holding(reads, "bookings", "b1")  # type: ignore[arg-type]  # made before: looked for
    assert doc is not None and doc["_id"] == "desk-1@2026-03-02" and reads.finds == 1
    assert await st.day_holding(reads, "bookings", "b9") is None  # type: ignore[arg-type]
    await store.close()
