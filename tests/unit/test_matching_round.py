"""Round rules without I/O: places left per challenge and per supervisor, the next round's id, and
proposals derived from the round document alone (the same ids every time)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from clustergrowth.context import stamp
from clustergrowth.problems import Conflict
from services.matching.domain import round as rd

NOW = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)


def challenge(cid: str, capacity: int, supervisor: str | None = "p-prof", **over: Any) -> dict[str, Any]:
    return {
        "_id": cid,
        "programme": "consultancy",
        "title": f"Challenge {cid}",
        "region": "IE05",
        "work_mode": "remote",
        "skills": [],
        "languages": ["en"],
        "starts_on": "2027-02-01",
        "ends_on": "2027-05-15",
        "capacity": capacity,
        "supervisor": supervisor,
        "organisation": "IE05:rubicon",
        "ip_template": "open-results",
        **over,
    }


def person(pid: str, kind: str = "student") -> dict[str, Any]:
    return {
        "_id": pid,
        "kind": kind,
        "home_region": "IE05",
        "skills": [],
        "languages": ["en"],
        "available_from": "2027-01-01",
        "available_until": "2027-06-30",
        "cross_border": False,
        "supervision_capacity": 2,
    }


def live(cid: str, candidate: str, host: str = "p-prof") -> dict[str, Any]:
    return {"challenge_id": cid, "candidate": candidate, "host": host}


def test_places_left_per_challenge_and_per_supervisor() -> None:
    held = rd.Held.of([live("a", "s1"), live("a", "s2"), live("c", "s3", host="host:c")])
    assert held.candidates == {"s1", "s2", "s3"}
    docs = [challenge("a", 3), challenge("b", 2), challenge("c", 1, supervisor=None)]
    offered, hosts = rd.offer(docs, {"p-prof": person("p-prof", "academic")}, held)
    # a: 3 - 2 = 1 place; the supervisor holds 2 of 2, so neither a nor b is offered; c is full
    assert offered == [] and hosts == {}
    offered, hosts = rd.offer(docs, {}, held)  # no profile: a supervisor supervises 6
    assert [(c.id, c.capacity) for c in offered] == [("a", 1), ("b", 2)] and hosts == {"p-prof": 4}
    offered, hosts = rd.offer([challenge("d", 2, supervisor=None)], {}, rd.Held.of([]))
    assert hosts == {"host:d": 2}  # an SME hosting itself is bounded by its challenge


def test_one_round_at_a_time_numbered_per_programme_and_term() -> None:
    assert rd.next_id("change_of_perspective", "2027-spring", []) == "change-of-perspective-2027-spring-r1"
    assert rd.next_id("consultancy", "2027-spring", [{"status": "proposed"}]) == "consultancy-2027-spring-r2"
    with pytest.raises(Conflict, match="still writing its proposals"):
        rd.next_id("consultancy", "2027-spring", [{"status": "proposed"}, {"status": "proposing"}])


def test_a_round_is_decided_as_one_document_and_its_proposals_follow_from_it_alone() -> None:
    stored = rd.Stored(
        prior=[],
        live=[live("a", "s9")],
        ended=[{"candidate": "s2", "challenge_id": "a"}],
        open_challenges=[challenge("a", 2)],
        people=[person("s1"), person("s2"), person("s9")],
        supervisors={},
    )
    req = rd.RoundRequest("consultancy", "2027-spring", "stable", 48, "p-co")
    doc = rd.decide(req, stored, NOW)
    assert doc["_id"] == "consultancy-2027-spring-r1" and doc["status"] == "proposing"
    assert doc["run_at"] == stamp(NOW) and doc["expires_at"] == "2027-01-07T09:00:00.000000Z"
    assert doc["candidates"] == 2 and doc["challenges"] == 1  # s9 holds a place already
    assert doc["assignments"] == [{"student": "s1", "project": "a"}]  # s2 declined or let a lapse before
    assert [e["student"] for e in doc["explanations"]] == ["s1", "s2"]
    assert doc["explanations"][1]["preferences_from"] == rd.NOTHING_ELIGIBLE

    people = {p["_id"]: p for p in stored.people}
    once = rd.proposals(doc, {"a": challenge("a", 2)}, people)
    twice = rd.proposals(doc, {"a": challenge("a", 2)}, people)
    assert once == twice and [m.id for m, _ in once] == [rd.match_id(doc["_id"], "s1")]
    (m, [event]), *_ = once
    assert m.status == "proposed" and m.expires_at == doc["expires_at"] and m.host == "p-prof"
    assert event.name == "MatchProposed" and event.model_dump()["preference_rank"] == 1
    assert rd.proposed(doc) == {**doc, "status": "proposed"} and rd.proposed({**doc, "status": "proposed"}) is None
