"""Challenge rules as pure calls: who manages a challenge (each side of the "or" alone), the posted
event's payload, publishing a draft, the suggested draft at its threshold, and the exact 403/409/422
answers of the ranking checks."""

from __future__ import annotations

from typing import Any

import pytest

from clustergrowth.auth import Principal
from clustergrowth.problems import Conflict, Forbidden, Unprocessable
from services.matching.domain.challenge import (
    check_applicants,
    check_preferences,
    kind_for,
    manages,
    post,
    programme_for,
    publish,
    require_ranker,
    suggestion,
    visible,
)
from services.matching.reads import Assessed

COORD = Principal("coord", frozenset({"region_admin"}), "IE05", org="AGENCY")
OWNER = Principal("owner", frozenset({"sme"}), "IE05", org="ACME")
COLLEAGUE = Principal("colleague", frozenset({"sme"}), "IE05", org="ACME")
STRANGER = Principal("stranger", frozenset({"sme"}), "IE05", org="OTHER")
LONER = Principal("loner", frozenset({"sme"}), "IE05")  # no organisation
NOW = "2026-11-26T10:00:00.000000Z"


def test_each_way_of_managing_a_challenge_is_enough_on_its_own() -> None:
    doc = {"status": "draft", "created_by": LONER.id, "organisation": "ACME"}
    assert manages(COORD, doc)  # the coordinator, who did not post it and is of another organisation
    assert manages(LONER, doc)  # the poster, who has no organisation and is no coordinator
    assert manages(COLLEAGUE, doc)  # the organisation, not the poster
    assert not manages(STRANGER, doc)
    assert not manages(LONER, {"status": "draft", "created_by": None, "organisation": None})
    assert (visible(STRANGER, doc), visible(LONER, doc)) == (False, True)
    assert visible(STRANGER, {**doc, "status": "open"})


def test_the_programme_and_the_kind_of_candidate_go_both_ways() -> None:
    assert (kind_for("consultancy"), kind_for("change_of_perspective")) == ("student", "academic")
    assert (programme_for("student"), programme_for("academic")) == ("consultancy", "change_of_perspective")


FIELDS: dict[str, Any] = {
    "programme": "consultancy",
    "region": "IE05",
    "term": "2027-spring",
    "work_mode": "hybrid",
    "skills": ["finance"],
    "capacity": 3,
    "ip_template": "open",
    "sme_id": "sme-7",
    "title": "Cash-flow forecasting",
    "languages": ["en"],
    "starts_on": "2027-02-01",
    "ends_on": "2027-05-28",
}


def test_posting_stamps_the_poster_and_the_event_carries_the_sme_and_organisation() -> None:
    doc, event = post("c1", FIELDS, OWNER, NOW)
    assert doc == {
        "_id": "c1",
        **FIELDS,
        "status": "open",
        "organisation": "ACME",
        "created_by": OWNER.id,
        "posted_at": NOW,
        "applicant_ranking": [],
        "suggested_from": None,
    }
    assert event.model_dump() == {
        "challenge_id": "c1",
        "programme": "consultancy",
        "sme_id": "sme-7",
        "organisation": "ACME",
        "region": "IE05",
        "term": "2027-spring",
        "work_mode": "hybrid",
        "skills": ["finance"],
        "capacity": 3,
        "ip_template": "open",
        "suggested_from": None,
        "title": "Cash-flow forecasting",
        "languages": ["en"],
        "starts_on": "2027-02-01",
        "ends_on": "2027-05-28",
    }


DRAFT: dict[str, Any] = {
    "_id": "draft-a1",
    "programme": "consultancy",
    "status": "draft",
    "region": "IE05",
    "sme_id": "sme-7",
    "organisation": "ACME",
    "created_by": None,
    "suggested_from": "a1",
    "skills": ["finance"],
}


def test_publishing_a_draft_records_when_and_by_whom() -> None:
    body = {"term": "2027-spring", "work_mode": "remote", "capacity": 2, "ip_template": "open"}
    body |= {"title": "Cash-flow forecasting", "languages": ["en"], "starts_on": "2027-02-01", "ends_on": "2027-05-28"}
    new, event = publish(DRAFT, body, COLLEAGUE, NOW)
    assert (new["status"], new["posted_at"], new["published_by"], new["work_mode"]) == (
        "open",
        NOW,
        COLLEAGUE.id,
        "remote",
    )
    assert (event.suggested_from, event.sme_id, event.organisation, event.capacity) == ("a1", "sme-7", "ACME", 2)
    assert (event.title, event.starts_on) == ("Cash-flow forecasting", "2027-02-01")  # what partners list


