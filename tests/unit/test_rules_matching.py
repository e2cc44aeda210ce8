"""Round, fit and match rules on small cases worked by hand: optimal mode really optimises (and breaks
ties by the supervisor's list), the last place of a supervisor, hosts ranking over several challenges,
documents read with every field set, and the match's stored form with a comment and a reason."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from clustergrowth.context import stamp
from clustergrowth.problems import Conflict
from services.matching.domain import fit
from services.matching.domain import match as mx
from services.matching.domain import round as rd

T0 = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)


def ch(cid: str, host: str, capacity: int = 1, **over: Any) -> fit.Challenge:
    base: dict[str, Any] = {
        "id": cid,
        "programme": "consultancy",
        "region": "IE05",
        "work_mode": "remote",
        "skills": frozenset(),
        "languages": frozenset({"en"}),
        "starts_on": date(2027, 2, 1),
        "ends_on": date(2027, 3, 2),
        "capacity": capacity,
        "host": host,
    }
    return fit.Challenge(**{**base, **over})


def cand(pid: str, *prefs: str, **over: Any) -> fit.Candidate:
    base: dict[str, Any] = {
        "id": pid,
        "programme": "consultancy",
        "region": "IE05",
        "skills": frozenset(),
        "languages": frozenset({"en"}),
        "available_from": date(2027, 1, 1),
        "available_until": date(2027, 6, 30),
        "cross_border": False,
        "preferences": prefs,
    }
    return fit.Candidate(**{**base, **over})


# -- round: allocate ---------------------------------------------------------------------------


def test_optimal_mode_matches_more_than_stable_where_stability_costs_a_place() -> None:
    # s1 ranks a then b, s2 ranks only a; a's host prefers s1.
    # Stable: s1 keeps a (both prefer it), s2 is left out. Optimal: s1 on b, s2 on a (two matched).
    challenges = [ch("a", "h-a", ranking=("s1", "s2")), ch("b", "h-b")]
    people = [cand("s1", "a", "b"), cand("s2", "a")]
    hosts = {"h-a": 1, "h-b": 1}
    st = rd.allocate(challenges, people, hosts, frozenset(), "stable")
    assert (st.assignments, st.unassigned) == ([{"student": "s1", "project": "a"}], ["s2"])
    op = rd.allocate(challenges, people, hosts, frozenset(), "optimal")
    assert op.assignments == [{"student": "s1", "project": "b"}, {"student": "s2", "project": "a"}]
    assert op.unassigned == []


@pytest.mark.parametrize("favourite", ["s1", "s2"])
def test_optimal_mode_gives_a_place_among_equals_to_the_hosts_favourite(favourite: str) -> None:
    other = "s2" if favourite == "s1" else "s1"
    challenges = [ch("a", "h", ranking=(favourite, other))]
    out = rd.allocate(challenges, [cand("s1", "a"), cand("s2", "a")], {"h": 1}, frozenset(), "optimal")
    assert (out.assignments, out.unassigned) == ([{"student": favourite, "project": "a"}], [other])


def test_a_candidate_eligible_for_nothing_is_told_so() -> None:
    abroad = cand("s9", languages=frozenset({"it"}))
    out = rd.allocate([ch("a", "h")], [cand("s1", "a"), abroad], {"h": 1}, frozenset(), "stable")
    assert out.unassigned == ["s9"]
    assert out.explanations[-1] == {
        "student": "s9",
        "project": None,
        "rank": None,
        "why_not": [],
        "preferences_from": rd.NOTHING_ELIGIBLE,
    }
    assert out.explanations[0]["project"] == "a" and out.explanations[0]["fit"] == 1.0


def test_a_supervisor_with_exactly_one_place_left_is_offered() -> None:
    doc = {
        "_id": "a",
        "programme": "consultancy",
        "region": "IE05",
        "work_mode": "remote",
        "skills": [],
        "languages": ["en"],
        "starts_on": "2027-02-01",
        "ends_on": "2027-05-15",
        "capacity": 3,
        "supervisor": "p-prof",
    }
    held = rd.Held.of([{"challenge_id": "other", "candidate": "s7", "host": "p-prof"}])
    offered, hosts = rd.offer([doc], {"p-prof": {"supervision_capacity": 2}}, held)
    assert ([c.id for c in offered], hosts) == (["a"], {"p-prof": 1})
    full = rd.Held.of([{"challenge_id": "other", "candidate": f"s{i}", "host": "p-prof"} for i in (7, 8)])
    assert rd.offer([doc], {"p-prof": {"supervision_capacity": 2}}, full) == ([], {})


def test_a_match_id_is_m_and_twenty_hex_digits_per_round_and_candidate() -> None:
    ids = {rd.match_id(r, c) for r in ("r1", "r2") for c in ("s1", "s2")}
    assert len(ids) == 4
    assert all(re.fullmatch(r"m-[0-9a-f]{20}", x) for x in ids), ids
    assert rd.match_id("r1", "s1") == rd.match_id("r1", "s1")


def test_a_second_round_while_one_is_proposing_is_refused_with_the_reason() -> None:
    with pytest.raises(Conflict) as e:
        rd.next_id("consultancy", "2027-spring", [{"status": "proposing"}])
    assert e.value.detail == "a round for this programme and term is still writing its proposals; try again shortly"


def test_a_proposal_on_an_sme_hosted_challenge_is_hosted_by_the_challenge() -> None:
    rnd = {
        "_id": "r1",
        "programme": "change_of_perspective",
        "term": "2027-spring",
        "mode": "stable",
        "run_at": stamp(T0),
        "expires_at": stamp(T0 + timedelta(hours=48)),
        "assignments": [{"student": "p1", "project": "c9"}],
        "explanations": [{"student": "p1", "rank": 2}],
    }
    challenge = {"_id": "c9", "title": "T", "region": "ITH5", "ip_template": "open", "supervisor": None}
    person = {"_id": "p1", "home_region": "IE05"}
    ((m, _),) = rd.proposals(rnd, {"c9": challenge}, {"p1": person})
    assert (m.host, m.supervisor, m.preference_rank) == ("host:c9", None, 2)


# -- fit: documents and the instance -----------------------------------------------------------


def test_a_candidate_document_is_read_with_every_field() -> None:
    doc = {
        "_id": "p1",
        "kind": "academic",
        "home_region": "ITH5",
        "skills": ["Data Analysis", "CAD"],
        "languages": ["it", "en"],
        "available_from": "2027-01-01",
        "available_until": "2027-06-30",
        "cross_border": True,
        "preferences": ["c2", "c1"],
    }
    assert fit.Candidate.of(doc) == fit.Candidate(
        id="p1",
        programme="change_of_perspective",
        region="ITH5",
        skills=frozenset({"data analysis", "cad"}),
        languages=frozenset({"it", "en"}),
        available_from=date(2027, 1, 1),
        available_until=date(2027, 6, 30),
        cross_border=True,
        preferences=("c2", "c1"),
    )
    assert fit.Candidate.of({**doc, "kind": "student"}).programme == "consultancy"


def test_a_challenge_document_is_read_with_every_field() -> None:
    doc = {
        "_id": "c1",
        "programme": "consultancy",
        "region": "IE05",
        "work_mode": "hybrid",
        "skills": ["Data Analysis", "cad"],
        "languages": ["en"],
        "starts_on": "2027-02-01",
        "ends_on": "2027-05-15",
        "supervisor": "p-prof",
        "applicant_ranking": ["p2", "p1"],
    }
    assert fit.Challenge.of(doc, 2) == fit.Challenge(
        id="c1",
        programme="consultancy",
        region="IE05",
        work_mode="hybrid",
        skills=frozenset({"data analysis", "cad"}),
        languages=frozenset({"en"}),
        starts_on=date(2027, 2, 1),
        ends_on=date(2027, 5, 15),
        capacity=2,
        host="p-prof",
        ranking=("p2", "p1"),
    )


def test_mixed_case_skills_match_whatever_the_case_either_side_wrote() -> None:
    c = fit.Challenge.of(
        {
            "_id": "c1",
            "programme": "consultancy",
            "region": "IE05",
            "work_mode": "remote",
            "skills": ["Data Analysis", "CAD"],
            "languages": ["en"],
            "starts_on": "2027-02-01",
            "ends_on": "2027-03-02",
        },
        1,
    )
    p = fit.Candidate.of(
        {
            "_id": "p1",
            "kind": "student",
            "home_region": "IE05",
            "skills": ["data analysis", "Cad"],
            "languages": ["en"],
            "available_from": "2027-01-01",
            "available_until": "2027-06-30",
            "cross_border": False,
        }
    )
    assert fit.fit(c, p) == 1.0  # both skills, whole calendar, home region


def test_the_instance_carries_regions_and_a_host_nobody_applied_to() -> None:
    data, _ = fit.instance(
        [ch("a", "h1"), ch("b", "h2", region="ITH5")], [cand("s1", "a", region="FR10")], {"h1": 1, "h2": 2}
    )
    assert data == {
        "students": [{"id": "s1", "preferences": ["a"], "region": "FR10"}],
        "projects": [
            {"id": "a", "capacity": 1, "supervisor": "h1", "region": "IE05"},
            {"id": "b", "capacity": 1, "supervisor": "h2", "region": "ITH5"},
        ],
        "supervisors": [
            {"id": "h1", "capacity": 1, "preferences": ["s1"]},
            {"id": "h2", "capacity": 2, "preferences": []},
        ],
    }


def test_a_host_of_two_challenges_ranks_each_candidate_by_their_best_position() -> None:
    # a's list: p2, p1; b's list: p1, p3, p2. Best positions: p1 0 (on b), p2 0 (on a), p3 1 (on b)
    challenges = [ch("a", "h", ranking=("p2", "p1")), ch("b", "h", ranking=("p1", "p3", "p2"))]
    people = [cand(p, "a", "b") for p in ("p1", "p2", "p3")]
    data, _ = fit.instance(challenges, people, {"h": 3})
    assert data["supervisors"] == [{"id": "h", "capacity": 3, "preferences": ["p1", "p2", "p3"]}]


# -- match: proposals, milestones, the stored form ---------------------------------------------


def proposal(**over: Any) -> mx.Match:
    m = mx.Match(
        id="m-1",
        round_id="r1",
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
        ip_template="open",
        proposed_at=stamp(T0),
        expires_at=stamp(T0 + timedelta(hours=48)),
        preference_rank=1,
    )
    return replace(m, **over)


@pytest.mark.parametrize(
    ("over", "status"),
    [
        ({"responses": mx.BothSides("accepted", None)}, "proposed"),  # the candidate answered already
        ({"responses": mx.BothSides(None, "accepted")}, "proposed"),  # the host answered already
        ({"status": "expired"}, "expired"),  # nobody answered, but it is no longer a proposal
    ],
)
def test_only_a_fresh_unanswered_proposal_is_proposed(over: dict[str, Any], status: str) -> None:
    with pytest.raises(Conflict) as e:
        mx.propose(proposal(**over), "stable")
    assert e.value.detail == f"the match is {status}, not a new proposal"
    _, [event] = mx.propose(proposal(), "stable")
    assert event.name == "MatchProposed"


def test_marking_the_second_milestone_done_leaves_the_first_alone() -> None:
    m, _ = mx.accept(proposal(responses=mx.BothSides("accepted", None)), "host", NOW)
    m, _ = mx.add_milestone(m, "host", "kick-off", "2027-02-01")
    m, _ = mx.add_milestone(m, "host", "report", "2027-03-01")
    m, _ = mx.milestone_done(m, "candidate", 2, NOW)
    assert m.milestones == (
        mx.Milestone(1, "kick-off", "2027-02-01", None),
        mx.Milestone(2, "report", "2027-03-01", stamp(NOW)),
    )


def test_a_rating_with_a_comment_and_a_declined_reason_survive_the_stored_form() -> None:
    m, _ = mx.accept(proposal(responses=mx.BothSides("accepted", None)), "host", NOW)
    m, _ = mx.complete(m, "host", NOW)
    m, _ = mx.rate(m, "candidate", NOW, score=5, comment="great team", by="p-stu")
    doc = m.to_doc()
    assert doc["ratings"]["candidate"] == {"score": 5, "comment": "great team", "by": "p-stu", "at": stamp(NOW)}
    assert mx.Match.of(doc) == m
    d, _ = mx.decline(proposal(), "host", NOW, reason="no capacity this term")
    ddoc = d.to_doc()
    assert ddoc["reason"] == "no capacity this term"
    back = mx.Match.of(ddoc)
    assert (back, back.reason, back.declined) == (d, "no capacity this term", True)
