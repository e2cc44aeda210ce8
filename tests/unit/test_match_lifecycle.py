"""The match lifecycle as a state machine, without I/O: every legal transition and the events it emits,
every illegal one and the Problem it raises (status and words as the API answers them), and the
proposal's deadline to the microsecond with an injected ``now``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from clustergrowth.context import stamp
from clustergrowth.problems import Conflict, Forbidden, NotFound, Problem
from contracts import matching as ev
from services.matching.domain import match as mx

T0 = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
DEADLINE = T0 + timedelta(hours=48)
BEFORE = DEADLINE - timedelta(microseconds=1)
NOW = T0 + timedelta(hours=1)
US = timedelta(microseconds=1)
KEYS = {
    "match_id": "m-1",
    "round_id": "consultancy-2027-spring-r1",
    "challenge_id": "ch-a",
    "candidate": "p-stu",
    "programme": "consultancy",
    "region": "IE05",
    "candidate_region": "IE05",
}


def proposal(**over: Any) -> mx.Match:
    m = mx.Match(
        id="m-1",
        round_id="consultancy-2027-spring-r1",
        challenge_id="ch-a",
        challenge_title="Energy audit",
        programme="consultancy",
        term="2027-spring",
        candidate="p-stu",
        candidate_region="IE05",
        organisation="IE05:rubicon",
        supervisor="p-prof",
        host="p-prof",
        region="IE05",
        ip_template="nda-portfolio-safe",
        proposed_at=stamp(T0),
        expires_at=stamp(DEADLINE),
        preference_rank=1,
    )
    return replace(m, **over)


def active(milestones: int = 0) -> mx.Match:
    m, _ = mx.accept(proposal(responses=mx.BothSides("accepted", None)), "host", NOW)
    for i in range(milestones):
        m, _ = mx.add_milestone(m, "host", f"step {i + 1}", "2027-03-01")
    return m


def completed() -> mx.Match:
    return mx.complete(active(), "host", NOW)[0]


def declined() -> mx.Match:
    return mx.decline(proposal(), "candidate", NOW)[0]


def expired() -> mx.Match:
    return mx.expire(proposal(), DEADLINE)[0]


def rated_by(side: mx.Side) -> mx.Match:
    return mx.rate(completed(), side, NOW, score=4, comment=None, by="p-x")[0]


STATES: dict[str, Callable[[], mx.Match]] = {
    "proposed": proposal,
    "active": active,
    "declined": declined,
    "expired": expired,
    "completed": completed,
}


def raises(kind: type[Problem], status: int, words: str, step: Callable[[], object]) -> None:
    with pytest.raises(kind) as e:
        step()
    assert e.value.status == status
    assert e.value.detail == words


# --- legal transitions and their events ---------------------------------------------------------------
@pytest.mark.parametrize(("first", "second"), [("candidate", "host"), ("host", "candidate")])
def test_a_proposal_becomes_active_when_both_sides_accept_in_either_order(first: mx.Side, second: mx.Side) -> None:
    one, events = mx.accept(proposal(), first, NOW)
    assert one.status == "proposed" and one.responses.of(first) == "accepted" and one.responses.of(second) is None
    assert events == [] and one.accepted_at is None
    later = NOW + timedelta(minutes=5)
    both, events = mx.accept(one, second, later)
    assert both.status == "active" and both.accepted_at == stamp(later)
    assert both.responses == mx.BothSides("accepted", "accepted")
    assert events == [ev.MatchAccepted(**KEYS, accepted_at=stamp(later))]


@pytest.mark.parametrize("side", ["candidate", "host"])
def test_either_side_declines_and_the_proposal_ends(side: mx.Side) -> None:
    new, events = mx.decline(proposal(), side, NOW, "exam clash")
    assert new.status == "declined" and new.responses.of(side) == "declined" and new.reason == "exam clash"
    assert events == [ev.MatchDeclined(**KEYS, declined_by=side, reason="exam clash")]


def test_a_side_may_decline_after_the_other_accepted() -> None:
    new, events = mx.decline(proposal(responses=mx.BothSides("accepted", None)), "host", NOW)
    assert new.status == "declined" and new.responses == mx.BothSides("accepted", "declined")
    assert events == [ev.MatchDeclined(**KEYS, declined_by="host", reason=None)]


@pytest.mark.parametrize(
    ("responses", "answered_by"),
    [((None, None), []), (("accepted", None), ["candidate"]), ((None, "accepted"), ["host"])],
)
def test_a_lapsed_proposal_expires_naming_who_had_accepted(
    responses: tuple[str | None, str | None], answered_by: list[str]
) -> None:
    later = DEADLINE + timedelta(days=2)
    new, events = mx.expire(proposal(responses=mx.BothSides(*responses)), later)
    assert new.status == "expired" and new.expired_at == stamp(later)
    assert events == [ev.MatchExpired(**KEYS, expired_at=stamp(DEADLINE), answered_by=answered_by)]  # type: ignore[arg-type]


def test_milestones_are_planned_by_the_host_numbered_and_done_by_either_side_once() -> None:
    m, events = mx.add_milestone(active(), "host", "Baseline", "2027-03-01")
    assert events == [] and m.milestones == (mx.Milestone(1, "Baseline", "2027-03-01"),)
    m, _ = mx.add_milestone(m, "host", "Report", "2027-05-01")
    assert [x.n for x in m.milestones] == [1, 2]
    done, events = mx.milestone_done(m, "candidate", 2, NOW)
    assert events == [] and done.milestones[1].done_at == stamp(NOW) and done.milestones[0].done_at is None
    again, _ = mx.milestone_done(done, "host", 2, NOW + timedelta(days=1))
    assert again.milestones[1].done_at == stamp(NOW)  # the first time is kept


def test_the_host_completes_with_the_milestones_counted() -> None:
    m = mx.milestone_done(active(milestones=3), "host", 2, NOW)[0]
    later = NOW + timedelta(days=90)
    new, events = mx.complete(m, "host", later)
    assert new.status == "completed" and new.completed_at == stamp(later)
    assert events == [ev.EngagementCompleted(**KEYS, completed_at=stamp(later), milestones=3, milestones_done=1)]


def test_each_side_rates_once() -> None:
    m, events = mx.rate(completed(), "host", NOW, score=5, comment=None, by="p-prof")
    assert m.ratings.host == mx.Rating(5, None, "p-prof", stamp(NOW)) and m.ratings.candidate is None
    assert events == [ev.EngagementRated(**KEYS, rated_by="host", score=5)]
    m, events = mx.rate(m, "candidate", NOW, score=4, comment="great", by="p-stu")
    assert m.ratings.candidate == mx.Rating(4, "great", "p-stu", stamp(NOW)) and m.status == "completed"
    assert events == [ev.EngagementRated(**KEYS, rated_by="candidate", score=4)]


def test_a_proposal_announces_itself() -> None:
    m = proposal()
    assert mx.propose(m, "stable") == (
        m,
        [ev.MatchProposed(**KEYS, mode="stable", preference_rank=1, expires_at=stamp(DEADLINE))],
    )
    raises(Conflict, 409, "the match is active, not a new proposal", lambda: mx.propose(active(), "stable"))


# --- the deadline, to the microsecond ------------------------------------------------------------------
def test_the_deadline_itself_is_too_late_and_one_microsecond_before_is_in_time() -> None:
    m = proposal()
    assert not m.lapsed(BEFORE) and m.lapsed(DEADLINE) and m.lapsed(DEADLINE + US)
    assert mx.accept(m, "candidate", BEFORE)[0].responses.candidate == "accepted"
    assert mx.decline(m, "host", BEFORE)[0].status == "declined"
    late = "the proposal expired at " + stamp(DEADLINE)
    raises(mx.ProposalExpired, 409, late, lambda: mx.accept(m, "candidate", DEADLINE))
    raises(mx.ProposalExpired, 409, late, lambda: mx.decline(m, "host", DEADLINE))
    assert isinstance(mx.ProposalExpired(m), Conflict)
    # the second acceptance in time makes it active, and an active match never lapses
    one = mx.accept(m, "candidate", BEFORE - US)[0]
    both = mx.accept(one, "host", BEFORE)[0]
    assert both.status == "active" and not both.lapsed(DEADLINE + timedelta(days=30))


def test_a_proposal_expires_at_its_deadline_not_a_microsecond_before() -> None:
    raises(Conflict, 409, f"the proposal is open until {stamp(DEADLINE)}", lambda: mx.expire(proposal(), BEFORE))
    assert mx.expire(proposal(), DEADLINE)[0].status == "expired"


# --- illegal transitions --------------------------------------------------------------------------------
STEPS: dict[str, tuple[str, Callable[[mx.Match], object]]] = {
    # name: (the status it needs, the step by a side that may take it)
    "accept": ("proposed", lambda m: mx.accept(m, "candidate", NOW)),
    "decline": ("proposed", lambda m: mx.decline(m, "candidate", NOW)),
    "expire": ("proposed", lambda m: mx.expire(m, DEADLINE)),
    "add_milestone": ("active", lambda m: mx.add_milestone(m, "host", "Baseline", "2027-03-01")),
    "milestone_done": ("active", lambda m: mx.milestone_done(m, "host", 1, NOW)),
    "complete": ("active", lambda m: mx.complete(m, "host", NOW)),
    "rate": ("completed", lambda m: mx.rate(m, "host", NOW, score=3, comment=None, by="p-prof")),
}


@pytest.mark.parametrize("state", sorted(STATES))
@pytest.mark.parametrize("step", sorted(STEPS))
def test_every_step_from_a_status_it_does_not_leave_is_409_and_the_rest_are_allowed(state: str, step: str) -> None:
    needs, take = STEPS[step]
    m = STATES[state]()
    if step == "milestone_done" and state == "active":
        m = active(milestones=1)
    if state == needs:
        take(m)  # allowed
    else:
        raises(Conflict, 409, f"the match is {state}, not {needs}", lambda: take(m))


ONLY_HOST = "only the host side of this match may do this"
EITHER = "only the candidate or host side of this match may do this"


@pytest.mark.parametrize(
    ("words", "step"),
    [
        (EITHER, lambda: mx.accept(proposal(), None, NOW)),
        (EITHER, lambda: mx.decline(proposal(), None, NOW)),
        (ONLY_HOST, lambda: mx.add_milestone(active(), "candidate", "Baseline", "2027-03-01")),
        (ONLY_HOST, lambda: mx.add_milestone(active(), None, "Baseline", "2027-03-01")),
        (EITHER, lambda: mx.milestone_done(active(milestones=1), None, 1, NOW)),
        (ONLY_HOST, lambda: mx.complete(active(), "candidate", NOW)),
        (ONLY_HOST, lambda: mx.complete(active(), None, NOW)),
        (EITHER, lambda: mx.rate(completed(), None, NOW, score=3, comment=None, by="p-x")),
    ],
)
def test_the_wrong_side_is_403_whatever_the_status(words: str, step: Callable[[], object]) -> None:
    raises(Forbidden, 403, words, step)


def test_the_side_is_checked_before_the_status() -> None:
    raises(Forbidden, 403, ONLY_HOST, lambda: mx.complete(proposal(), "candidate", NOW))
    raises(Forbidden, 403, EITHER, lambda: mx.accept(active(), None, NOW))


@pytest.mark.parametrize("side", ["candidate", "host"])
def test_a_side_answers_once(side: mx.Side) -> None:
    accepted = mx.accept(proposal(), side, NOW)[0]
    twice = f"the {side} side has already answered"
    raises(Conflict, 409, twice, lambda: mx.accept(accepted, side, NOW))
    raises(Conflict, 409, twice, lambda: mx.decline(accepted, side, NOW))


@pytest.mark.parametrize("side", ["candidate", "host"])
def test_a_side_rates_once(side: mx.Side) -> None:
    raises(
        Conflict,
        409,
        f"the {side} side has already rated this engagement",
        lambda: mx.rate(rated_by(side), side, NOW, score=1, comment=None, by="p-x"),
    )


def test_an_engagement_has_at_most_50_milestones() -> None:
    full = active(milestones=50)
    assert len(full.milestones) == mx.MAX_MILESTONES == 50
    raises(
        Conflict,
        409,
        "an engagement has at most 50 milestones",
        lambda: mx.add_milestone(full, "host", "one more", "2027-03-01"),
    )


@pytest.mark.parametrize("n", [0, 3, -1])
def test_a_milestone_that_does_not_exist_is_404(n: int) -> None:
    raises(NotFound, 404, f"no milestone {n} in match m-1", lambda: mx.milestone_done(active(2), "host", n, NOW))


def test_completing_twice_is_409() -> None:
    raises(Conflict, 409, "the match is completed, not active", lambda: mx.complete(completed(), "host", NOW))


# --- values -----------------------------------------------------------------------------------------------
def test_transitions_leave_their_input_unchanged() -> None:
    m = active(milestones=1)
    before = m.to_doc()
    mx.milestone_done(m, "host", 1, NOW)
    mx.add_milestone(m, "host", "more", "2027-04-01")
    mx.complete(m, "host", NOW)
    assert m.to_doc() == before
    with pytest.raises(AttributeError):
        m.status = "completed"  # type: ignore[misc]


@pytest.mark.parametrize("state", [*sorted(STATES), "rated"])
def test_the_stored_form_reads_back_to_the_same_value(state: str) -> None:
    m = rated_by("candidate") if state == "rated" else STATES[state]()
    assert mx.Match.of(m.to_doc()) == m


def test_the_stored_form_has_optional_fields_only_once_set() -> None:
    fresh = proposal().to_doc()
    assert not {"accepted_at", "expired_at", "completed_at", "reason"} & fresh.keys()
    assert fresh["responses"] == {"candidate": None, "host": None}
    assert fresh["ratings"] == {"candidate": None, "host": None} and fresh["milestones"] == []
    assert declined().to_doc()["reason"] is None  # declined without a reason: stored as null
    assert expired().to_doc()["expired_at"] == stamp(DEADLINE)
    done = rated_by("host").to_doc()
    assert done["accepted_at"] == done["completed_at"] == stamp(NOW)
    assert done["ratings"]["host"] == {"score": 4, "comment": None, "by": "p-x", "at": stamp(NOW)}
