"""Mobility placements in the unit tier: the agreement's dates at their boundaries (0, 1, 26, 27 weeks;
parts in order; twelve months), the EYE eligibility rules (a new entrepreneur's three years, a host's
three years), the four acceptances (three of four is not agreed; nobody accepts for another party; one
person, one party; a revision makes every acceptance lapse), reports, completion and ending early, and
matching through the allocation engine against assignments worked out by hand."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from clustergrowth.auth import Principal
from clustergrowth.problems import Conflict, Forbidden, Problem
from services.training.placements import commands as c
from services.training.placements import domain as dm
from services.training.placements import matching

TODAY = date(2027, 3, 1)
NOW = "2027-03-01T09:00:00.000000Z"
ANN = Principal("ann", frozenset({"student"}), "IE05")
HOST = Principal("hal", frozenset({"sme_member"}), "ITH5", org="ITH5:ferrari", issuer="https://id.unibo.test")
CORK = Principal("cork", frozenset({"region_admin"}), "IE05")
BOLOGNA = Principal("bo", frozenset({"region_admin"}), "ITH5", issuer="https://id.unibo.test")
CORK2 = Principal("cork2", frozenset({"council_secretary"}), "IE05")


def field_of(e: pytest.ExceptionInfo[Problem]) -> str:
    return str(e.value.extensions["errors"][0]["field"])


def terms(*parts: tuple[str, int]) -> dict[str, Any]:
    return {
        "objectives": ["Learn lean"],
        "activity_plan": "Shadow the plant manager",
        "parts": [{"start": s, "weeks": w} for s, w in parts],
    }


@pytest.mark.parametrize(("weeks", "ok"), [(0, False), (1, True), (26, True), (27, False)])
def test_one_part_of_0_1_26_27_weeks(weeks: int, ok: bool) -> None:
    body = {**terms(("2027-04-05", weeks)), "applicant_id": "a", "host_id": "h"}
    if not ok:
        with pytest.raises(ValidationError) as e:
            c.Propose.model_validate(body)
        assert [err["loc"] for err in e.value.errors()] == [("parts", 0, "weeks")]
        return
    checked = dm.check_terms(c.Propose.model_validate(body).model_dump(mode="json"), TODAY)
    assert checked["weeks"] == weeks


@pytest.mark.parametrize(("first", "second", "ok"), [(13, 13, True), (13, 14, False), (25, 1, True), (1, 26, False)])
def test_parts_add_up_to_at_most_26_weeks(first: int, second: int, ok: bool) -> None:
    t = terms(("2027-04-05", first), ("2027-10-04", second))
    if ok:
        assert dm.check_terms(t, TODAY)["weeks"] == first + second
    else:
        with pytest.raises(Problem) as e:
            dm.check_terms(t, TODAY)
        assert field_of(e) == "parts"


def test_a_part_ends_on_the_last_day_of_its_weeks() -> None:
    checked = dm.check_terms(terms(("2027-04-05", 2), ("2027-05-03", 1)), TODAY)
    # by hand: 2 weeks from Mon 5 April end Sun 18 April; 1 week from Mon 3 May ends Sun 9 May
    assert [p["end"] for p in checked["parts"]] == ["2027-04-18", "2027-05-09"]
    assert (checked["start"], checked["end"], checked["weeks"]) == ("2027-04-05", "2027-05-09", 3)


def test_parts_in_order_not_in_the_past_and_within_twelve_months() -> None:
    with pytest.raises(Problem) as e:
        dm.check_terms(terms(("2027-04-05", 2), ("2027-04-18", 1)), TODAY)  # starts on the first part's last day
    assert field_of(e) == "parts.1.start"
    dm.check_terms(terms(("2027-04-05", 2), ("2027-04-19", 1)), TODAY)  # the day after: fine
    with pytest.raises(Problem) as e:
        dm.check_terms(terms(("2027-02-28", 2)), TODAY)
    assert field_of(e) == "parts.0.start"
    dm.check_terms(terms(("2027-03-01", 2)), TODAY)  # today is fine
    # 2027-04-05 + 364 days = 2028-04-03 (2028 is a leap year): a last day then is within twelve months
    dm.check_terms(terms(("2027-04-05", 1), ("2028-03-28", 1)), TODAY)  # last day 2028-04-03
    with pytest.raises(Problem) as e:
        dm.check_terms(terms(("2027-04-05", 1), ("2028-03-29", 1)), TODAY)  # last day 2028-04-04
    assert field_of(e) == "parts"


def applicant(who: Principal = ANN, **over: Any) -> dict[str, Any]:
    fields = {
        "kind": "new_entrepreneur",
        "business_started": None,
        "offers": ["software"],
        "seeks": ["lean", "export"],
        "languages": ["en", "it"],
        "statement": "",
        "preferences": [],
    } | over
    return dm.new_applicant("apl-" + who.sub, who, fields, TODAY, NOW)


def host(org: str = "ITH5:ferrari", **over: Any) -> dict[str, Any]:
    fields = {
        "name": org,
        "kind": "sme",
        "years_running": 3,
        "places": 1,
        "offers": ["lean", "export"],
        "seeks": ["software"],
        "languages": ["it", "en"],
        "statement": "",
        "preferences": [],
    } | over
    return dm.new_host("host-" + org.split(":")[1], org, fields, "p-x", NOW)


def test_a_new_entrepreneur_started_within_three_years() -> None:
    assert applicant(business_started="2024-03-01")["status"] == "submitted"  # exactly three years
    with pytest.raises(Problem) as e:
        applicant(business_started="2024-02-29")
    assert field_of(e) == "business_started"
    with pytest.raises(Problem):
        applicant(business_started="2027-03-02")  # not started yet: leave it out
    assert applicant(kind="sme_staff", business_started="1990-01-01")["status"] == "submitted"
    assert dm.years_before(date(2028, 2, 29), 3) == date(2025, 2, 28)


def test_a_host_has_run_for_three_years_and_lives_in_its_organisations_region() -> None:
    with pytest.raises(Problem) as e:
        host(years_running=2)
    assert field_of(e) == "years_running"
    h = host(years_running=3)
    assert (h["region"], h["country"], h["status"]) == ("ITH5", "IT", "submitted")
    a = applicant()
    assert (a["region"], a["country"], a["person"]) == ("IE05", "IE", ANN.id)


def test_screening_is_for_the_intermediary_of_its_own_region() -> None:
    with pytest.raises(Forbidden):
        dm.screen(host(), CORK, "accepted", "", NOW)
    with pytest.raises(Forbidden):
        dm.screen(host(), HOST, "accepted", "", NOW)
    done = dm.screen(host(), BOLOGNA, "accepted", "fine", NOW)
    assert done["status"] == "accepted" and done["screening"]["by"] == BOLOGNA.id


def placement(t: dict[str, Any] | None = None, a: dict[str, Any] | None = None) -> dict[str, Any]:
    a = dm.screen(a or applicant(), CORK, "accepted", "", NOW)
    h = dm.screen(host(), BOLOGNA, "accepted", "", NOW)
    doc, proposed = dm.propose("plc-1", a, h, t or terms(("2027-04-05", 4)), CORK, TODAY, NOW)
    assert proposed.weeks == doc["terms"]["weeks"] and proposed.cross_border is True
    return doc


def test_proposing_needs_accepted_sides_and_an_intermediary_of_either() -> None:
    a, h = applicant(), host()
    with pytest.raises(Problem) as e:
        dm.propose("p", a, dm.screen(h, BOLOGNA, "accepted", "", NOW), terms(("2027-04-05", 4)), CORK, TODAY, NOW)
    assert field_of(e) == "applicant_id"
    a = dm.screen(a, CORK, "accepted", "", NOW)
    with pytest.raises(Problem) as e:
        dm.propose("p", a, dm.screen(h, BOLOGNA, "rejected", "", NOW), terms(("2027-04-05", 4)), CORK, TODAY, NOW)
    assert field_of(e) == "host_id"
    h = dm.screen(h, BOLOGNA, "accepted", "", NOW)
    with pytest.raises(Forbidden):
        dm.propose("p", a, h, terms(("2027-04-05", 4)), ANN, TODAY, NOW)
    other = Principal("x", frozenset({"region_admin"}), "DE21", issuer="https://id.tum.test")
    with pytest.raises(Forbidden):
        dm.propose("p", a, h, terms(("2027-04-05", 4)), other, TODAY, NOW)
    doc, _ = dm.propose("p", a, h, terms(("2027-04-05", 4)), BOLOGNA, TODAY, NOW)  # the host side may propose
    assert doc["status"] == "proposed" and doc["revision"] == 1


def test_each_party_is_who_the_token_says_and_nobody_else() -> None:
    doc = placement()
    assert dm.parties(ANN, doc) == {"applicant"}
    assert dm.parties(HOST, doc) == {"host"}
    assert dm.parties(CORK, doc) == dm.parties(CORK2, doc) == {"sending_intermediary"}
    assert dm.parties(BOLOGNA, doc) == {"host_intermediary"}
    colleague = Principal("hal2", frozenset({"sme_member"}), "IE05", org="IE05:ferrari")  # same name, home issuer
    assert dm.parties(colleague, doc) == set()


def test_only_a_member_speaking_for_the_host_organisation_accepts_as_host_and_never_the_applicant() -> None:
    """sme_member and facility_manager of the host organisation are the host; a student, an analyst or a
    coordinator who belongs to it are not; the applicant is never the host, even as its sme_member."""
    doc = placement()
    for roles, host in (({"sme_member"}, True), ({"facility_manager"}, True), ({"student"}, False)):
        who = Principal("hx", frozenset(roles), "ITH5", org="ITH5:ferrari", issuer="https://id.unibo.test")
        assert ("host" in dm.parties(who, doc)) is host, roles
    for roles in ({"analyst"}, {"region_admin"}):
        who = Principal("hy", frozenset(roles), "ITH5", org="ITH5:ferrari", issuer="https://id.unibo.test")
        assert "host" not in dm.parties(who, doc), roles
    student = Principal("hz", frozenset({"student"}), "ITH5", org="ITH5:ferrari", issuer="https://id.unibo.test")
    assert dm.sees(student, doc) and not dm.parties(student, doc)  # reads it, as the listing shows it
    with pytest.raises(Forbidden):
        dm.accept(doc, "host", doc["revision"], student, NOW)
    applicant_as_member = Principal("ann", frozenset({"student", "sme_member"}), "IE05", org="ITH5:ferrari")
    assert applicant_as_member.id == doc["applicant"] and dm.parties(applicant_as_member, doc) == {"applicant"}
    with pytest.raises(Forbidden):
        dm.accept(doc, "host", doc["revision"], applicant_as_member, NOW)


def accept_all(doc: dict[str, Any], who: list[tuple[Principal, str]]) -> tuple[dict[str, Any], list[Any]]:
    events: list[Any] = []
    for p, party in who:
        doc, ev = dm.accept(doc, party, doc["revision"], p, NOW)
        events += ev
    return doc, events


FOUR = [(ANN, "applicant"), (HOST, "host"), (CORK, "sending_intermediary"), (BOLOGNA, "host_intermediary")]


def test_three_of_four_acceptances_is_not_agreed_and_the_fourth_is() -> None:
    doc, events = accept_all(placement(), FOUR[:3])
    assert doc["status"] == "proposed" and events == []
    doc, events = accept_all(doc, FOUR[3:])
    assert doc["status"] == "agreed" and len(events) == 1
    assert (events[0].start, events[0].end, events[0].weeks) == ("2027-04-05", "2027-05-02", 4)
    with pytest.raises(Conflict):
        dm.accept(doc, "host", 1, HOST, NOW)  # agreed: nothing more to accept


def test_nobody_accepts_for_another_party() -> None:
    doc = placement()
    for who, party in [
        (ANN, "host"),
        (HOST, "applicant"),
        (CORK, "host_intermediary"),
        (BOLOGNA, "sending_intermediary"),
    ]:
        with pytest.raises(Forbidden):
            dm.accept(doc, party, 1, who, NOW)
    doc, _ = dm.accept(doc, "applicant", 1, ANN, NOW)
    with pytest.raises(Conflict):
        dm.accept(doc, "applicant", 1, ANN, NOW)  # once


def test_one_person_accepts_for_one_party_only() -> None:
    """A same-region placement: one region's staff are both intermediaries, yet two people must accept."""
    local_host = dm.screen(host("IE05:pharma"), CORK, "accepted", "", NOW)
    a = dm.screen(applicant(), CORK, "accepted", "", NOW)
    doc, proposed = dm.propose("p", a, local_host, terms(("2027-04-05", 4)), CORK, TODAY, NOW)
    assert proposed.cross_border is False
    assert dm.parties(CORK, doc) == {"sending_intermediary", "host_intermediary"}
    doc, _ = dm.accept(doc, "sending_intermediary", 1, CORK, NOW)
    with pytest.raises(Conflict):
        dm.accept(doc, "host_intermediary", 1, CORK, NOW)
    doc, _ = dm.accept(doc, "host_intermediary", 1, CORK2, NOW)
    assert doc["acceptances"]["host_intermediary"]["by"] == CORK2.id


