"""The booking route's answer, written by orjson from the booking's stored fields (``booking_json``), is the
text of the answer model FastAPI documents (``BookingOut``, made and encoded by pydantic): the oracle."""

from __future__ import annotations

import dataclasses

import orjson
from hypothesis import given

from services.facilities.api import BookingOut, booking_json, booking_out
from services.facilities.domain.model import Booking
from tests.unit.test_facilities_store_docs import ONE, T0, bookings


@given(bookings())
def test_the_answer_is_the_answer_models_json_byte_for_byte(b: Booking) -> None:
    # hypothesis' text holds control characters, quotes, backslashes and non-ASCII: the two encoders must escape alike
    assert booking_json(b) == booking_out(b).model_dump_json().encode()


def test_every_field_of_the_model_is_answered_and_nothing_else() -> None:
    b = dataclasses.replace(
        ONE, resource_kind="lab", organisation="IE05:Acme", sequence=3, changed_by="p", cause="no_show"
    )
    answer = orjson.loads(booking_json(b))
    assert list(answer) == list(BookingOut.model_fields)  # the model's order; not sequence, changed_by, cause
    assert answer["check_in_by"] is None and answer["checked_in_at"] is None
    with_check_in = dataclasses.replace(b, check_in_by=T0, checked_in_at=T0)
    answer = orjson.loads(booking_json(with_check_in))
    assert answer["check_in_by"] == answer["checked_in_at"] == "2026-12-01T09:00:00.000000Z"
