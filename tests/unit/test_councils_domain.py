"""The councils domain's rules at their boundaries, without I/O; time is given (an injected clock), and each
expected value is worked out by hand in the test, not read from the code under test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from clustergrowth.auth import Principal
from clustergrowth.context import stamp
from clustergrowth.problems import Conflict, Forbidden, NotFound, Problem, Unprocessable
from services.councils.domain import council as cn
from services.councils.domain import decision as dc
from services.councils.domain import initiative as ini
from services.councils.domain import meeting as mt
from tests.helpers import pid

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
REGION = "IE05"


class Clock:
    """An injected clock: each call to ``now()`` is a minute after the last."""

    def __init__(self) -> None:
        self.t = T0

    def now(self) -> str:
        self.t += timedelta(minutes=1)
        return stamp(self.t)


def person(sub: str, *roles: str) -> Principal:
    return Principal(sub=sub, roles=frozenset(roles), region=REGION)


def council(rule: str = "majority", fraction: float = 0.5, min_constituencies: int = 2) -> dict[str, Any]:
    fields = {
        "name": "Council Cork",
        "city": "Cork",
        "host_organisation": "IE05:MTU",
        "purpose": "p",
        "themes": [{"key": "finance", "share": 0.4}],
        "success_factors": [],
        "composition": {"min_constituencies": min_constituencies, "quorum_rule": rule, "quorum_fraction": fraction},
    }
    doc, _ = cn.form("cnl-1", fields, REGION, person("sec", "council_secretary"), stamp(T0))
    return doc


def with_members(doc: dict[str, Any], *people: tuple[str, str, str]) -> dict[str, Any]:
    """Add members (sub, constituency, position) as accepted invitations."""
    for n, (sub, constituency, position) in enumerate(people):
        req = {
            "kind": "invitation",
            "person": pid(sub),
            "display_name": sub,
            "constituency": constituency,
            "position": position,
        }
        doc, _ = cn.join(doc, f"mem-{n}-{sub}", req, stamp(T0))
    return doc


def voters(n: int, observers: int = 0) -> dict[str, Any]:
    people = [(f"v{i}", "sme", "member") for i in range(n)] + [
        (f"o{i}", "investor", "observer") for i in range(observers)
    ]
    return with_members(council(), *people)


# Composition ---------------------------------------------------------------------------------------------
def test_one_constituency_warns_and_two_do_not() -> None:
    one = with_members(council(), ("a", "sme", "member"), ("b", "sme", "chair"))
    report = cn.composition_report(one)
    assert report["constituencies_represented"] == ["sme"]
    assert [w["key"] for w in report["warnings"]] == ["too_few_constituencies"]
    two = with_members(council(), ("a", "sme", "member"), ("b", "university", "chair"))
    report = cn.composition_report(two)
    assert report["warnings"] == []
    assert report["by_constituency"] == {"sme": 1, "university": 1, "government": 0, "intermediary": 0, "investor": 0}


def test_a_rule_of_three_constituencies_warns_at_two() -> None:
    doc = with_members(council(min_constituencies=3), ("a", "sme", "member"), ("b", "university", "member"))
    assert len(cn.composition_report(doc)["warnings"]) == 1
    doc = with_members(doc, ("c", "government", "member"))
    assert cn.composition_report(doc)["warnings"] == []


def test_a_member_who_left_no_longer_counts() -> None:
    doc = with_members(council(), ("a", "sme", "member"), ("b", "university", "member"))
    doc, left = cn.end(doc, "mem-1-b", "resigned", stamp(T0))
    assert left.reason == "resigned" and left.constituency == "university"
    assert cn.composition_report(doc)["members"] == 1
    assert doc["member_ids"] == [pid("a")]


# Quorum ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rule", "fraction", "voting", "needed"),
    [
        ("majority", 0.5, 4, 3),  # more than 2 of 4
        ("majority", 0.5, 5, 3),  # more than 2.5 of 5
        ("at_least", 0.5, 5, 3),  # 2.5 rounded up
        ("at_least", 1 / 3, 3, 1),  # 0.3333333333333333 x 3 = 0.9999999999999999: 1
        ("at_least", "1/3", 3, 1),  # exactly 1
        ("at_least", 0.334, 3, 2),  # 1.002: 2 (a nearby small fraction, 1/3, would say 1)
        ("at_least", 0.333, 3, 1),  # 0.999: 1
        ("at_least", "2/3", 9, 6),  # exactly 6
        ("at_least", 0.6667, 9, 7),  # 6.0003: 7
        ("majority", "2/3", 9, 7),  # more than 6
        ("majority", 2 / 3, 9, 6),  # more than 5.9999999999999994
        ("at_least", 0.004, 3, 1),  # 0.012: 1, never 0 (a fraction of denominator <= 100 made it 0)
        ("majority", 0.999, 3, 3),  # more than 2.997: all 3, not 4 (it was rounded to 1: more than all)
        ("at_least", 1.0, 3, 3),
        ("at_least", 1.0, 1, 1),
        ("majority", 0.5, 1, 1),  # more than 0.5 of 1
        ("majority", 0.5, 0, 0),
    ],
)
def test_quorum_needed(rule: str, fraction: float | str, voting: int, needed: int) -> None:
    assert cn.quorum_needed(rule, fraction, voting) == needed


@pytest.mark.parametrize(
    ("rule", "fraction", "accepted"),
    [
        ("majority", 0.999999, True),
        ("majority", "999/1000", True),
        ("majority", 1.0, False),  # more than all: impossible
        ("majority", "1/1", False),
        ("at_least", 1.0, True),  # all
        ("at_least", "5/4", False),  # more than all
        ("at_least", 1e-9, True),  # 1 of any council of up to 300
        ("at_least", "0/3", False),  # 0: automatic
        ("majority", 0.0, False),
    ],
)
def test_a_quorum_rule_that_is_automatic_or_impossible_is_refused(
    rule: str, fraction: float | str, accepted: bool
) -> None:
    if accepted:
        stored = cn.composition(2, rule, fraction)["quorum"]
        assert all(1 <= cn.quorum_needed(rule, stored["exact"], n) <= n for n in (1, 2, 3, 299, 300))
    else:
        with pytest.raises(Unprocessable) as e:
            cn.composition(2, rule, fraction)
        assert e.value.extensions["errors"][0]["field"] == "composition.quorum_fraction"


def test_the_rule_is_stored_exactly_and_labelled_with_it() -> None:
    assert cn.composition(2, "at_least", 0.334)["quorum"] == {
        "rule": "at_least",
        "fraction": 0.334,
        "exact": "167/500",
        "label": "at least 167/500 of voting members",
    }
    assert cn.composition(2, "majority", "2/3")["quorum"]["label"] == "more than 2/3 of voting members"


def test_quorum_exactly_at_the_rule_is_met_and_one_below_is_not() -> None:
    doc = voters(4, observers=2)  # 4 voting members: a majority is 3; observers count for nothing
    at = {pid("v0"), pid("v1"), pid("v2")}
    below = {pid("v0"), pid("v1"), pid("o0"), pid("o1")}
    assert cn.quorum(doc, at) == {
        "rule": "more than 1/2 of voting members",
        "voting_members": 4,
        "needed": 3,
        "voting_present": 3,
        "met": True,
    }
    assert cn.quorum(doc, below)["met"] is False and cn.quorum(doc, below)["voting_present"] == 2


def test_a_council_without_voting_members_has_no_quorum() -> None:
    assert cn.quorum(council(), set())["met"] is False


# Joining -----------------------------------------------------------------------------------------------
def invitation(doc: dict[str, Any], sub: str, clock: Clock) -> dict[str, Any]:
    fields = {"person": pid(sub), "constituency": "sme", "position": "member", "display_name": sub}
    return cn.request(doc, f"req-{sub}", "invitation", fields, pid("sec"), clock.now())


def test_only_the_invited_person_accepts_and_then_she_is_a_member() -> None:
    clock, sec = Clock(), person("sec", "council_secretary")
    doc = invitation(council(), "ana", clock)
    with pytest.raises(NotFound):  # someone else does not even see the invitation
        cn.answer(doc, "req-ana", person("eve"), REGION, "accept", clock.now(), mid="m1")
    with pytest.raises(Forbidden):  # the secretary sees it but cannot accept for her
        cn.answer(doc, "req-ana", sec, REGION, "accept", clock.now(), mid="m1")
    new, events, req = cn.answer(doc, "req-ana", person("ana"), REGION, "accept", clock.now(), mid="m1")
    assert req["status"] == "accepted" and [e.person for e in events] == [pid("ana")]
    assert cn.membership_of(new, pid("ana"))["id"] == "m1"  # type: ignore[index]
    with pytest.raises(Conflict):  # answered already
        cn.answer(new, "req-ana", person("ana"), REGION, "decline", clock.now(), mid="m2")
    with pytest.raises(Conflict):  # a member is not invited again
        invitation(new, "ana", clock)


def test_an_application_is_approved_or_rejected_by_a_manager_only() -> None:
    clock = Clock()
    fields = {"person": pid("bo"), "constituency": "investor", "display_name": "Bo"}
    doc = cn.request(council(), "req-bo", "application", fields, pid("bo"), clock.now())
    with pytest.raises(Forbidden):
        cn.answer(doc, "req-bo", person("bo"), REGION, "approve", clock.now(), mid="m1")
    with pytest.raises(NotFound):  # staff of another region: the council is IE05's, so not theirs to see
        cn.answer(doc, "req-bo", person("x", "council_secretary"), "FR10", "approve", clock.now(), mid="m1")
    new, events, req = cn.answer(doc, "req-bo", person("s", "region_admin"), REGION, "reject", clock.now(), mid="m1")
    assert req["status"] == "rejected" and events == [] and cn.membership_of(new, pid("bo")) is None


def test_a_secretary_member_manages_her_own_council_only() -> None:
    doc = with_members(council(), ("sara", "intermediary", "secretary"), ("mo", "sme", "member"))
    assert cn.manages(person("sara"), doc, REGION)
    assert not cn.manages(person("mo"), doc, REGION)
    other = {**council(), "_id": "cnl-2", "members": [], "member_ids": []}
    assert not cn.manages(person("sara"), other, REGION)


def test_a_member_may_only_resign_her_own_membership() -> None:
    doc = with_members(council(), ("a", "sme", "member"), ("b", "sme", "member"))
    with pytest.raises(Forbidden):
        cn.end_by(person("a"), doc, "mem-1-b", "resigned", REGION, stamp(T0))
    with pytest.raises(Unprocessable):
        cn.end_by(person("a"), doc, "mem-0-a", "removed", REGION, stamp(T0))
    new, _ = cn.end_by(person("a"), doc, "mem-0-a", "resigned", REGION, stamp(T0))
    with pytest.raises(Conflict):
        cn.end(new, "mem-0-a", "removed", stamp(T0))


def test_erasure_forgets_names_and_ends_the_membership() -> None:
    doc = with_members(council(), ("a", "sme", "member"))
    doc, events = cn.erase(doc, pid("a"), stamp(T0))
    m = doc["members"][0]
    assert (m["display_name"], m["email"], m["end_reason"]) == (None, None, "erased")
    assert [e.reason for e in events] == ["erased"]
    doc, events = cn.erase(doc, pid("a"), stamp(T0))  # again: nothing more to end
    assert events == []


def test_a_person_erases_her_own_request_and_a_pending_one_is_withdrawn() -> None:
    clock = Clock()
    fields = {"person": pid("bo"), "constituency": "investor", "display_name": "Bo", "email": "bo@example.eu"}
    doc = cn.request(council(), "req-bo", "application", {**fields, "motivation": "m"}, pid("bo"), clock.now())
    with pytest.raises(NotFound):  # not hers
        cn.erase_request(doc, "req-bo", pid("eve"), clock.now())
    at = clock.now()
    new, req = cn.erase_request(doc, "req-bo", pid("bo"), at)
    assert (req["display_name"], req["email"], req["motivation"]) == (None, None, None)
    assert (req["id"], req["kind"], req["status"], req["decided_at"], req["decided_by"]) == (
        "req-bo",
        "application",
        "withdrawn",
        at,
        pid("bo"),
    )
    with pytest.raises(Conflict):  # withdrawn: no longer to be approved
        cn.answer(new, "req-bo", person("s", "region_admin"), REGION, "approve", clock.now(), mid="m1")
    rejected, _, _ = cn.answer(doc, "req-bo", person("s", "region_admin"), REGION, "reject", clock.now(), mid="m1")
    _, req = cn.erase_request(rejected, "req-bo", pid("bo"), clock.now())
    assert (req["status"], req["display_name"]) == ("rejected", None)  # a decided one keeps its status


TICK = timedelta(microseconds=1)
DAY_30 = T0 + timedelta(days=30)  # an invitation made at T0 is expired from here on (exactly 30 days included)


def invited_at_t0(doc: dict[str, Any] | None = None, sub: str = "ana") -> dict[str, Any]:
    fields = {"person": pid(sub), "constituency": "sme", "position": "member", "display_name": sub}
    return cn.request(doc or council(), f"req-{sub}", "invitation", fields, pid("sec"), stamp(T0))


@pytest.mark.parametrize(
    ("at", "status"),
    [(DAY_30 - TICK, "pending"), (DAY_30, "expired"), (DAY_30 + TICK, "expired")],
)
def test_an_invitation_expires_30_days_after_it_was_made(at: datetime, status: str) -> None:
    doc = invited_at_t0()
    req = doc["requests"][0]
    assert cn.status_now(req, stamp(at)) == status
    assert cn.request_view(req, stamp(at))["expires_at"] == "2027-03-31T09:00:00.000000Z"  # T0 + 30 days by hand
    if status == "pending":
        _, _, accepted = cn.answer(doc, "req-ana", person("ana"), REGION, "accept", stamp(at), mid="m1")
        assert accepted["status"] == "accepted"
        with pytest.raises(Conflict):  # still pending: she is not invited twice
            invited_at_t0(doc)
    else:
        with pytest.raises(Conflict) as e:
            cn.answer(doc, "req-ana", person("ana"), REGION, "accept", stamp(at), mid="m1")
        assert "expired" in e.value.detail
        with pytest.raises(Conflict):  # nor withdrawn: it is no longer pending
            cn.withdraw(doc, "req-ana", person("s", "region_admin"), REGION, stamp(at))
        fields = {"person": pid("ana"), "constituency": "sme", "position": "member", "display_name": "ana"}
        again = cn.request(doc, "req-ana-2", "invitation", fields, pid("sec"), stamp(at))  # may be invited anew
        assert [cn.status_now(r, stamp(at)) for r in again["requests"]] == ["expired", "pending"]


def test_expired_invitations_do_not_count_as_pending() -> None:
    """MAX_PENDING (100) invitations made at T0 fill the council's pending requests until they expire."""
    doc = council()
    for n in range(100):
        doc = invited_at_t0(doc, f"p{n}")
    fields = {"person": pid("late"), "constituency": "sme", "display_name": "Late"}
    with pytest.raises(Conflict):
        cn.request(doc, "req-late", "application", fields, pid("late"), stamp(DAY_30 - TICK))
    doc = cn.request(doc, "req-late", "application", fields, pid("late"), stamp(DAY_30))
    assert cn.status_now(doc["requests"][-1], stamp(DAY_30 + timedelta(days=400))) == "pending"  # never expires


