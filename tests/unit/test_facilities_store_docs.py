"""A stored booking read back: ``booking_from_doc`` (built without the dataclass's ``__init__``, for speed) must
give what the constructor gives, for every field, and ``booking_to_doc`` must write what it reads."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as hs

from services.facilities import store
from services.facilities.domain.model import Booking, BookingPolicy, OpeningHours, Resource
from services.facilities.store import booking_from_doc, booking_to_doc, resource_from_doc, resource_to_doc

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
INSTANTS = hs.integers(min_value=0, max_value=10**6).map(lambda s: T0 + timedelta(seconds=s, microseconds=s % 997))
OPTIONAL_TEXT = hs.none() | hs.text(min_size=1, max_size=12)
ONE = Booking(  # as stored before sequence, changed_by, cause and check-in existed, read with their defaults
    id="b1",
    resource_id="r1",
    site_id="s1",
    resource_kind="hot_desk",
    person="p-1",
    organisation=None,
    person_region="IE05",
    region="IE05",
    start=T0,
    end=T0 + timedelta(hours=1),
    status="confirmed",
    created_at=datetime(2026, 11, 30, 8, tzinfo=UTC),
)


@hs.composite
def bookings(draw: hs.DrawFn) -> Booking:
    start = draw(INSTANTS)
    check_in_by = draw(hs.none() | INSTANTS)
    return Booking(
        id=draw(hs.text(min_size=1, max_size=20)),
        resource_id=draw(hs.text(min_size=1, max_size=12)),
        site_id=draw(hs.text(min_size=1, max_size=12)),
        resource_kind=draw(hs.sampled_from(["hot_desk", "lab", "equipment", "access_point"])),
        person=draw(hs.text(min_size=1, max_size=12)),
        organisation=draw(OPTIONAL_TEXT),
        person_region=draw(hs.sampled_from(["IE05", "ES61", "ITH5"])),
        region=draw(hs.sampled_from(["IE05", "ES61", "ITH5"])),
        start=start,
        end=start + timedelta(minutes=draw(hs.integers(min_value=1, max_value=600))),
        status=draw(hs.sampled_from(["confirmed", "pending", "cancelled", "rejected", "released"])),
        created_at=draw(INSTANTS),
        sequence=draw(hs.integers(min_value=0, max_value=50)),
        changed_by=draw(OPTIONAL_TEXT),
        cause=draw(hs.none() | hs.sampled_from(["membership_ended", "no_show"])),
        check_in_by=check_in_by,
        checked_in_at=None if check_in_by is None else draw(hs.none() | INSTANTS),
    )


@given(bookings())
def test_a_booking_read_back_is_the_one_written_field_by_field_as_the_constructor_makes_it(b: Booking) -> None:
    read = booking_from_doc(booking_to_doc(b))
    made = Booking(**{f.name: getattr(read, f.name) for f in dataclasses.fields(Booking)})
    assert read == b and hash(read) == hash(b)
    assert list(vars(read).items()) == list(vars(made).items())  # every field, in the constructor's order
    assert booking_to_doc(read) == booking_to_doc(b)


def test_a_document_without_the_later_fields_reads_with_their_defaults() -> None:
    """Bookings stored before ``sequence``, ``changed_by``, ``cause`` and check-in existed."""
    doc = {
        "id": "b1",
        "resource_id": "r1",
        "site_id": "s1",
        "resource_kind": "hot_desk",
        "person": "p-1",
        "person_region": "IE05",
        "region": "IE05",
        "start": "2026-12-01T09:00:00Z",
        "end": "2026-12-01T10:00:00Z",
        "status": "confirmed",
        "created_at": "2026-11-30T08:00:00Z",
    }
    read = booking_from_doc(doc)
    assert read == ONE and list(vars(read)) == [f.name for f in dataclasses.fields(Booking)]


def _stored(**changes: object) -> dict[str, object]:
    return {**booking_to_doc(ONE), **changes}


def test_a_stored_booking_read_again_is_the_booking_read_before() -> None:
    first = booking_from_doc(_stored())
    assert booking_from_doc(_stored()) is first  # equal fields, another dict: the one kept
    # any field changed, or one more field: another booking, read from its own fields
    cancelled = booking_from_doc(_stored(status="cancelled", sequence=1))
    assert (cancelled.status, cancelled.sequence) == ("cancelled", 1) and first.status == "confirmed"
    later = booking_from_doc(_stored(end="2026-12-01T11:00:00.000000Z"))
    assert later.end == T0 + timedelta(hours=2) and first.end == T0 + timedelta(hours=1)
    withdrawn = booking_from_doc(_stored(cause="no_show"))
    assert withdrawn.cause == "no_show" and first.cause is None


def test_a_value_that_cannot_be_kept_is_read_and_not_kept() -> None:
    doc = _stored(changed_by=["not", "a", "stored", "value"])
    kept = len(store._read)
    assert booking_from_doc(doc).changed_by == ["not", "a", "stored", "value"]
    assert len(store._read) == kept


def test_the_kept_bookings_are_bounded_and_read_right_after_letting_go() -> None:
    for i in range(store.READ_KEPT + 10):
        doc = _stored(id=f"b{i}", created_at=f"2026-11-30T08:00:00.{i:06d}Z")
        read = booking_from_doc(doc)
        assert (read.id, read.created_at) == (f"b{i}", datetime(2026, 11, 30, 8, 0, 0, i, tzinfo=UTC))
        assert len(store._read) <= store.READ_KEPT


def _day(n: int, first: int = 0) -> list[dict[str, object]]:
    """A day's stored bookings, fresh dicts each time (as a document read again is)."""
    return [_stored(id=f"r1@2026-12-01.{i}", created_at=f"2026-11-30T08:00:00.{i:06d}Z") for i in range(first, n)]