def test_a_revision_makes_every_acceptance_lapse_and_old_revisions_are_refused() -> None:
    doc, _ = accept_all(placement(), FOUR[:3])
    with pytest.raises(Forbidden):
        dm.revise(doc, 1, terms(("2027-04-05", 6)), ANN, TODAY, NOW)
    with pytest.raises(Conflict):
        dm.revise(doc, 2, terms(("2027-04-05", 6)), CORK, TODAY, NOW)
    doc = dm.revise(doc, 1, terms(("2027-04-05", 6)), BOLOGNA, TODAY, NOW)
    assert doc["revision"] == 2 and all(a is None for a in doc["acceptances"].values())
    with pytest.raises(Conflict) as e:
        dm.accept(doc, "host_intermediary", 1, BOLOGNA, NOW)
    assert e.value.extensions["revision"] == 2
    doc, events = accept_all(doc, FOUR)
    assert events[0].weeks == 6


def test_active_from_its_first_day_reports_from_both_sides_and_completion_after_the_last() -> None:
    doc, _ = accept_all(placement(terms(("2027-04-05", 2))), FOUR)
    assert dm.status_on(doc, date(2027, 4, 4)) == "agreed" and dm.status_on(doc, date(2027, 4, 5)) == "active"
    with pytest.raises(Conflict):
        dm.report(doc, ANN, "progress", "x", date(2027, 4, 4), NOW)  # not active yet
    with pytest.raises(Forbidden):
        dm.report(doc, CORK, "progress", "x", date(2027, 4, 5), NOW)  # intermediaries monitor, sides report
    doc = dm.report(doc, ANN, "final", "learnt a lot", date(2027, 4, 18), NOW)
    with pytest.raises(Conflict) as e:
        dm.complete(doc, CORK, date(2027, 4, 18), NOW)
    assert e.value.extensions["missing"] == ["host"]
    doc = dm.report(doc, HOST, "final", "good work", date(2027, 4, 18), NOW)
    assert [r["side"] for r in doc["reports"]] == ["applicant", "host"]
    with pytest.raises(Conflict):
        dm.complete(doc, CORK, date(2027, 4, 17), NOW)  # the day before its last day
    with pytest.raises(Forbidden):
        dm.complete(doc, ANN, date(2027, 4, 18), NOW)
    done, event = dm.complete(doc, BOLOGNA, date(2027, 4, 18), NOW)
    assert done["status"] == "completed" and (event.outcome, event.reason) == ("completed", None)