def test_a_manager_withdraws_a_pending_invitation_and_nobody_else_does() -> None:
    doc = invited_at_t0()
    fields = {"person": pid("bo"), "constituency": "investor", "display_name": "Bo"}
    doc = cn.request(doc, "req-bo", "application", fields, pid("bo"), stamp(T0))
    at = stamp(T0 + timedelta(days=1))
    with pytest.raises(NotFound):  # a stranger does not see it
        cn.withdraw(doc, "req-ana", person("eve"), REGION, at)
    with pytest.raises(Forbidden):  # the invited person declines instead
        cn.withdraw(doc, "req-ana", person("ana"), REGION, at)
    with pytest.raises(Conflict):  # an application is rejected instead
        cn.withdraw(doc, "req-bo", person("s", "region_admin"), REGION, at)
    new, req = cn.withdraw(doc, "req-ana", person("s", "region_admin"), REGION, at)
    assert (req["status"], req["decided_at"], req["decided_by"]) == ("withdrawn", at, pid("s"))
    with pytest.raises(Conflict):
        cn.answer(new, "req-ana", person("ana"), REGION, "accept", at, mid="m1")
    with pytest.raises(Conflict):  # once
        cn.withdraw(new, "req-ana", person("s", "region_admin"), REGION, at)


# Meetings ----------------------------------------------------------------------------------------------
START = T0 + timedelta(days=7)  # of the meetings below


