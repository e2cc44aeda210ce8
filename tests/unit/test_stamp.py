"""``stamp`` writes exactly what ``strftime("%Y-%m-%dT%H:%M:%S.%fZ")`` of the UTC time wrote before it
was made faster: whole seconds, microseconds, offsets either side of UTC, naive times (local time), the
turn of a day and of a year, and years at the four-digit edge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

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