def test_ended_early_with_a_reason_by_an_intermediary_only_once_agreed() -> None:
    doc = placement()
    with pytest.raises(Conflict):
        dm.end_early(doc, CORK, "illness", NOW)  # only an agreed placement ends early
    doc, _ = accept_all(doc, FOUR)
    with pytest.raises(Forbidden):
        dm.end_early(doc, HOST, "illness", NOW)
    ended, event = dm.end_early(doc, CORK, "illness", NOW)
    assert ended["status"] == "ended_early" and (event.outcome, event.reason) == ("ended_early", "illness")
    assert dm.status_on(ended, date(2027, 4, 10)) == "ended_early"


# Matching --------------------------------------------------------------------------------------------
def screened_applicant(name: str, region: str, seeks: list[str], **over: Any) -> dict[str, Any]:
    who = Principal(name, frozenset({"student"}), region)
    return applicant(who, seeks=seeks, **over)


def test_suggestions_by_hand_stable_with_a_preference_and_cross_border_counted_by_country() -> None:
    # ann seeks lean+export: ferrari (lean, export: 2 topics) before lyon (lean: 1); bea seeks lean only:
    # both hosts 1 topic, tie broken by id (host-ferrari < host-lyon). Ferrari has one place and ranks
    # ann (seeks software, ann offers software) above bea (offers nothing it seeks) => ann-ferrari,
    # bea-lyon. Countries: IE->IT and IE->FR cross; the engine compares regions, we compare countries.
    ann = screened_applicant("ann", "IE05", ["lean", "export"])
    bea = screened_applicant("bea", "IE05", ["lean"], offers=["design"])
    ferrari = host("ITH5:ferrari")
    lyon = host("FRK2:lyon", offers=["lean"])
    out = matching.suggest([ann, bea], [ferrari, lyon], {ferrari["_id"]: 1, lyon["_id"]: 1}, "stable")
    assert [(s["applicant_id"], s["host_id"], s["rank"]) for s in out["suggestions"]] == [
        ("apl-ann", "host-ferrari", 1),
        ("apl-bea", "host-lyon", 2),
    ]
    assert out["metrics"] == {
        "applicants": 2,
        "hosts": 2,
        "matched": 2,
        "mean_rank": 1.5,
        "blocking_pairs": 0,
        "cross_border": 2,
        "cross_border_share": 1.0,
    }
    # bea names lyon first: she goes there at rank 1, ann keeps ferrari
    bea = screened_applicant("bea", "IE05", ["lean"], offers=["design"], preferences=["host-lyon"])
    out = matching.suggest([ann, bea], [ferrari, lyon], {ferrari["_id"]: 1, lyon["_id"]: 1}, "optimal")
    assert [(s["applicant_id"], s["host_id"], s["rank"]) for s in out["suggestions"]] == [
        ("apl-ann", "host-ferrari", 1),
        ("apl-bea", "host-lyon", 1),
    ]