def meeting(seats: int, clock: Clock) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "title": "M",
        "mode": "online",
        "place": None,
        "timezone": "Europe/Dublin",
        "start": stamp(START),
        "end": stamp(T0 + timedelta(days=7, hours=2)),
        "seats": seats,
        "agenda": [],
    }
    doc, _ = mt.schedule("mtg-1", voters(3), fields, clock.now())
    return doc


EVERYONE = dict.fromkeys(("a", "b", "c"), stamp(T0))  # active members since T0 (``cn.active_since``)


def test_the_last_seat_is_taken_and_the_next_person_waits() -> None:
    clock = Clock()
    doc = meeting(2, clock)
    doc, a = mt.register(doc, "a", EVERYONE, clock.now())
    doc, b = mt.register(doc, "b", EVERYONE, clock.now())  # exactly full
    doc, c = mt.register(doc, "c", EVERYONE, clock.now())  # one over
    assert (a["status"], b["status"], c["status"]) == ("registered", "registered", "waitlisted")
    with pytest.raises(Conflict):
        mt.register(doc, "a", EVERYONE, clock.now())


def test_a_freed_seat_goes_to_the_first_on_the_waitlist() -> None:
    clock = Clock()
    doc = meeting(1, clock)
    for who in ("a", "b", "c"):
        doc, _ = mt.register(doc, who, EVERYONE, clock.now())
    doc, promoted = mt.cancel_registration(doc, "a", EVERYONE, clock.now())
    assert promoted is not None and promoted["person"] == "b" and promoted["promoted_at"] is not None
    assert [r["person"] for r in mt.registered(doc)] == ["b"]
    assert [r["person"] for r in mt.waitlisted(doc)] == ["c"]
    doc, promoted = mt.cancel_registration(doc, "c", EVERYONE, clock.now())  # leaving the waitlist frees no seat
    assert promoted is None and [r["person"] for r in mt.registered(doc)] == ["b"]
    with pytest.raises(NotFound):
        mt.cancel_registration(doc, "c", EVERYONE, clock.now())


