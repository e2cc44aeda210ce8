"""Mapping rules: EU size classes, instrument scoring and versions, cluster stars by hand."""

from __future__ import annotations

import pytest

from clustergrowth.problems import Unprocessable
from services.mapping.domain.cluster import Thresholds, cell_needs, strengths
from services.mapping.domain.codes import code_lists, division
from services.mapping.domain.instrument import instrument, versions
from services.mapping.domain.model import quarter, size_class


@pytest.mark.parametrize(
    ("headcount", "turnover", "balance", "expected"),
    [
        (9, 2e6, 5e6, "micro"),
        (10, 1e6, 1e6, "small"),
        (49, 20e6, 10e6, "small"),
        (49, 20e6, 11e6, "medium"),
        (249, 60e6, 43e6, "medium"),
        (249, 60e6, 44e6, "large"),
        (250, 1e6, 1e6, "large"),
    ],
)
def test_size_class_follows_the_eu_definition(headcount: int, turnover: float, balance: float, expected: str) -> None:
    assert size_class(headcount, turnover, balance) == expected


def all_answers(value: int, version: str = "1") -> dict[str, int]:
    return {q: value for q in instrument(version).question_ids}


def test_scores_and_top_needs() -> None:
    inst = instrument("1")
    answers = all_answers(4)
    answers.update({"finance-1": 1, "finance-2": 2, "finance-3": 1, "talent-1": 2})
    scores, top = inst.score(answers)
    assert scores["finance"] == pytest.approx(1.33) and scores["talent"] == pytest.approx(3.33)
    assert top == ["finance", "talent", "innovation"]  # ties broken by instrument order


def test_a_new_version_scores_differently_but_an_old_version_never_changes() -> None:
    answers = all_answers(3)
    answers.update({"innovation-1": 5})
    v1, _ = instrument("1").score(answers)
    v2, _ = instrument("2").score(answers)
    assert v1["innovation"] == pytest.approx(3.67) and v2["innovation"] == pytest.approx(4.0)
    assert versions() == ("1", "2")


def test_bad_answers_name_each_question() -> None:
    answers: dict[str, object] = all_answers(3)
    del answers["talent-2"]
    answers["finance-1"] = 9
    answers["digitalisation-1"] = "often"
    answers["bogus-1"] = 3
    with pytest.raises(Unprocessable) as e:
        instrument("1").validate(answers)  # type: ignore[arg-type]
    fields = {x["field"]: x["reason"] for x in e.value.extensions["errors"]}
    assert set(fields) == {"answers.talent-2", "answers.finance-1", "answers.digitalisation-1", "answers.bogus-1"}
    assert "1..5" in fields["answers.finance-1"]
    with pytest.raises(Unprocessable) as e:
        instrument("7")
    assert e.value.extensions["errors"][0]["field"] == "instrument_version"


def test_code_lists_and_divisions() -> None:
    codes = code_lists()
    assert "ES617" in codes.nuts3_of("ES61") and codes.country_of("TR10") == "TR"
    assert "C28.29" in codes.nace and division("C28.29") == "C28"
    assert quarter("2026-11-26T10:00:00+00:00") == "2026Q4"


def test_stars_match_a_hand_calculation() -> None:
    stats = {
        ("IE05", "C28"): 1000,
        ("IE05", "C26"): 1000,
        ("ITH5", "C28"): 4000,
        ("ITH5", "C26"): 500,
        ("FR10", "C28"): 100,
        ("FR10", "C26"): 3000,
    }
    smes = {("IE05", "C28"): 40}
    s = strengths(smes, stats, Thresholds())
    # By hand: total 9,640; C26 4,500; FR10 3,100; LQ(FR10,C26) = (3000/3100)/(4500/9640) = 2.0731
    fr = s[("FR10", "C26")]
    assert fr["specialisation"]["location_quotient"] == pytest.approx((3000 / 3100) / (4500 / 9640), abs=1e-4)
    assert (fr["stars"], fr["size"]["star"], fr["specialisation"]["star"], fr["focus"]["star"]) == (3, True, True, True)
    it = s[("ITH5", "C28")]  # largest C28 cell (size), LQ 1.667, second-highest share (no focus)
    assert (it["stars"], it["size"]["star"], it["specialisation"]["star"], it["focus"]["star"]) == (
        1,
        True,
        False,
        False,
    )
    assert s[("IE05", "C28")]["employment"] == {"statistics": 1000, "smes": 40, "total": 1040}
    assert s[("IE05", "C28")]["stars"] == 0
    strict = strengths(smes, stats, Thresholds(min_location_quotient=2.1))
    assert strict[("FR10", "C26")]["specialisation"]["star"] is False


def test_cell_needs_counts_latest_scores_and_trend() -> None:
    smes = [
        {
            "headcount": 5,
            "latest": {"scores": {"a": 2.0, "b": 4.0}, "top3": ["a", "b"]},
            "history": [
                {"quarter": "2026Q1", "mean": 2.0},
                {"quarter": "2026Q4", "mean": 3.0},
            ],
        },
        {
            "headcount": 7,
            "latest": {"scores": {"a": 4.0, "b": 2.0}, "top3": ["b", "a"]},
            "history": [{"quarter": "2026Q4", "mean": 3.0}],
        },
        {"headcount": 3, "latest": None, "history": []},
    ]
    stats = cell_needs(smes, ["a", "b"])
    assert (stats["smes"], stats["assessed_smes"], stats["assessments"]) == (3, 2, 3)
    assert stats["mean_scores"] == {"a": 3.0, "b": 3.0}
    assert stats["trend"] == {"2026Q1": 2.0, "2026Q4": 3.0}