def _read_alone(raw: list[dict[str, object]]) -> list[Booking]:
    return [store._booking_from_doc(b) for b in raw]  # held to the constructor above


def test_a_day_read_again_reads_only_the_bookings_it_gained() -> None:
    first = store.bookings_from_doc("r1@2026-12-01", _day(3))
    assert first == _read_alone(_day(3))
    again = store.bookings_from_doc("r1@2026-12-01", _day(3))  # the same, exactly as many: all kept
    assert again == first and all(a is b for a, b in zip(again, first, strict=True))
    more = store.bookings_from_doc("r1@2026-12-01", _day(4))  # one more: the three kept, one read
    assert more == _read_alone(_day(4)) and all(a is b for a, b in zip(more, first, strict=False))
    other = store.bookings_from_doc("r2@2026-12-01", _day(4))  # another day: read on its own
    assert other == more


def test_a_day_whose_kept_bookings_changed_is_read_again() -> None:
    store.bookings_from_doc("r1@2026-12-02", _day(3))
    changed = _day(4)
    changed[1] |= {"status": "cancelled", "sequence": 1}  # one of those kept, cancelled since
    assert store.bookings_from_doc("r1@2026-12-02", changed) == _read_alone(changed)
    fewer = _day(2)  # fewer than kept: one taken out
    assert store.bookings_from_doc("r1@2026-12-02", fewer) == _read_alone(fewer)
    moved = _day(3, first=1)  # the first one gone, the others as they were
    assert store.bookings_from_doc("r1@2026-12-02", moved) == _read_alone(moved)


def test_a_day_read_is_not_changed_by_what_its_reader_changes() -> None:
    raw = _day(3)
    read = store.bookings_from_doc("r1@2026-12-03", raw)
    read.append(read[0])  # the domain appends to a day's bookings
    raw[0]["status"] = "cancelled"  # and the document read may be changed in place
    again = [dict(b) for b in raw]  # a document with that change, read
    assert store.bookings_from_doc("r1@2026-12-03", again) == _read_alone(again)
    assert store.bookings_from_doc("r1@2026-12-03", again)[0].status == "cancelled"