def test_no_match_without_a_common_language_a_topic_or_a_free_place() -> None:
    ann = screened_applicant("ann", "IE05", ["lean"], languages=["de"])
    ben = screened_applicant("ben", "IE05", ["welding"])  # nobody offers welding
    cat = screened_applicant("cat", "IE05", ["lean"])
    ferrari, full = host("ITH5:ferrari"), host("ITH5:full")
    out = matching.suggest([ann, ben, cat], [ferrari, full], {ferrari["_id"]: 1, full["_id"]: 0}, "stable")
    assert [(s["applicant_id"], s["host_id"]) for s in out["suggestions"]] == [("apl-cat", "host-ferrari")]
    assert out["unassigned"] == ["apl-ann", "apl-ben"] and out["metrics"]["hosts"] == 1


def test_the_host_ranks_among_two_applicants_for_one_place() -> None:
    # both seek lean; ferrari seeks software: cat offers it, dan does not => cat, in either mode
    cat = screened_applicant("cat", "IE05", ["lean"], offers=["software"])
    dan = screened_applicant("dan", "IE05", ["lean"], offers=["design"])
    ferrari = host("ITH5:ferrari")
    for mode in ("stable", "optimal"):
        out = matching.suggest([dan, cat], [ferrari], {ferrari["_id"]: 1}, mode)
        assert [s["applicant_id"] for s in out["suggestions"]] == ["apl-cat"], mode
    # unless the host names dan first
    ferrari = host("ITH5:ferrari", preferences=["apl-dan"])
    out = matching.suggest([dan, cat], [ferrari], {ferrari["_id"]: 1}, "stable")
    assert [s["applicant_id"] for s in out["suggestions"]] == ["apl-dan"]


def test_an_applicant_is_never_matched_with_its_own_organisation() -> None:
    ann = screened_applicant("ann", "IE05", ["lean"])
    ann["organisation"] = "ITH5:ferrari"
    ferrari = host("ITH5:ferrari")
    assert matching.suggest([ann], [ferrari], {ferrari["_id"]: 1}, "stable")["suggestions"] == []
