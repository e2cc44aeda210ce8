"""Matching eligibility, the documented fit score, and the instance a round builds."""

from __future__ import annotations

from datetime import date

from services.matching.allocation.instance import parse
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