def test_publishing_is_refused_to_a_stranger_and_of_an_open_challenge() -> None:
    with pytest.raises(Forbidden) as e:
        publish(DRAFT, {}, STRANGER, NOW)
    assert e.value.detail == "only the SME that owns this challenge or the coordinator may publish it"
    with pytest.raises(Conflict) as c:
        publish({**DRAFT, "status": "open"}, {}, COORD, NOW)
    assert c.value.detail == "challenge draft-a1 is already open"


def test_ranking_applicants_is_for_managers_and_the_supervisor_only() -> None:
    require_ranker(STRANGER, {**DRAFT, "supervisor": STRANGER.id})  # the supervisor may
    require_ranker(COLLEAGUE, DRAFT)
    with pytest.raises(Forbidden) as e:
        require_ranker(STRANGER, {**DRAFT, "supervisor": "someone-else"})
    assert e.value.detail == "only the challenge's SME, its supervisor or the coordinator may rank applicants"


# -- the suggested draft -----------------------------------------------------------------------


def assessed(need: str, score: float) -> Assessed:
    return Assessed(
        sme_id="sme-7",
        assessment_id="a1",
        region="IE05",
        scores={need: score, "talent": 4.0},
        top_needs=[need, "talent"],
        assessed_at="2026-11-20T09:30:00.000000Z",
        organisation="ACME",
    )


def test_a_need_scored_exactly_at_the_threshold_suggests_nothing() -> None:
    assert suggestion(assessed("finance", 2.5), 2.5, NOW) is None
    assert suggestion(assessed("finance", 2.6), 2.5, NOW) is None
    assert suggestion(assessed("finance", 2.49), 2.5, NOW) is not None


def test_the_suggested_draft_written_out() -> None:
    assert suggestion(assessed("rnd_facilities", 2.04), 2.5, NOW) == {
        "_id": "draft-a1",
        "programme": "consultancy",
        "status": "draft",
        "title": "Student consultancy on rnd facilities",
        "scope": (
            "Suggested because the growth-needs assessment of 2026-11-20 scored rnd facilities at 2.0 of 5, "
            "the SME's greatest need. Edit and publish it."
        ),
        "skills": ["research methods", "lab work"],
        "languages": [],
        "region": "IE05",
        "sme_id": "sme-7",
        "organisation": "ACME",
        "created_by": None,
        "suggested_from": "a1",
        "need": {"dimension": "rnd_facilities", "score": 2.04},
        "suggested_at": NOW,
        "applicant_ranking": [],
    }


def test_a_need_without_a_skill_list_asks_for_the_need_itself() -> None:
    draft = suggestion(assessed("circularity", 1.0), 2.5, NOW)
    assert draft is not None and draft["skills"] == ["circularity"]


# -- ranking checks: the 422 body --------------------------------------------------------------


def test_a_candidates_preferences_name_each_problem_by_position() -> None:
    challenges = {
        "c-open": {"status": "open", "programme": "consultancy"},
        "c-draft": {"status": "draft", "programme": "consultancy"},
        "c-cop": {"status": "open", "programme": "change_of_perspective"},
    }
    check_preferences("student", ["c-open"], challenges)
    with pytest.raises(Unprocessable) as e:
        check_preferences("student", ["c-open", "c-draft", "c-cop", "c-open", "c-nope"], challenges)
    assert e.value.extensions["errors"] == [
        {"field": "ranking[1]", "reason": "no open challenge 'c-draft'"},
        {"field": "ranking[2]", "reason": "'c-cop' is a change_of_perspective challenge, not consultancy"},
        {"field": "ranking[3]", "reason": "'c-open' is ranked twice"},
        {"field": "ranking[4]", "reason": "no open challenge 'c-nope'"},
    ]
    assert e.value.detail == "4 problem(s) in the ranking; nothing was saved"
    check_preferences("academic", ["c-cop"], challenges)


def test_a_hosts_ranking_names_each_problem_by_position() -> None:
    profiles = {"p1": {"kind": "academic"}, "p2": {"kind": "student"}}
    challenge = {"programme": "change_of_perspective"}
    check_applicants(challenge, ["p1"], profiles)
    with pytest.raises(Unprocessable) as e:
        check_applicants(challenge, ["p2", "p1", "p1", "p9"], profiles)
    assert e.value.extensions["errors"] == [
        {"field": "ranking[0]", "reason": "'p2' is not a profile of kind 'academic'"},
        {"field": "ranking[2]", "reason": "'p1' is ranked twice"},
        {"field": "ranking[3]", "reason": "no candidate profile 'p9'"},
    ]
    assert e.value.detail == "3 problem(s) in the ranking; nothing was saved"
