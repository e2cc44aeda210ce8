"""Council dashboards in the unit tier: the projection fed event by event (embedded SQLite store, no bus),
the indicators against values computed by hand from a small story, duplicate delivery, unknown event
types, other orders of the topics, replay from the log, quarter boundaries, and who may read it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from clustergrowth.auth import Principal, person_id
from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import EventData, make_event
from clustergrowth.problems import NotFound
from clustergrowth.settings import DEV_ISSUER
from clustergrowth.store.sqlite import SqliteStore
from contracts import councils as cev
from contracts import facilities as fev
from contracts import mapping as mev
from contracts import matching as xev
from services.councils.dashboard import TOPICS, rebuild
from services.councils.dashboard.api import load
from services.councils.dashboard.projection import DashboardProjection, live_collection, quarter

CORK, BOLOGNA = "c-cork", "c-bologna"
U, S, G = person_id(DEV_ISSUER, "uni"), person_id(DEV_ISSUER, "sme"), person_id(DEV_ISSUER, "gov")
P1, P2, F = "p-" + "1" * 26, "p-" + "2" * 26, "p-" + "f" * 26
ANALYST = Principal("ana", frozenset({"analyst"}), "IE05")


def ev(data: EventData, key: str, at: str | None = None) -> CloudEvent:
    e = make_event(data, key=key, region="IE05", source="/test")
    return dataclasses.replace(e, time=at) if at else e


def formed(cid: str, region: str, themes: list[str]) -> CloudEvent:
    data = cev.CouncilFormed(
        council_id=cid,
        city=cid.removeprefix("c-").title(),
        region=region,
        host_organisation=f"{region}:host",
        themes=themes,
        formed_at="2026-01-05T00:00:00.000000Z",
    )
    return ev(data, cid)


def joined(member: str, person: str, constituency: str, org: str | None, cid: str = CORK) -> CloudEvent:
    data = cev.MemberJoined(
        council_id=cid,
        member_id=member,
        person=person,
        organisation=org,
        constituency=constituency,  # type: ignore[arg-type]
        position="member",
        region="IE05",
        joined_at="2026-01-10T00:00:00.000000Z",
    )
    return ev(data, cid)


def left(member: str, person: str, constituency: str, cid: str = CORK) -> CloudEvent:
    data = cev.MemberLeft(
        council_id=cid,
        member_id=member,
        person=person,
        constituency=constituency,  # type: ignore[arg-type]
        region="IE05",
        left_at="2026-02-10T00:00:00.000000Z",
        reason="resigned",
    )
    return ev(data, cid)


def assessed(sme: str, aid: str, at: str, needs: list[str], councils: list[str], org: str | None) -> CloudEvent:
    data = mev.SMEAssessed(
        sme_id=sme,
        assessment_id=aid,
        region="IE05",
        nace="C28.29",
        sector="C28",
        size_class="small",
        headcount=20,
        councils=councils,
        instrument_version="1",
        scores={n: 2.0 for n in needs},
        top_needs=needs,
        assessed_at=at,
        organisation=org,
    )
    return ev(data, sme)


def booked(
    bid: str, person: str, org: str | None, kind: str, start: str, person_region: str = "IE05", region: str = "IE05"
) -> CloudEvent:
    cls = fev.DeskBooked if kind == "hot_desk" else fev.FacilityBooked
    resource = f"r-{kind}-{region}"
    data = cls(
        booking_id=bid,
        resource_id=resource,
        site_id="s1",
        resource_kind=kind,  # type: ignore[arg-type]
        person=person,
        organisation=org,
        person_region=person_region,
        region=region,
        start=start,
        end=start.replace("T09", "T10"),
    )
    return ev(data, resource)


def cancelled(bid: str, person: str, kind: str, start: str, reason: str = "cancelled") -> CloudEvent:
    data = fev.BookingCancelled(
        booking_id=bid,
        resource_id=f"r-{kind}-IE05",
        site_id="s1",
        person=person,
        region="IE05",
        start=start,
        end=start.replace("T09", "T10"),
        cancelled_by=person,
        reason=reason,  # type: ignore[arg-type]
    )
    return ev(data, f"r-{kind}-IE05")


def posted(cid: str, suggested_from: str | None, at: str) -> CloudEvent:
    data = xev.ChallengePosted(
        challenge_id=cid,
        programme="consultancy",
        sme_id=None,
        organisation=None,
        region="IE05",
        term="2026-spring",
        work_mode="remote",
        skills=["finance"],
        capacity=3,
        ip_template="nda-1",
        suggested_from=suggested_from,
    )
    return ev(data, cid, at)


MATCH = {"round_id": "r1", "challenge_id": "ch-1", "candidate": "stu", "programme": "consultancy", "region": "IE05"}


def accepted(mid: str, candidate_region: str, at: str) -> CloudEvent:
    return ev(xev.MatchAccepted(match_id=mid, candidate_region=candidate_region, accepted_at=at, **MATCH), mid)  # type: ignore[arg-type]


def completed(mid: str, candidate_region: str, at: str) -> CloudEvent:
    data = xev.EngagementCompleted(
        match_id=mid,
        candidate_region=candidate_region,
        completed_at=at,
        milestones=3,
        milestones_done=3,
        **MATCH,  # type: ignore[arg-type]
    )
    return ev(data, mid)


def held(mid: str, at: str, attendance: dict[str, int], quorum: bool, decisions: list[str]) -> CloudEvent:
    data = cev.MeetingHeld(
        council_id=CORK,
        meeting_id=mid,
        region="IE05",
        held_at=at,
        attendees=sum(attendance.values()),
        attendance=attendance,
        quorum_met=quorum,
        decisions=decisions,
        action_items=0,
    )
    return ev(data, mid)


def initiative(
    kind: str,
    iid: str,
    lead: str,
    co: list[str],
    cross: bool,
    at: str,
    outcome: str = "completed",
    region: str = "IE05",
) -> CloudEvent:
    common: dict[str, Any] = {
        "initiative_id": iid,
        "council_id": lead,
        "region": region,  # the lead council's
        "co_sponsors": co,
        "regions": ["IE05"],
        "cross_border": cross,
    }
    data: EventData
    if kind == "proposed":
        data = cev.InitiativeProposed(**common, proposed_at=at)
    elif kind == "launched":
        data = cev.InitiativeLaunched(**common, decision_id="d1", launched_at=at)
    else:
        data = cev.InitiativeCompleted(**common, outcome=outcome, reason=None, ended_at=at)  # type: ignore[arg-type]
    return ev(data, iid)


def story() -> dict[str, list[CloudEvent]]:
    """A small story of one council (Cork, IE05) in the first half of 2026, per topic in log order."""
    return {
        "councils.events": [
            formed(CORK, "IE05", ["finance", "digitalisation"]),
            formed(BOLOGNA, "ITH5", ["talent"]),
            joined("m1", U, "university", "IE05:MTU"),
            joined("m2", S, "sme", "IE05:acme"),
            joined("m3", G, "government", None),
            held(
                "mt1", "2026-03-15T10:00:00.000000Z", {"sme": 2, "university": 1, "government": 1}, True, ["d1", "d2"]
            ),
            held("mt2", "2026-05-15T10:00:00.000000Z", {"sme": 3}, False, []),
            initiative("proposed", "i1", CORK, [], False, "2026-03-20T00:00:00.000000Z"),
            initiative("launched", "i2", BOLOGNA, [CORK], True, "2026-05-20T00:00:00.000000Z", region="ITH5"),
            initiative("completed", "i1", CORK, [], False, "2026-06-01T00:00:00.000000Z"),
        ],
        "mapping.events": [
            assessed(
                "sme-1",
                "a-1",
                "2026-02-10T00:00:00.000000Z",
                ["finance", "digitalisation", "export"],
                [CORK],
                "IE05:acme",
            ),
            assessed(
                "sme-2", "a-2", "2026-03-31T23:59:59.999999Z", ["finance", "talent", "export"], ["cork"], "IE05:beta"
            ),
            assessed(
                "sme-1", "a-3", "2026-04-01T00:00:00.000000Z", ["talent", "innovation", "export"], [CORK], "IE05:acme"
            ),
        ],
        "facilities.events": [
            booked("b1", P1, "IE05:acme", "university_access_point", "2026-03-02T09:00:00.000000Z"),
            booked("b2", P1, "IE05:acme", "university_access_point", "2026-03-03T09:00:00.000000Z"),
            booked("b3", U, "IE05:MTU", "hot_desk", "2026-03-04T09:00:00.000000Z"),
            booked("b4", F, "ITH5:unibo", "hot_desk", "2026-03-05T09:00:00.000000Z", person_region="ITH5"),
            booked("b5", P2, "IE05:beta", "university_access_point", "2026-02-02T09:00:00.000000Z"),
            booked("b6", P1, "IE05:acme", "hot_desk", "2026-03-06T09:00:00.000000Z", region="ITH5"),  # not Cork's
            cancelled("b2", P1, "university_access_point", "2026-03-03T09:00:00.000000Z"),
            cancelled("b7", P2, "university_access_point", "2026-02-03T09:00:00.000000Z", reason="rejected"),
        ],
        "matching.events": [
            posted("ch-1", "a-1", "2026-03-01T00:00:00.000000Z"),
            posted("ch-2", "a-2", "2026-03-10T00:00:00.000000Z"),
            posted("ch-3", None, "2026-03-11T00:00:00.000000Z"),
            accepted("x1", "ITH5", "2026-02-20T00:00:00.000000Z"),
            posted("ch-4", "a-3", "2026-04-10T00:00:00.000000Z"),
            posted("ch-5", "a-unknown", "2026-04-11T00:00:00.000000Z"),
            completed("x2", "IE05", "2026-05-10T00:00:00.000000Z"),
            completed("x3", "ITH5", "2026-06-30T23:59:59.999999Z"),
        ],
    }


def in_order(topics: list[str]) -> list[CloudEvent]:
    s = story()
    return [e for t in topics for e in s[t]]


ORDER = ["councils.events", "mapping.events", "facilities.events", "matching.events"]


async def fed(tmp_path: Path, events: list[CloudEvent], name: str = "store") -> SqliteStore:
    store = SqliteStore(tmp_path / f"{name}.sqlite")
    projection = DashboardProjection(store)
    for e in events:
        await projection.handle(e)
    return store


def values(board: dict[str, Any], key: str) -> list[int]:
    return [row["value"] for row in board["indicators"][key]["by_quarter"]]


async def test_the_four_success_factors_per_quarter_match_the_hand_computed_story(tmp_path: Path) -> None:
    board = await load(await fed(tmp_path, in_order(ORDER)), CORK, ANALYST, "IE05")
    assert board["quarters"] == ["2026-Q1", "2026-Q2"]
    # Q1: 0 engagements + 2 SME bookings at university sites (b1, b5; b2 cancelled) + 1 meeting with both
    # Q2: 2 engagements (x2, x3) + 0 + 0 (mt2 had SMEs only)
    assert values(board, "sme_university") == [3, 2]
    q1 = board["indicators"]["sme_university"]["by_quarter"][0]["inputs"]
    assert q1 == {
        "engagements_completed": 0,
        "sme_bookings_at_university_sites": 2,
        "meetings_attended_by_smes_and_universities": 1,
    }
    # Q1: 0 cross-border initiatives + 1 booking from ITH5 (b4) + 0; Q2: 0 (i2 names Cork as a co-sponsor, but
    # its lead is Bologna's council, of ITH5, whose service cannot confirm an IE05 council) + 0 + 1 (x3)
    assert values(board, "cluster_cluster") == [1, 1]
    # top needs Q1 {finance 2, export 2, digitalisation 1 (beats talent 1 by id)}: ch-1 and ch-2 (finance);
    # Q2 {talent 2, export 2, finance 1}: ch-4 (a-3's greatest need is talent); ch-5's assessment is unknown
    assert values(board, "cluster_specific") == [2, 1]
    specific = board["indicators"]["cluster_specific"]["by_quarter"]
    assert specific[0]["region_top_needs"] == ["export", "finance", "digitalisation"]  # 2, 2 (by id), 1
    assert specific[1]["region_top_needs"] == ["export", "talent", "finance"]
    assert specific[0]["council_themes_among_top_needs"] == ["digitalisation", "finance"]
    assert (specific[1]["challenges_posted"], specific[1]["challenges_suggested_by_assessments"]) == (2, 2)
    # Q1: 1 meeting with government (mt1); Q2: 1 initiative completed (i1)
    assert values(board, "national_impact") == [1, 1]
    assert board["indicators"]["national_impact"]["cannot_answer"]


async def test_activity_shows_the_inputs_bookings_classified_by_booker(tmp_path: Path) -> None:
    board = await load(await fed(tmp_path, in_order(ORDER)), CORK, ANALYST, "IE05")
    q1, q2 = board["activity"]
    assert q1["bookings"] == {
        "total": 4,  # b1, b3, b4, b5 (b2 cancelled, b6 in ITH5, b7 a rejected request)
        "by_smes": 2,  # P1 (acme, assessed as sme-1's) and P2 (beta, sme-2's)
        "by_university_people": 1,  # U, a university member
        "by_others": 1,  # F
        "at_university_sites": 2,
        "by_smes_at_university_sites": 2,
        "by_people_from_other_regions": 1,
    }
    # sme-1 names the council by id, sme-2 by its city ("cork", as registered in mapping)
    assert (q1["smes_assessed"], q1["smes_of_council_assessed"], q2["smes_assessed"]) == (2, 2, 1)
    assert (q1["matches_accepted"], q1["matches_cross_region"]) == (1, 1)
    assert (q2["engagements_completed"], q2["engagements_cross_region"]) == (2, 1)
    assert (q1["meetings_held"], q1["meetings_quorate"], q1["attendees"], q1["decisions"]) == (1, 1, 4, 2)
    assert q1["attendance"] == {"government": 1, "sme": 2, "university": 1}
    assert q1["initiatives"] == {"proposed": 1, "launched": 0, "completed": 0, "abandoned": 0}
    assert (q2["initiatives"]["launched"], q2["cross_border_initiatives_launched"]) == (0, 0)  # i2: unconfirmed
    assert board["members_by_constituency"] == {"government": 1, "sme": 1, "university": 1}
    assert board["region"] == "IE05" and board["themes"] == ["digitalisation", "finance"]


async def test_the_co_sponsor_sees_the_cross_border_initiative_too(tmp_path: Path) -> None:
    board = await load(await fed(tmp_path, in_order(ORDER)), BOLOGNA, ANALYST, "IE05")
    assert board["region"] == "ITH5" and board["quarters"] == ["2026-Q1", "2026-Q2"]  # b6 is in ITH5's Q1
    assert values(board, "cluster_cluster") == [1, 1]  # Q1: b6, booked by P1 of IE05; Q2: i2
    assert board["activity"][0]["bookings"]["total"] == 1


async def test_a_co_sponsorship_counts_only_when_the_lead_is_of_the_co_sponsors_region(tmp_path: Path) -> None:
    """i3: led by Limerick (IE05), co-sponsored by Cork (IE05): confirmed, counts for Cork. i4: led by Bologna
    (ITH5) naming Cork: unconfirmed, counts for Bologna only. i5: led by Cork naming Bologna, cross-border:
    counts for Cork (the lead), not for Bologna."""
    limerick = "c-limerick"
    at = "2026-05-20T00:00:00.000000Z"
    events = [
        formed(CORK, "IE05", []),
        formed(limerick, "IE05", []),
        formed(BOLOGNA, "ITH5", []),
        initiative("launched", "i3", limerick, [CORK], False, at),
        initiative("launched", "i4", BOLOGNA, [CORK], True, at, region="ITH5"),
        initiative("launched", "i5", CORK, [BOLOGNA], True, at),
    ]
    store = await fed(tmp_path, events)
    cork = (await load(store, CORK, ANALYST, "IE05"))["activity"][0]
    assert (cork["initiatives"]["launched"], cork["cross_border_initiatives_launched"]) == (2, 1)  # i3, i5; i5
    bologna = (await load(store, BOLOGNA, ANALYST, "IE05"))["activity"][0]
    assert (bologna["initiatives"]["launched"], bologna["cross_border_initiatives_launched"]) == (1, 1)  # i4
    assert values(await load(store, BOLOGNA, ANALYST, "IE05"), "cluster_cluster") == [1]  # i4, not i5


async def test_every_event_delivered_twice_changes_nothing(tmp_path: Path) -> None:
    events = in_order(ORDER)
    once = await load(await fed(tmp_path, events, "once"), CORK, ANALYST, "IE05")
    twice = await load(await fed(tmp_path, [e for x in events for e in (x, x)], "twice"), CORK, ANALYST, "IE05")
    again = await load(await fed(tmp_path, [*events, *events], "again"), CORK, ANALYST, "IE05")
    assert once == twice == again


async def test_the_order_in_which_topics_are_consumed_does_not_change_the_answer(tmp_path: Path) -> None:
    first = await load(await fed(tmp_path, in_order(ORDER), "a"), CORK, ANALYST, "IE05")
    reverse = await load(await fed(tmp_path, in_order(ORDER[::-1]), "b"), CORK, ANALYST, "IE05")
    assert reverse == first


async def test_unknown_event_types_are_tolerated_and_change_nothing(tmp_path: Path) -> None:
    strange = [
        CloudEvent(
            type="eu.smeclustergrowth.training.EnrolmentConfirmed.v1",
            source="/t",
            data={"x": 1},
            region="IE05",
            partitionkey="e1",
        ),
        CloudEvent(
            type="eu.smeclustergrowth.councils.CouncilFormed.v2", source="/t", data={}, region="IE05", partitionkey="c1"
        ),
        ev(
            xev.MatchProposed(
                match_id="x9",
                mode="stable",
                preference_rank=1,
                expires_at="2026-03-01T00:00:00Z",
                candidate_region="IE05",
                **MATCH,
            ),
            "x9",
        ),  # type: ignore[arg-type]
    ]
    plain = await fed(tmp_path, in_order(ORDER), "plain")
    mixed = await fed(tmp_path, [*strange, *in_order(ORDER), *strange], "mixed")
    assert await load(mixed, CORK, ANALYST, "IE05") == await load(plain, CORK, ANALYST, "IE05")
    assert await mixed.count(await live_collection(mixed)) == await plain.count(await live_collection(plain))
    alone = await fed(tmp_path, strange, "alone")
    assert await alone.count(await live_collection(alone)) == 0


async def test_replaying_the_log_from_zero_rebuilds_the_same_dashboard(tmp_path: Path) -> None:
    live = await fed(tmp_path, in_order(ORDER), "live")
    bus = SqliteBus(tmp_path / "events.sqlite")
    s = story()
    for topic in ORDER:
        await bus.publish(topic, s[topic])
    fresh = SqliteStore(tmp_path / "fresh.sqlite")
    try:
        report = await rebuild(fresh, bus, TOPICS)
        assert report["events"] == sum(len(v) for v in s.values()) and report["generation"] == 2
        assert await load(fresh, CORK, ANALYST, "IE05") == await load(live, CORK, ANALYST, "IE05")
        report = await rebuild(live, bus, TOPICS)  # a rebuild over a live store makes a new generation
        assert report["generation"] == 2 and await load(live, CORK, ANALYST, "IE05") == await load(
            fresh, CORK, ANALYST, "IE05"
        )
    finally:
        await bus.close()


def booked_at(resource: str, bid: str, person: str, org: str, kind: str, start: str) -> CloudEvent:
    e = booked(bid, person, org, kind, start)
    return dataclasses.replace(e, data={**e.data, "resource_id": resource})


def cancelled_at(resource: str, bid: str, person: str, start: str) -> CloudEvent:
    e = cancelled(bid, person, "hot_desk", start)  # the event does not say the kind
    return dataclasses.replace(e, data={**e.data, "resource_id": resource})


async def rewritten(store: SqliteStore, key: str, **fields: Any) -> None:
    """The stored cell as another version of the code would have written it (``None``: the field left out)."""
    collection = await live_collection(store)
    cell = await store.get(collection, key)
    assert cell is not None
    doc = {k: v for k, v in {**cell, **fields}.items() if v is not None}
    assert await store.replace(collection, doc, cell["version"])


async def cell_of(store: SqliteStore, key: str) -> dict[str, Any]:
    cell = await store.get(await live_collection(store), key)
    assert cell is not None
    return cell


Q1, CELL = "2026-03-02T09:00:00.000000Z", "region|IE05|2026-Q1"
UNI = "university_access_point"


async def test_a_region_cell_written_with_the_former_resource_list_is_read_and_rewritten_split(tmp_path: Path) -> None:
    """A cell stored before the resource ids were kept as two sorted lists (one list of ``{"id", "uni"}``
    objects, in any order): a booking and a cancellation read the kinds there, and write the two lists only."""
    store = await fed(tmp_path, [formed(CORK, "IE05", []), booked_at("r-m", "b1", P1, "IE05:acme", UNI, Q1)])
    former = [{"id": "r-z", "uni": False}, {"id": "r-m", "uni": True}, {"id": "r-a", "uni": False}]
    former.append({"id": "r-k", "uni": True})
    await rewritten(store, CELL, resources=former, uni_resources=None, other_resources=None)
    projection = DashboardProjection(store)
    await projection.handle(booked_at("r-c", "b2", P2, "IE05:beta", "hot_desk", Q1))  # a booking first
    cell = await cell_of(store, CELL)
    assert "resources" not in cell
    assert (cell["uni_resources"], cell["other_resources"]) == (["r-k", "r-m"], ["r-a", "r-c", "r-z"])
    await projection.handle(cancelled_at("r-m", "b1", P1, Q1))  # at a university site, as the former list said
    cell = await cell_of(store, CELL)
    assert sorted((b["person"], b["uni_site"], b["n"]) for b in cell["bookers"]) == [(P2, False, 1)]
    # a resource booked as another kind than before moves to that kind's list (the latest booking says)
    await projection.handle(booked_at("r-k", "b3", P2, "IE05:beta", "hot_desk", Q1))
    cell = await cell_of(store, CELL)
    assert (cell["uni_resources"], cell["other_resources"]) == (["r-m"], ["r-a", "r-c", "r-k", "r-z"])
    bookings = (await load(store, CORK, ANALYST, "IE05"))["activity"][0]["bookings"]
    assert (bookings["total"], bookings["at_university_sites"]) == (2, 0)


async def test_a_region_cell_holding_both_shapes_reads_the_kinds_of_both(tmp_path: Path) -> None:
    """During a rolling update a replica of the code before adds its list beside the two: a cancellation of a
    booking either version recorded finds its kind."""
    events = [formed(CORK, "IE05", []), booked_at("r-x", "b1", P1, "IE05:acme", UNI, Q1)]
    store = await fed(tmp_path, [*events, booked_at("r-y", "b2", P2, "IE05:beta", UNI, Q1)])
    await rewritten(store, CELL, resources=[{"id": "r-y", "uni": True}], uni_resources=["r-x"])
    projection = DashboardProjection(store)
    await projection.handle(cancelled_at("r-x", "b1", P1, Q1))  # its kind in the new list only
    await projection.handle(cancelled_at("r-y", "b2", P2, Q1))  # its kind in the former list only
    cell = await cell_of(store, CELL)
    assert cell["bookers"] == [] and "resources" not in cell
    assert (cell["uni_resources"], cell["other_resources"]) == (["r-x", "r-y"], [])


async def test_an_erased_sme_is_forgotten(tmp_path: Path) -> None:
    erased = ev(mev.SMEErased(sme_id="sme-2", region="IE05", sector="C28"), "sme-2")
    board = await load(await fed(tmp_path, [*in_order(ORDER), erased]), CORK, ANALYST, "IE05")
    q1 = board["activity"][0]
    assert q1["smes_assessed"] == 1  # sme-1 only
    assert q1["bookings"]["by_smes"] == 1 and q1["bookings"]["by_others"] == 2  # beta is no longer an SME's
    assert q1["challenges_on_top_needs"] == 1  # ch-2's assessment is gone


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-03-31T23:59:59.999999Z", "2026-Q1"),
        ("2026-04-01T00:00:00.000000Z", "2026-Q2"),
        ("2026-04-01T01:30:00+02:00", "2026-Q1"),  # 23:30 UTC on 31 March
        ("2026-12-31T23:59:59.999999+00:00", "2026-Q4"),
        ("2027-01-01T00:00:00Z", "2027-Q1"),
        ("2026-06-30T23:59:59.999999Z", "2026-Q2"),
        ("2026-07-01T00:00:00Z", "2026-Q3"),
    ],
)
def test_quarters_are_utc_calendar_quarters(at: str, expected: str) -> None:
    assert quarter(at) == expected


async def test_an_event_at_the_last_microsecond_of_march_counts_in_q1_and_one_at_midnight_in_q2(tmp_path: Path) -> None:
    events = [
        formed(CORK, "IE05", []),
        completed("y1", "IE05", "2026-03-31T23:59:59.999999Z"),
        completed("y2", "IE05", "2026-04-01T00:00:00.000000Z"),
        completed("y3", "IE05", "2026-04-01T00:00:00.000001Z"),
    ]
    board = await load(await fed(tmp_path, events), CORK, ANALYST, "IE05")
    assert [(r["quarter"], r["engagements_completed"]) for r in board["activity"]] == [("2026-Q1", 1), ("2026-Q2", 2)]


async def test_quarters_without_activity_between_two_with_activity_are_shown_as_zero(tmp_path: Path) -> None:
    events = [
        formed(CORK, "IE05", []),
        completed("y1", "IE05", "2025-11-01T00:00:00Z"),
        completed("y2", "IE05", "2026-05-01T00:00:00Z"),
    ]
    board = await load(await fed(tmp_path, events), CORK, ANALYST, "IE05")
    assert board["quarters"] == ["2025-Q4", "2026-Q1", "2026-Q2"]
    assert values(board, "sme_university") == [1, 0, 1]


# Who may read -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("who", "sees"),
    [
        (Principal("ana", frozenset({"analyst"}), "FR10"), True),  # network-wide, aggregates
        (Principal("sec", frozenset({"council_secretary"}), "IE05"), True),  # the region's staff
        (Principal("adm", frozenset({"region_admin"}), "IE05"), True),
        # a partner's person granted council_secretary here (home region ITH5): she manages this region's
        # councils, as everywhere in the service (the auth layer strips staff roles not granted here)
        (Principal("sec", frozenset({"council_secretary"}), "ITH5"), True),
        (Principal("uni", frozenset({"academic"}), "IE05"), True),  # an active member
        (Principal("sme", frozenset({"sme_member"}), "IE05"), False),  # a member who left
        (Principal("eve", frozenset({"sme_member"}), "IE05"), False),  # nobody's member
        (Principal("fm", frozenset({"facility_manager"}), "IE05"), False),  # staff of an organisation only
    ],
)
async def test_members_the_regions_staff_and_analysts_read_it_and_others_get_404(
    tmp_path: Path, who: Principal, sees: bool
) -> None:
    store = await fed(tmp_path, [*in_order(ORDER), left("m2", S, "sme")])
    if sees:
        assert (await load(store, CORK, who, "IE05"))["council_id"] == CORK
    else:
        with pytest.raises(NotFound, match=CORK):
            await load(store, CORK, who, "IE05")


async def test_this_regions_staff_do_not_read_another_regions_council(tmp_path: Path) -> None:
    store = await fed(tmp_path, in_order(ORDER))
    staff = Principal("sec", frozenset({"council_secretary"}), "IE05")
    assert (await load(store, CORK, staff, "IE05"))["council_id"] == CORK
    with pytest.raises(NotFound, match=BOLOGNA):  # Bologna's council is ITH5's, this service is IE05's
        await load(store, BOLOGNA, staff, "IE05")
    assert (await load(store, BOLOGNA, staff, "ITH5"))["council_id"] == BOLOGNA  # in ITH5's service


async def test_a_council_not_formed_here_is_404_even_with_members_known(tmp_path: Path) -> None:
    store = await fed(tmp_path, [joined("m9", U, "university", None, cid="c-unknown")])
    with pytest.raises(NotFound, match="c-unknown"):
        await load(store, "c-unknown", ANALYST, "IE05")
    with pytest.raises(NotFound):
        await load(store, "c-nothing", ANALYST, "IE05")