def test_a_former_member_is_skipped_on_the_waitlist_and_her_seat_frees() -> None:
    """One seat: a sits, c then b wait. c's membership ends: when a cancels, b (the next active member) is
    promoted, not c; b's seat then counts, c's place does not."""
    clock = Clock()
    doc = meeting(1, clock)
    for who in ("a", "c", "b"):
        doc, _ = mt.register(doc, who, EVERYONE, clock.now())
    without_c = {"a": stamp(T0), "b": stamp(T0)}
    assert [r["person"] for r in mt.waitlisted(doc, without_c)] == ["b"]
    doc, promoted = mt.cancel_registration(doc, "a", without_c, clock.now())
    assert promoted is not None and promoted["person"] == "b"
    assert [(r["person"], r["status"]) for r in doc["registrations"]] == [
        ("a", "cancelled"),
        ("c", "lapsed"),
        ("b", "registered"),
    ]


def test_a_former_members_seat_is_free_for_the_next_and_stays_lapsed_if_she_comes_back() -> None:
    """One seat held by a. Her registration counts under a membership designated at or before it (the
    boundary: exactly then counts; one microsecond later, a membership begun after it, does not). When
    she is no longer a member her seat is free: b takes it, and a's registration stays lapsed."""
    clock = Clock()
    doc = meeting(1, clock)
    doc, reg = mt.register(doc, "a", EVERYONE, clock.now())
    at = datetime.fromisoformat(reg["registered_at"].replace("Z", "+00:00"))
    assert [r["person"] for r in mt.registered(doc, {"a": reg["registered_at"]})] == ["a"]
    assert mt.registered(doc, {"a": stamp(at + timedelta(microseconds=1))}) == []
    only_b = {"b": stamp(T0)}
    assert mt.registered(doc, only_b) == []
    doc, b = mt.register(doc, "b", only_b, clock.now())
    assert b["status"] == "registered"
    back = {**only_b, "a": clock.now()}  # a joins again: her old registration is not a seat
    assert [(r["person"], r["status"]) for r in mt.standing(doc, back)] == [("a", "lapsed"), ("b", "registered")]
    doc, again = mt.register(doc, "a", back, clock.now())  # she registers again: the line, not her old seat
    assert again["status"] == "waitlisted"


