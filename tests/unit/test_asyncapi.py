"""The AsyncAPI document of the event streams: current, valid for the official parser, and true to the wire.

The parser is ``@asyncapi/parser`` (npm, pinned in tests/asyncapi/package-lock.json, installed under
.cache by ``deploy/native/provision.sh asyncapi``); it is run by tests/asyncapi/validate.cjs, which prints
its diagnostics as JSON. The oracles here are the committed JSON Schemas read from their files, the
records ``CloudEvent.to_kafka`` really writes, and topic names written out by hand.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from clustergrowth.envelope import CloudEvent
from clustergrowth.events import make_event
from clustergrowth.settings import RuntimeSettings
from contracts.facilities import DeskBooked
from gateway.app import GatewaySettings, embedded_app, proxy_app
from gateway.asyncapi import PSEUDONYMOUS, document, pii_class, to_yaml
from instance.cli import main
from tests.backends import provision

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.yaml"
SCHEMAS = ROOT / "schemas" / "events"
TOPICS = ["councils.events", "facilities.events", "mapping.events", "matching.events", "training.events"]


def parse(doc: dict[str, Any] | str, tmp_path: Path) -> dict[str, Any]:
    """The official parser's verdict on a document: {parsed, diagnostics: [{severity, code, message, path}]}."""
    path = tmp_path / "doc.yaml"
    path.write_text(doc if isinstance(doc, str) else to_yaml(doc))
    env = {**os.environ, "NODE_PATH": provision("asyncapi")}
    out = subprocess.run(
        ["node", str(ROOT / "tests" / "asyncapi" / "validate.cjs"), str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def errors(verdict: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in verdict["diagnostics"] if d["severity"] == 0]


def committed_schema(event_type: str) -> dict[str, Any]:
    return dict(json.loads((SCHEMAS / f"{event_type}.json").read_text()))


def test_the_committed_copy_is_current(tmp_path: Path) -> None:
    assert COMMITTED.read_text() == to_yaml(document()), "run `clustergrowth asyncapi` (docs/asyncapi.yaml)"
    out = tmp_path / "again.yaml"
    assert main(["asyncapi", "--out", str(out)]) == 0
    assert out.read_text() == COMMITTED.read_text()
    as_json = tmp_path / "asyncapi.json"
    assert main(["asyncapi", "--out", str(as_json)]) == 0
    assert json.loads(as_json.read_text()) == yaml.safe_load(COMMITTED.read_text())


def test_the_official_parser_finds_no_error_in_the_committed_copy(tmp_path: Path) -> None:
    verdict = parse(COMMITTED.read_text(), tmp_path)
    assert verdict["parsed"], verdict
    assert errors(verdict) == []


def test_the_official_parser_reports_a_broken_copy(tmp_path: Path) -> None:
    """The check can fail: an operation on a missing channel, and a message with a non-schema payload
    (one parse, both reported where they are)."""
    broken = copy.deepcopy(document())
    broken["operations"]["receiveFacilitiesEvents"]["channel"] = {"$ref": "#/channels/nowhere"}
    message = broken["components"]["messages"]["eu.smeclustergrowth.facilities.DeskBooked.v1"]
    message["payload"]["schema"]["type"] = "a kind of thing"
    where = {e["path"] for e in errors(parse(broken, tmp_path))}
    assert "operations.receiveFacilitiesEvents.channel.$ref" in where
    payload = "components.messages.eu.smeclustergrowth.facilities.DeskBooked.v1.payload.schema.type"
    assert payload in where


def test_one_channel_per_topic_and_one_for_its_replicas() -> None:
    doc = document()
    addresses = sorted(c["address"] for c in doc["channels"].values())
    assert addresses == sorted(TOPICS + ["{sourceRegion}." + t for t in TOPICS])
    replicated = doc["channels"]["facilitiesEventsReplicated"]
    # MirrorMaker 2's default policy names a replica <source alias>.<topic>: ie05.facilities.events
    assert replicated["address"].replace("{sourceRegion}", "ie05") == "ie05.facilities.events"
    local = doc["channels"]["facilitiesEvents"]["bindings"]["kafka"]
    assert local["topic"] == "facilities.events"
    assert local["topicConfiguration"]["retention.ms"] == -1
    secure = doc["servers"]["regionalSecure"]
    assert secure["protocol"] == "kafka-secure"
    assert [doc["components"]["securitySchemes"][r["$ref"].split("/")[-1]]["type"] for r in secure["security"]] == [
        "scramSha512",
        "X509",
    ]
    prefixed = document(topic_prefix="t1-")
    assert sorted(c["address"] for c in prefixed["channels"].values())[0] == "t1-councils.events"
    assert "{sourceRegion}.t1-facilities.events" in {c["address"] for c in prefixed["channels"].values()}


def test_every_event_type_is_a_message_of_its_topic_with_the_committed_schema() -> None:
    doc = document()
    files = sorted(p.name.removesuffix(".json") for p in SCHEMAS.glob("*.json"))
    assert sorted(doc["components"]["messages"]) == files
    for event_type in files:
        message = doc["components"]["messages"][event_type]
        schema = message["payload"]["schema"]
        committed = committed_schema(event_type)
        stripped = {k: v for k, v in schema.items() if k != "properties"}
        assert stripped == {k: v for k, v in committed.items() if k not in ("properties", "$schema")}
        unmarked = {n: {k: v for k, v in p.items() if k != "x-pii"} for n, p in committed["properties"].items()}
        assert {n: {k: v for k, v in p.items() if k != "x-pii"} for n, p in schema["properties"].items()} == unmarked
        for name, prop in committed["properties"].items():  # a contract's own marker is kept as it is
            if "x-pii" in prop:
                assert schema["properties"][name]["x-pii"] == prop["x-pii"]
        service = event_type.split(".")[2]
        channel = doc["channels"][f"{service}Events"]
        assert channel["messages"][message["name"]] == {"$ref": f"#/components/messages/{event_type}"}


def test_a_record_as_the_bus_writes_it_matches_the_message() -> None:
    """Headers, key and value of ``CloudEvent.to_kafka`` validate against the DeskBooked message."""
    data = DeskBooked(
        booking_id="b-1",
        resource_id="r-1",
        site_id="s-1",
        resource_kind="hot_desk",
        person="p-01hqz8k3m5n7p9r1s3t5v7w9xa",
        organisation=None,
        person_region="ITH5",
        region="IE05",
        start="2026-03-02T09:00:00+00:00",
        end="2026-03-02T17:00:00+00:00",
    )
    event = make_event(data, key="r-1", region="IE05", source="/regions/IE05/facilities", subject="b-1")
    key, value, headers = event.to_kafka()
    message = document()["components"]["messages"]["eu.smeclustergrowth.facilities.DeskBooked.v1"]
    as_dict = {k: v.decode() for k, v in headers}
    jsonschema.validate(as_dict, message["headers"])
    jsonschema.validate(json.loads(value), committed_schema(event.type))
    assert key.decode() == as_dict["ce_partitionkey"] == "r-1"
    assert CloudEvent.from_kafka(key, value, headers).data == json.loads(value)
    wrong = {**as_dict, "ce_type": "eu.smeclustergrowth.facilities.FacilityBooked.v1"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, message["headers"])


def test_every_example_is_valid_against_its_committed_schema_and_headers() -> None:
    doc = document()
    for event_type, message in doc["components"]["messages"].items():
        for example in message["examples"]:
            jsonschema.Draft202012Validator(committed_schema(event_type)).validate(example["payload"])
            jsonschema.validate(example["headers"], message["headers"])
            assert set(example["payload"]) == set(committed_schema(event_type)["properties"])


# The free text people write that the events carry, found by reading the contracts and the services'
# commands (a reason typed into a form, a resource's display name): written out by hand.
FREE_TEXT = {
    ("councils.InitiativeCompleted", "reason"),
    ("councils.MeetingCancelled", "reason"),
    ("facilities.ResourceListed", "resource_name"),
    ("matching.MatchDeclined", "reason"),
    ("training.PlacementCompleted", "reason"),
}


def test_person_ids_are_pseudonymous_free_text_is_free_text_and_nothing_else_is_personal() -> None:
    assert PSEUDONYMOUS == {"person", "candidate", "applicant", "cancelled_by"}
    doc = document()
    found = set()
    for event_type, message in doc["components"]["messages"].items():
        short = ".".join(event_type.split(".")[2:4])
        for name, prop in message["payload"]["schema"]["properties"].items():
            text = committed_schema(event_type)["properties"][name].get("description", "").lower()
            names_a_person = "person id" in text or "(sub)" in text or text.startswith("subject ")
            names_a_person |= "holder of the booking" in text
            if (short, name) in FREE_TEXT:
                expected = "free-text"
                found.add((short, name))
            else:
                expected = "pseudonymous" if names_a_person else "none"
            assert prop["x-pii"] == expected, (event_type, name, text)
    assert found == FREE_TEXT
    desk = doc["components"]["messages"]["eu.smeclustergrowth.facilities.DeskBooked.v1"]
    assert desk["x-pii"]["pseudonymous"] == ["person"] and desk["x-pii"]["free-text"] == []
    listed = doc["components"]["messages"]["eu.smeclustergrowth.facilities.ResourceListed.v1"]
    assert listed["x-pii"]["pseudonymous"] == [] and listed["x-pii"]["free-text"] == ["resource_name"]
    declined = doc["components"]["messages"]["eu.smeclustergrowth.matching.MatchDeclined.v1"]
    assert declined["x-pii"]["pseudonymous"] == ["candidate"] and declined["x-pii"]["free-text"] == ["reason"]


def test_an_unknown_pii_class_on_a_contract_is_refused() -> None:
    assert pii_class("reason", {"x-pii": "free-text"}) == "free-text"
    assert pii_class("person", {}) == "pseudonymous" and pii_class("city", None) == "none"
    with pytest.raises(ValueError, match="x-pii 'secret' is not one of pseudonymous, free-text, none"):
        pii_class("reason", {"x-pii": "secret"})


@pytest.mark.parametrize("mode", ["embedded", "proxy"])
async def test_the_gateway_serves_the_document_of_its_topics_without_a_token(tmp_path: Path, mode: str) -> None:
    settings = RuntimeSettings(data_dir=tmp_path / "data", region="IE05", topic_prefix="t1-")
    gw = GatewaySettings(mode=mode)
    app = embedded_app(settings, gw, []) if mode == "embedded" else proxy_app(settings, gw, {})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        served = await client.get("/asyncapi.json")
        as_yaml = await client.get("/asyncapi.yaml")
    assert served.status_code == 200 and served.headers["content-type"] == "application/json"
    assert served.json() == document(topic_prefix="t1-")
    assert served.json()["channels"]["facilitiesEvents"]["address"] == "t1-facilities.events"
    assert as_yaml.status_code == 200 and yaml.safe_load(as_yaml.text) == served.json()
