"""``stamp`` writes exactly what ``strftime("%Y-%m-%dT%H:%M:%S.%fZ")`` of the UTC time wrote before it
was made faster: whole seconds, microseconds, offsets either side of UTC, naive times (local time), the
turn of a day and of a year, and years at the four-digit edge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from clustergrowth import context
from clustergrowth.context import stamp

CASES = [
    datetime(2026, 11, 30, 9, 0, tzinfo=UTC),  # no microseconds: still six digits
    datetime(2026, 11, 30, 9, 0, 0, 1, tzinfo=UTC),
    datetime(2026, 11, 30, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-1))),  # next year in UTC
    datetime(2027, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),  # previous year in UTC
    datetime(2026, 3, 29, 2, 30, 5, 120, tzinfo=timezone(timedelta(hours=5, minutes=45))),
    datetime(2026, 11, 30, 9, 0, 0, 500),  # naive: local time, as astimezone reads it
    datetime(1000, 1, 1, 0, 0, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
]


@pytest.mark.parametrize("dt", CASES, ids=str)
def test_stamp_is_the_fixed_width_utc_form(dt: datetime) -> None:
    assert stamp(dt) == dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_stamp_by_hand() -> None:
    assert stamp(datetime(2026, 11, 30, 10, 0, tzinfo=timezone(timedelta(hours=1)))) == "2026-11-30T09:00:00.000000Z"
    assert stamp(datetime(999, 12, 31, 23, 0, tzinfo=UTC)).endswith("-12-31T23:00:00.000000Z")  # below 1000: strftime


def test_kept_texts_follow_the_objects_through_the_memos_clearing() -> None:
    # temporaries made and dropped one after another: once the memo lets them go, CPython hands their
    # memory (and so their ids) to the next ones; each text must still be its own object's
    start = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    for i in range(3 * context.STAMPED_KEPT + 7):
        dt = start + timedelta(seconds=i, microseconds=i)
        expected = dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert stamp(dt) == expected
        assert stamp(dt) == expected  # the kept text
        assert len(context._stamped) <= context.STAMPED_KEPT


def test_a_naive_time_is_not_kept() -> None:
    naive = datetime(2026, 11, 30, 9, 0, 0, 500)
    stamp(naive)
    assert id(naive) not in context._stamped
    aware = datetime(2026, 11, 30, 9, 0, 0, 500, tzinfo=timezone(timedelta(hours=2)))
    assert stamp(aware) == "2026-11-30T07:00:00.000500Z" and context._stamped[id(aware)] == (aware, stamp(aware))