def test_rescheduling_bumps_the_sequence_and_more_seats_promote() -> None:
    clock = Clock()
    doc = meeting(1, clock)
    for who in ("a", "b"):
        doc, _ = mt.register(doc, who, EVERYONE, clock.now())
    new, event = mt.reschedule(doc, {"seats": 2}, EVERYONE, clock.now())
    assert (new["sequence"], event.sequence) == (1, 1)
    assert [r["person"] for r in mt.registered(new)] == ["a", "b"]
    with pytest.raises(Unprocessable) as e:  # fewer seats than people registered
        mt.reschedule(new, {"seats": 1}, EVERYONE, clock.now())
    assert e.value.extensions["errors"][0]["field"] == "seats"


def test_a_meeting_needs_a_place_in_a_room_and_a_future_start() -> None:
    clock = Clock()
    doc = meeting(1, clock)
    for fields, field in (
        ({"mode": "in_person"}, "place"),
        ({"end": doc["start"]}, "end"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"start": stamp(T0 - timedelta(hours=1)), "end": stamp(T0)}, "start"),
    ):
        with pytest.raises(Unprocessable) as e:
            mt.reschedule(doc, fields, EVERYONE, clock.now())
        assert e.value.extensions["errors"][0]["field"] == field


def test_a_meeting_starts_before_2038() -> None:
    """The iCalendar VTIMEZONE of a zone is written up to 2038-01-01: a start from then on is refused."""
    clock = Clock()
    doc = meeting(1, clock)
    last = datetime(2038, 1, 1, tzinfo=UTC)
    tick = timedelta(microseconds=1)
    ok = {"start": stamp(last - timedelta(hours=1) - tick), "end": stamp(last - tick)}
    assert mt.reschedule(doc, ok, EVERYONE, clock.now())[0]["start"] == ok["start"]
    at = {"start": stamp(last), "end": stamp(last + timedelta(hours=1))}
    with pytest.raises(Unprocessable) as e:
        mt.reschedule(doc, at, EVERYONE, clock.now())
    assert e.value.extensions["errors"][0]["field"] == "start"


