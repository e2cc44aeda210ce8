"""The embedded store's JSON text (orjson): what it writes the standard library reads back the same, and it
refuses what JSON has no type for, as ``json.dumps`` did."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from clustergrowth import jsontext

SCALARS = (
    hs.none()
    | hs.booleans()
    | hs.integers(min_value=-(2**63), max_value=2**64 - 1)
    | hs.floats(allow_nan=False, allow_infinity=False)
    | hs.text()
)
VALUES = hs.recursive(SCALARS, lambda kids: hs.lists(kids, max_size=5) | hs.dictionaries(hs.text(), kids, max_size=5))


@given(VALUES)
def test_what_it_writes_the_standard_library_reads_as_written_and_so_does_it(value: Any) -> None:
    text = jsontext.dumps(value)
    assert json.loads(text) == value
    assert jsontext.loads(text) == value
    assert jsontext.loads(text.encode()) == value


def test_text_is_compact_and_keeps_non_ascii_as_is() -> None:
    assert jsontext.dumps({"city": "Alcalá de Henares", "n": [1, 2.5, None, True]}) == (
        '{"city":"Alcalá de Henares","n":[1,2.5,null,true]}'
    )


@dataclasses.dataclass
class Point:
    x: int


@pytest.mark.parametrize(
    "value",
    [datetime(2026, 12, 1, tzinfo=UTC), date(2026, 12, 1), Point(1), {1, 2}, object(), {"at": datetime(2026, 1, 1)}],
    ids=["datetime", "date", "dataclass", "set", "object", "nested datetime"],
)
def test_what_json_has_no_type_for_is_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        jsontext.dumps(value)


def test_an_integer_must_fit_in_64_bits() -> None:
    assert jsontext.dumps(2**64 - 1) == str(2**64 - 1)
    assert jsontext.dumps(-(2**63)) == str(-(2**63))
    with pytest.raises(TypeError):
        jsontext.dumps(2**64)
    with pytest.raises(TypeError):
        jsontext.dumps(-(2**63) - 1)


def test_non_finite_floats_are_written_as_null() -> None:
    assert jsontext.dumps([math.nan, math.inf, -math.inf]) == "[null,null,null]"


def test_uuids_and_enum_members_are_written_as_their_string_or_value() -> None:
    class Kind(enum.Enum):
        LAB = "lab"

    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert jsontext.dumps([u, Kind.LAB]) == '["12345678-1234-5678-1234-567812345678","lab"]'


def test_a_string_that_is_not_unicode_text_is_refused() -> None:
    with pytest.raises(TypeError):
        jsontext.dumps({"name": "Rubicon \ud800"})


def test_text_the_standard_library_wrote_before_is_read_as_it_reads_it() -> None:
    """Rows written by ``json.dumps`` that orjson will not read: a NaN, an escaped lone surrogate."""
    old = json.dumps({"x": math.nan, "name": "a\ud800b"})
    assert '"a\\ud800b"' in old and "NaN" in old
    read = jsontext.loads(old)
    assert math.isnan(read["x"]) and read["name"] == "a\ud800b"
