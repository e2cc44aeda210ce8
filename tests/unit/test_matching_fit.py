"""Matching eligibility, the documented fit score, and the instance a round builds."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from allocation.instance import parse
from services.matching.domain.fit import Candidate, Challenge, eligible, fit, instance


def ch(id: str = "c1", **over: object) -> Challenge:
    base: dict[str, object] = {
        "id": id,
        "programme": "consultancy",
        "region": "IE05",
        "work_mode": "on_site",
        "skills": frozenset({"cad", "fea"}),
        "languages": frozenset({"en"}),
        "starts_on": date(2027, 2, 1),
        "ends_on": date(2027, 3, 2),  # 30 days
        "capacity": 2,
        "host": "prof",
    }
    return Challenge(**{**base, **over})  # type: ignore[arg-type]


def person(id: str = "p1", **over: object) -> Candidate:
    base: dict[str, object] = {
        "id": id,
        "programme": "consultancy",
        "region": "IE05",
        "skills": frozenset({"cad"}),
        "languages": frozenset({"en", "ga"}),
        "available_from": date(2027, 1, 1),
        "available_until": date(2027, 6, 30),
        "cross_border": False,
    }
    return Candidate(**{**base, **over})  # type: ignore[arg-type]


def test_eligibility_rules() -> None:
    assert eligible(ch(), person())
    assert not eligible(ch(), person(programme="change_of_perspective"))
    assert not eligible(ch(), person(languages=frozenset({"it"})))
    assert not eligible(ch(), person(available_until=date(2027, 1, 31)))
    assert not eligible(ch(), person(region="ITH5"))  # on site abroad, unwilling
    assert eligible(ch(), person(region="ITH5", cross_border=True))
    assert eligible(ch(work_mode="remote"), person(region="ITH5"))


def test_fit_score_is_the_documented_weighted_sum() -> None:
    assert fit(ch(), person()) == 0.5 * 0.5 + 0.3 * 1.0 + 0.2 * 1.0
    half_calendar = person(available_until=date(2027, 2, 15))  # 15 of 30 days
    assert fit(ch(), half_calendar) == round(0.5 * 0.5 + 0.3 * 0.5 + 0.2, 4)
    assert fit(ch(skills=frozenset()), person(region="ITH5", cross_border=True)) == 0.5 + 0.3 + 0.1


def test_instance_uses_own_rankings_else_fit_and_hosts_rank_by_their_list_then_fit() -> None:
    a, b = ch("a"), ch("b", skills=frozenset({"cad"}))
    ranked = person("p1", preferences=("b", "a", "gone"))
    unranked = person("p2", available_until=date(2027, 2, 15))
    expert = person("p3", skills=frozenset({"cad", "fea"}))
    data, source = instance([a, b], [ranked, unranked, expert], {"prof": 3}, frozenset({("p3", "b")}))
    prefs = {s["id"]: s["preferences"] for s in data["students"]}
    assert prefs == {"p1": ["b", "a"], "p2": ["b", "a"], "p3": ["a"]}  # p2 by fit: 0.85 on b, 0.6 on a
    assert source["p1"] == "your ranking" and source["p2"].startswith("fit score")
    assert data["supervisors"] == [{"id": "prof", "capacity": 3, "preferences": ["p1", "p3", "p2"]}]
    data, _ = instance([ch("a", ranking=("p2",))], [ranked, person("p2"), expert], {"prof": 3})
    assert data["supervisors"][0]["preferences"] == ["p2", "p3", "p1"]  # ranked first, then by fit
    parse(data)  # a valid instance for the engine


# The fit score by hand: 0.5 x skills share + 0.3 x calendar share + 0.2 x region (1 at home, 0.5 elsewhere).
@pytest.mark.parametrize(
    ("challenge", "candidate", "expected"),
    [
        # 2 of 4 skills; Feb 1-10 is 10 days, 3 of them (Feb 1-3) available; home region
        # 0.5 x 0.5 + 0.3 x 0.3 + 0.2 x 1 = 0.25 + 0.09 + 0.2
        (
            {"skills": frozenset({"cad", "fea", "cfd", "plc"}), "ends_on": date(2027, 2, 10)},
            {"skills": frozenset({"cad", "fea", "python"}), "available_until": date(2027, 2, 3)},
            0.54,
        ),
        # 1 of 3 skills; Feb 1-28 is 28 days, 7 of them (Feb 22-28) available; remote work from abroad
        # 0.5 / 3 + 0.3 x 0.25 + 0.2 x 0.5 = 0.16667 + 0.075 + 0.1 = 0.34167, rounded to 4 places
        (
            {"skills": frozenset({"cad", "fea", "cfd"}), "ends_on": date(2027, 2, 28), "work_mode": "remote"},
            {"skills": frozenset({"cfd"}), "available_from": date(2027, 2, 22), "region": "ITH5"},
            0.3417,
        ),
        # no skills asked: skills count fully; whole calendar; home: 0.5 + 0.3 + 0.2
        ({"skills": frozenset()}, {"skills": frozenset()}, 1.0),
        # no skill in common; whole calendar; on site abroad, willing: 0 + 0.3 + 0.1
        ({}, {"skills": frozenset({"python"}), "region": "ITH5", "cross_border": True}, 0.4),
        # 1 of 2 skills; 1 day (Feb 1) of the 30; home: 0.25 + 0.3 / 30 + 0.2 = 0.25 + 0.01 + 0.2
        ({}, {"available_until": date(2027, 2, 1)}, 0.46),
    ],
)
def test_fit_score_by_hand(challenge: dict[str, Any], candidate: dict[str, Any], expected: float) -> None:
    assert fit(ch(**challenge), person(**candidate)) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("candidate", "ok"),
    [
        # the challenge runs Mon 2027-02-01 .. Tue 2027-03-02
        ({"available_until": date(2027, 2, 1)}, True),  # exactly one day in common: its first
        ({"available_until": date(2027, 1, 31)}, False),  # ends the day before
        ({"available_from": date(2027, 3, 2)}, True),  # exactly one day: its last
        ({"available_from": date(2027, 3, 3)}, False),  # starts the day after
        ({"languages": frozenset({"fr", "en"})}, True),  # one shared language is enough
        ({"languages": frozenset({"fr", "ga"})}, False),
        ({"region": "ITH5"}, False),  # on site abroad, unwilling
        ({"region": "ITH5", "cross_border": True}, True),
        ({"region": "IE05"}, True),  # on site at home needs no willingness
    ],
)
def test_eligibility_edges(candidate: dict[str, Any], ok: bool) -> None:
    assert eligible(ch(), person(**candidate)) is ok


@pytest.mark.parametrize(("mode", "ok"), [("on_site", False), ("remote", True), ("hybrid", True)])
def test_only_on_site_work_abroad_needs_willingness_to_cross_borders(mode: str, ok: bool) -> None:
    assert eligible(ch(work_mode=mode), person(region="ITH5", cross_border=False)) is ok


def test_one_language_in_common_is_enough_either_way() -> None:
    bilingual = ch(languages=frozenset({"en", "it"}))
    assert eligible(bilingual, person(languages=frozenset({"it"})))
    assert eligible(bilingual, person(languages=frozenset({"en", "ga"})))
    assert not eligible(bilingual, person(languages=frozenset({"ga", "fr"})))