def test_closing_needs_minutes_and_records_attendance_and_quorum() -> None:
    clock = Clock()
    c = voters(3)  # a majority of 3 is 2
    doc = meeting(5, clock)
    clock.t = START  # the meeting has begun: each now() a minute later
    for m in c["members"][:2]:
        doc = mt.check_in(doc, m, clock.now())
    doc = mt.check_in(doc, c["members"][0], clock.now())  # twice: counted once
    for minutes in (None, "   "):
        with pytest.raises(Unprocessable) as e:
            mt.close(doc, c, minutes, [], [], clock.now())
        assert e.value.extensions["errors"][0]["field"] == "minutes"
    item = {"title": "t", "owner": pid("v0"), "due_on": "2027-03-08", "status": "open"}
    held, event = mt.close(doc, c, "Minutes", ["dec-1"], [item], clock.now())
    assert (event.attendees, event.attendance, event.quorum_met, event.action_items) == (2, {"sme": 2}, True, 1)
    assert held["status"] == "held"
    with pytest.raises(Conflict):
        mt.close(held, c, "again", [], [], clock.now())


def test_check_in_opens_60_minutes_before_the_start_and_closing_at_the_start() -> None:
    c = voters(1)
    doc = meeting(5, Clock())
    tick = timedelta(microseconds=1)
    opens = START - timedelta(minutes=60)
    with pytest.raises(Conflict):
        mt.check_in(doc, c["members"][0], stamp(opens - tick))
    assert len(mt.check_in(doc, c["members"][0], stamp(opens))["attendance"]) == 1
    with pytest.raises(Conflict):
        mt.close(doc, c, "Minutes", [], [], stamp(START - tick))
    assert mt.close(doc, c, "Minutes", [], [], stamp(START))[0]["status"] == "held"
    assert mt.close(doc, c, "Minutes", [], [], stamp(START + tick))[0]["status"] == "held"


def late_meeting(tz: str) -> dict[str, Any]:
    """A meeting starting at 2027-03-08T23:30Z: in Rome that is 00:30 on 9 March, in New York 18:30 on 8 March."""
    start = datetime(2027, 3, 8, 23, 30, tzinfo=UTC)
    fields: dict[str, Any] = {"title": "M", "mode": "online", "place": None, "timezone": tz, "agenda": [], "seats": 5}
    fields |= {"start": stamp(start), "end": stamp(start + timedelta(hours=1))}
    doc, _ = mt.schedule("mtg-late", voters(2), fields, stamp(T0))
    return doc