def test_the_kept_days_are_bounded_and_what_is_not_a_day_is_read_without_keeping() -> None:
    for i in range(store.DAYS_KEPT + 5):
        raw = _day(2, first=i % 3)
        assert store.bookings_from_doc(f"r{i}@2026-12-04", raw) == _read_alone(raw)
        assert len(store._days) <= store.DAYS_KEPT
    kept = len(store._days)
    assert store.bookings_from_doc(None, _day(2)) == _read_alone(_day(2))  # a document without an id
    assert store.bookings_from_doc("r1@2026-12-05", tuple(_day(2))) == _read_alone(_day(2))  # not a list
    assert len(store._days) == kept


def _resource_doc(**changes: object) -> dict[str, object]:
    hours = OpeningHours({"mon": [(time(8), time(20))]})
    r = Resource("r1", "s1", "Desk 1", "hot_desk", 1, BookingPolicy(max_duration_minutes=60), "IE05", "UTC", hours)
    return {**resource_to_doc(r), "version": 3, **changes}


def test_a_stored_resource_read_again_is_the_resource_read_before() -> None:
    first = resource_from_doc(_resource_doc())
    assert resource_from_doc(_resource_doc()) is first  # equal text, another dict: the one kept
    longer = resource_from_doc(_resource_doc(policy={**_resource_doc()["policy"], "max_duration_minutes": 90}))
    assert longer.policy.max_duration_minutes == 90 and first.policy.max_duration_minutes == 60
    renamed = resource_from_doc(_resource_doc(name="Desk 2"))
    assert (renamed.name, first.name) == ("Desk 2", "Desk 1")
    assert resource_from_doc(_resource_doc(version=4)) is not first  # another text (the outbox too): read again


def test_a_resource_holding_a_value_json_has_no_type_for_is_read_and_not_kept() -> None:
    doc = _resource_doc(name="Desk 1", updated=datetime(2026, 12, 1, tzinfo=UTC))  # a store's own datetime
    kept = len(store._resources)
    assert resource_from_doc(doc).name == "Desk 1"
    assert len(store._resources) == kept


def test_the_kept_resources_are_bounded_and_read_right_after_letting_go() -> None:
    for i in range(store.RESOURCES_KEPT + 10):
        assert resource_from_doc(_resource_doc(name=f"Desk {i}")).name == f"Desk {i}"
        assert len(store._resources) <= store.RESOURCES_KEPT


def test_the_kept_bookings_are_bounded_too() -> None:
    limit = store.DAY_BOOKINGS_KEPT
    store._days.clear()
    store._days_held = 0
    store.bookings_from_doc("r1@2026-12-06", _day(3))
    store.bookings_from_doc("r1@2026-12-07", _day(2))
    big = _day(limit + 1)  # one day holding more than may be kept: read, not kept, the others left kept
    assert store.bookings_from_doc("r1@2026-12-07", big) == _read_alone(big)
    assert list(store._days) == ["r1@2026-12-06"] and store._days_held == 3
    at = _day(limit)  # exactly as many as may be kept: kept, the others let go
    assert store.bookings_from_doc("r1@2026-12-08", at) == _read_alone(at)
    assert store._days_held == limit and list(store._days) == ["r1@2026-12-08"]
    assert store.bookings_from_doc("r1@2026-12-09", _day(1)) == _read_alone(_day(1))  # one more: the rest let go
    assert store._days_held == 1 and list(store._days) == ["r1@2026-12-09"]
    assert store.bookings_from_doc("r1@2026-12-09", _day(5)) == _read_alone(_day(5))  # the same day, grown
    assert store._days_held == 5


def test_only_a_write_keeps_the_day_it_read() -> None:
    doc = {"_id": "r1@2026-12-10", "resource_id": "r1", "day": "2026-12-10", "bookings": _day(2)}
    assert store.schedule_from_doc(doc).bookings == _read_alone(_day(2))
    assert "r1@2026-12-10" not in store._days  # a list or a page of days
    assert store.schedule_from_doc(doc, writing=True).bookings == _read_alone(_day(2))
    assert "r1@2026-12-10" in store._days
