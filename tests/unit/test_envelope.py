"""CloudEvents binary mode for Kafka, and the structured form used in outboxes and the CLI."""

from __future__ import annotations

import json

import pytest

from clustergrowth.envelope import CloudEvent
from contracts import registry, resolve_type


def event() -> CloudEvent:
    return CloudEvent(
        type="eu.smeclustergrowth.facilities.DeskBooked.v1",
        source="/regions/IE05/facilities",
        data={"booking_id": "b1", "n": 1},
        region="IE05",
        partitionkey="desk-1",
        subject="b1",
        requestid="req-1",
    )


def test_binary_mode_puts_attributes_in_ce_headers_and_data_in_the_value() -> None:
    e = event()
    key, value, headers = e.to_kafka()
    h = dict(headers)
    assert key == b"desk-1"
    assert json.loads(value) == {"booking_id": "b1", "n": 1}
    assert h["ce_specversion"] == b"1.0" and h["ce_id"] == e.id.encode()
    assert h["ce_type"] == e.type.encode() and h["ce_region"] == b"IE05"
    assert h["content-type"] == b"application/json"
    assert h["traceparent"].startswith(b"00-") and len(h["traceparent"]) == 55
    assert CloudEvent.from_kafka(key, value, headers) == e


def test_structured_round_trip_and_short_name() -> None:
    e = event()
    assert CloudEvent.from_dict(json.loads(json.dumps(e.to_dict()))) == e
    assert e.name == "DeskBooked"


def test_a_record_without_ce_headers_is_rejected() -> None:
    with pytest.raises(ValueError, match="ce_id"):
        CloudEvent.from_kafka(b"k", b"{}", [("ce_type", b"x")])


def test_types_resolve_by_short_or_full_name() -> None:
    full = "eu.smeclustergrowth.facilities.DeskBooked.v1"
    assert full in registry()
    assert resolve_type("DeskBooked") == {full} == resolve_type(full)
    assert resolve_type("NoSuchThing") == set()