@pytest.mark.parametrize(
    ("tz", "due_on", "refused"),
    [
        ("Europe/Rome", "2027-03-09", False),  # the meeting's day where it is held
        ("Europe/Rome", "2027-03-08", True),  # the day before it there (though its UTC day)
        ("Europe/Rome", "2027-03-10", False),
        ("America/New_York", "2027-03-08", False),
        ("America/New_York", "2027-03-07", True),
    ],
)
def test_an_action_item_is_due_on_the_meetings_day_or_later(tz: str, due_on: str, refused: bool) -> None:
    c, doc = voters(2), late_meeting(tz)
    items = [{"title": "t", "owner": pid("v1"), "due_on": due_on, "status": "open"}]
    if not refused:
        assert mt.close(doc, c, "Minutes", [], items, stamp(datetime(2027, 3, 9, tzinfo=UTC)))[0]["status"] == "held"
        return
    with pytest.raises(Unprocessable) as e:
        mt.close(doc, c, "Minutes", [], items, stamp(datetime(2027, 3, 9, tzinfo=UTC)))
    assert [x["field"] for x in e.value.extensions["errors"]] == ["action_items.0.due_on"]


def test_an_action_item_is_owned_by_an_active_member() -> None:
    c = voters(2)
    c, _ = cn.end(c, "mem-1-v1", "resigned", stamp(T0))
    doc = late_meeting("Europe/Rome")
    items = [
        {"title": "a", "owner": pid("v0"), "due_on": "2027-03-09", "status": "open"},  # a member: fine
        {"title": "b", "owner": pid("v1"), "due_on": "2027-03-09", "status": "open"},  # resigned
        {"title": "c", "owner": pid("nobody"), "due_on": "2027-03-01", "status": "open"},  # never one, and early
    ]
    with pytest.raises(Unprocessable) as e:
        mt.close(doc, c, "Minutes", [], items, stamp(datetime(2027, 3, 9, tzinfo=UTC)))
    assert [x["field"] for x in e.value.extensions["errors"]] == [
        "action_items.1.owner",
        "action_items.2.owner",
        "action_items.2.due_on",
    ]


def test_drafted_minutes_close_a_meeting() -> None:
    clock = Clock()
    doc = {**meeting(5, clock), "draft_minutes": "Draft"}
    clock.t = START
    held, _ = mt.close(doc, voters(3), None, [], [], clock.now())
    assert held["minutes"] == "Draft" and held["draft_minutes"] is None


def test_a_cancelled_meeting_carries_a_higher_sequence_and_takes_no_registration() -> None:
    clock = Clock()
    doc, event = mt.cancel(meeting(5, clock), "strike", clock.now())
    assert (doc["status"], doc["sequence"], event.reason) == ("cancelled", 1, "strike")
    with pytest.raises(Conflict):
        mt.register(doc, "a", EVERYONE, clock.now())


# Decisions ---------------------------------------------------------------------------------------------
def decision(method: str = "endorsement", options: list[str] | None = None) -> dict[str, Any]:
    fields = {"title": "Launch", "method": method, "options": options, "initiative_id": "ini-1"}
    return dc.open_decision("dec-1", council(), fields, pid("sec"), stamp(T0))


def test_a_vote_changes_while_open_and_is_refused_after_close() -> None:
    clock = Clock()
    doc = dc.vote(decision(), "a", "object", "too early", clock.now())
    doc = dc.vote(doc, "b", "endorse", None, clock.now())
    doc = dc.vote(doc, "a", "endorse", "convinced", clock.now())  # changed: still one vote of hers
    assert dc.tally(doc) == {"endorse": 2, "object": 0, "abstain": 0}
    assert [v["reason"] for v in doc["votes"] if v["person"] == "a"] == ["convinced"]
    closed = dc.close(doc, "Endorsed", "endorse", "2027-09-01", "sec", clock.now())
    assert closed["state"] == "closed" and dc.label("closed", "it") == "Chiusa"
    with pytest.raises(Conflict):
        dc.vote(closed, "a", "object", None, clock.now())
    assert dc.launches(closed, "ini-1") and not dc.launches(closed, "ini-2")


def test_votes_and_outcomes_name_an_option() -> None:
    with pytest.raises(Unprocessable):
        dc.vote(decision(), "a", "maybe", None, stamp(T0))
    with pytest.raises(Unprocessable):
        dc.close(decision(), "s", "maybe", None, "sec", stamp(T0))
    with pytest.raises(Unprocessable):
        decision("vote", ["yes"])
    with pytest.raises(Unprocessable):
        dc.close(decision(), "s", "endorse", "2027-02-28", "sec", stamp(T0))  # review before today
    rejected = dc.close(decision(), "No", "object", None, "sec", stamp(T0))
    assert not dc.launches(rejected, "ini-1")


# Initiatives -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("votes", "refused"),
    [
        ([], True),  # no vote at all
        (["abstain"], True),  # a vote, but none for it: 0 for, 0 against
        (["endorse", "object"], True),  # a tie: 1 for, 1 against
        (["endorse", "endorse", "object"], False),  # one more for than against
        (["endorse"], False),  # the least that launches
        (["endorse", "abstain", "abstain"], False),  # abstentions count for neither
        (["endorse", "object", "object"], True),
    ],
)
def test_a_launch_needs_a_vote_and_more_for_than_against(votes: list[str], refused: bool) -> None:
    doc = decision()
    for n, option in enumerate(votes):
        doc = dc.vote(doc, f"p{n}", option, None, stamp(T0))
    doc = dc.close(doc, "s", "endorse", None, "sec", stamp(T0))
    assert (dc.launch_refusal(doc) is not None) is refused


def test_a_yes_no_vote_launches_on_more_yes_than_no() -> None:
    doc = decision("vote", ["yes", "no"])
    for n, option in enumerate(["yes", "no", "yes", "no"]):
        doc = dc.vote(doc, f"p{n}", option, None, stamp(T0))
    assert dc.launch_refusal(dc.close(doc, "s", "yes", None, "sec", stamp(T0))) is not None  # 2 against 2
    doc = dc.vote(doc, "p4", "yes", None, stamp(T0))
    assert dc.launch_refusal(dc.close(doc, "s", "yes", None, "sec", stamp(T0))) is None  # 3 against 2


def proposed(*sponsors: tuple[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "title": "T",
        "summary": "S",
        "co_sponsors": [{"council_id": c, "region": r} for c, r in sponsors],
    }
    doc, _ = ini.propose("ini-1", council(), fields, pid("a"), stamp(T0))
    return doc


@pytest.mark.parametrize(
    ("sponsors", "regions", "cross"),
    [
        ((), ["IE05"], False),
        ((("cnl-x", "IE05"),), ["IE05"], False),
        ((("cnl-b", "ITH5"),), ["IE05", "ITH5"], True),
    ],
)
def test_cross_border_when_the_countries_differ(sponsors: Any, regions: list[str], cross: bool) -> None:
    doc = proposed(*sponsors)
    assert (doc["regions"], doc["cross_border"]) == (regions, cross)


def test_two_regions_of_one_country_are_not_cross_border() -> None:
    assert ini.cross_border(["ES30", "ES61"]) is False and ini.cross_border(["ES61", "TR10"]) is True


def test_the_lead_council_is_not_its_own_co_sponsor() -> None:
    with pytest.raises(Unprocessable):
        proposed(("cnl-1", "IE05"))
    with pytest.raises(Unprocessable):
        proposed(("cnl-b", "ITH5"), ("cnl-b", "ITH5"))


@pytest.mark.parametrize(
    ("steps", "refused"),
    [
        ([], "complete"),  # proposed -> completed skips the launch
        ([], "abandon"),
        (["launch"], "launch"),
        (["launch", "complete"], "abandon"),
        (["launch", "abandon"], "complete"),
    ],
)
def test_invalid_transitions_are_conflicts(steps: list[str], refused: str) -> None:
    def do(doc: dict[str, Any], step: str) -> dict[str, Any]:
        if step == "launch":
            return ini.launch(doc, "dec-1", stamp(T0))[0]
        return ini.end(doc, "completed" if step == "complete" else "abandoned", "no funds", stamp(T0))[0]

    doc = proposed()
    for s in steps:
        doc = do(doc, s)
    with pytest.raises(Conflict):
        do(doc, refused)


def test_abandoning_needs_a_reason_and_progress_needs_an_active_initiative() -> None:
    doc = proposed()
    with pytest.raises(Conflict):
        ini.report_progress(doc, [], [], 10)
    active, launched = ini.launch(doc, "dec-1", stamp(T0))
    assert launched.cross_border is False and launched.decision_id == "dec-1"
    assert ini.report_progress(active, [], [], 40)["progress"] == 40
    for reason in (None, "  "):
        with pytest.raises(Problem) as e:
            ini.end(active, "abandoned", reason, stamp(T0))
        assert e.value.status == 422
    done, event = ini.end(active, "completed", "ignored", stamp(T0))
    assert (done["progress"], event.outcome, event.reason) == (100, "completed", None)
