"""Mapping rules: EU size classes, instrument scoring and versions, cluster stars by hand."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clustergrowth.problems import Unprocessable
from services.mapping.domain.aggregates import Agg
from services.mapping.domain.cluster import SmeSummary, Thresholds, strengths
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
    smes: list[SmeSummary] = [
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
    agg = Agg()  # the cell's aggregate, as the projection folds its SMEs into it
    for s in smes:
        agg.add(s)
    stats = agg.needs(["a", "b"])
    assert (stats["smes"], stats["assessed_smes"], stats["assessments"]) == (3, 2, 3)
    assert stats["mean_scores"] == {"a": 3.0, "b": 3.0}
    assert stats["trend"] == {"2026Q1": 2.0, "2026Q4": 3.0}


# Each size-class ceiling at, just inside and just outside, in a case where that criterion alone decides:
# the other criteria sit well inside (or, for the "turnover OR balance sheet" pairs, the other one is out).
M = 1_000_000


@pytest.mark.parametrize(
    ("headcount", "turnover", "balance", "expected"),
    [
        # micro: headcount < 10 (finances 1 M€ / 1 M€ fit every class)
        (9, 1 * M, 1 * M, "micro"),
        (10, 1 * M, 1 * M, "small"),
        (8, 1 * M, 1 * M, "micro"),
        # micro: turnover <= 2 M€ decides (balance sheet 5 M€ is over the micro ceiling)
        (5, 2 * M, 5 * M, "micro"),
        (5, 2 * M - 1, 5 * M, "micro"),
        (5, 2 * M + 1, 5 * M, "small"),
        # micro: balance sheet <= 2 M€ decides (turnover 5 M€ is over)
        (5, 5 * M, 2 * M, "micro"),
        (5, 5 * M, 2 * M - 1, "micro"),
        (5, 5 * M, 2 * M + 1, "small"),
        # small: headcount < 50
        (49, 1 * M, 1 * M, "small"),
        (50, 1 * M, 1 * M, "medium"),
        (48, 1 * M, 1 * M, "small"),
        # small: turnover <= 10 M€ decides (balance sheet 20 M€ is over)
        (20, 10 * M, 20 * M, "small"),
        (20, 10 * M - 1, 20 * M, "small"),
        (20, 10 * M + 1, 20 * M, "medium"),
        # small: balance sheet <= 10 M€ decides (turnover 20 M€ is over)
        (20, 20 * M, 10 * M, "small"),
        (20, 20 * M, 10 * M - 1, "small"),
        (20, 20 * M, 10 * M + 1, "medium"),
        # medium: headcount < 250
        (249, 1 * M, 1 * M, "medium"),
        (250, 1 * M, 1 * M, "large"),
        (248, 1 * M, 1 * M, "medium"),
        # medium: turnover <= 50 M€ decides (balance sheet 60 M€ is over)
        (100, 50 * M, 60 * M, "medium"),
        (100, 50 * M - 1, 60 * M, "medium"),
        (100, 50 * M + 1, 60 * M, "large"),
        # medium: balance sheet <= 43 M€ decides (turnover 60 M€ is over)
        (100, 60 * M, 43 * M, "medium"),
        (100, 60 * M, 43 * M - 1, "medium"),
        (100, 60 * M, 43 * M + 1, "large"),
        # a micro headcount with finances over every small ceiling is medium, not micro
        (5, 11 * M, 11 * M, "medium"),
    ],
)
def test_each_size_ceiling_where_it_decides(headcount: int, turnover: float, balance: float, expected: str) -> None:
    assert size_class(headcount, turnover, balance) == expected


def test_specialisation_star_at_exactly_the_location_quotient_threshold() -> None:
    # Region A works only in sector X; X's share of all employment decides the LQ:
    # LQ(A, X) = (1000 / 1000) / (1000 / (1000 + other)), so other = 1000 gives 2.0 exactly
    def lq_cell(other: int) -> dict[str, object]:
        spec: dict[str, object] = strengths({}, {("A", "X"): 1000, ("B", "Y"): other})[("A", "X")]["specialisation"]
        return spec

    assert lq_cell(1000) == {
        "star": True,
        "location_quotient": 2.0,
        "cell_employment": 1000,
        "region_employment": 1000,
        "sector_employment": 1000,
        "total_employment": 2000,
        "threshold": 2.0,
    }
    below, above = lq_cell(999), lq_cell(1001)  # LQ 1999/1000 = 1.999 and 2001/1000 = 2.001
    assert (below["star"], below["location_quotient"]) == (False, 1.999)
    assert (above["star"], above["location_quotient"]) == (True, 2.001)
    # a configured threshold: (750 / 1000) / (4000 / 8000) = 1.5 exactly (A: X 750, Y 250; B: X 3250, Y 3750)
    stats = {("A", "X"): 750, ("A", "Y"): 250, ("B", "X"): 3250, ("B", "Y"): 3750}
    for threshold, star in ((1.5, True), (1.4999, True), (1.5001, False)):
        spec = strengths({}, stats, Thresholds(min_location_quotient=threshold))[("A", "X")]["specialisation"]
        assert (spec["location_quotient"], spec["star"]) == (1.5, star), threshold


def test_size_star_at_the_edge_of_the_top_share() -> None:
    # Sector X over n regions with employment 1000, 990, 980, ...: the third largest has 2 cells above it.
    # The star means fewer than 10 % of the sector's regions are above: 2/21 = 9.5 % yes, 2/20 = 10 % no.
    # A bigger cell of another sector (Y) is no competitor: size is ranked within the sector.
    def third(n: int) -> dict[str, object]:
        stats = {(f"R{i:02d}", "X"): 1000 - 10 * i for i in range(n)} | {("R00", "Y"): 5000}
        size: dict[str, object] = strengths({}, stats)[("R02", "X")]["size"]
        return size

    assert third(21) == {"star": True, "rank_in_sector": 3, "regions_in_sector": 21, "top_share": 0.1}
    assert third(20) == {"star": False, "rank_in_sector": 3, "regions_in_sector": 20, "top_share": 0.1}
    assert third(19)["star"] is False  # 2/19 = 10.5 %
    second = strengths({}, {(f"R{i:02d}", "X"): 1000 - 10 * i for i in range(20)})[("R01", "X")]["size"]
    assert second["star"] is True  # 1/20 = 5 %: the top 10 % of 20 regions is the first two


def test_focus_star_at_the_edge_of_the_top_share() -> None:
    # Regions R00..R(k-1), each of 100 people: X has 95, 90, 85, ... and Y the rest (5, 10, 15, ...).
    # R02's X share (0.85) has 2 shares above it among the 2k cells: 2/22 = 9.1 % yes, 2/20 = 10 % no.
    def focus(regions: int) -> dict[str, object]:
        stats: dict[tuple[str, str], int] = {}
        for i in range(regions):
            stats[(f"R{i:02d}", "X")] = 95 - 5 * i
            stats[(f"R{i:02d}", "Y")] = 5 + 5 * i
        f: dict[str, object] = strengths({}, stats)[("R02", "X")]["focus"]
        return f

    assert focus(11) == {"star": True, "share_of_region": 0.85, "rank": 3, "cells": 22, "top_share": 0.1}
    assert focus(10) == {"star": False, "share_of_region": 0.85, "rank": 3, "cells": 20, "top_share": 0.1}
    assert focus(9)["star"] is False  # 2/18 = 11.1 %


def test_an_empty_cell_gets_no_size_or_focus_star_even_at_the_top() -> None:
    # statistics may list a cell with no employment; it ranks first of its sector by count above, but is empty
    s = strengths({}, {("A", "X"): 0, ("A", "Y"): 10})
    assert (s[("A", "X")]["size"]["star"], s[("A", "X")]["focus"]["star"]) == (False, False)
    assert (s[("A", "Y")]["size"]["star"], s[("A", "Y")]["focus"]["star"]) == (True, True)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.tuples(st.sampled_from(["A", "B", "C", "D"]), st.sampled_from(["X", "Y", "Z"])),
        st.integers(0, 4),  # few values: ties are common
        min_size=1,
    ),
    st.sampled_from([0.1, 0.25, 0.5]),
)
def test_ranks_count_the_cells_strictly_above_whatever_the_ties(stats: dict[tuple[str, str], int], top: float) -> None:
    # the oracle counts by brute force: rank = 1 + cells strictly above; star = not empty and (rank - 1) / n < top
    out = strengths({}, stats, Thresholds(size_top_share=top, focus_top_share=top))
    region = {r: sum(e for (r2, _), e in stats.items() if r2 == r) for r, _ in stats}
    share = {c: (e / region[c[0]] if region[c[0]] else 0.0) for c, e in stats.items()}
    for (r, s), e in stats.items():
        same = [e2 for (_, s2), e2 in stats.items() if s2 == s]
        above = sum(1 for e2 in same if e2 > e)
        size = out[(r, s)]["size"]
        assert (size["rank_in_sector"], size["regions_in_sector"]) == (above + 1, len(same))
        assert size["star"] == (e > 0 and above / len(same) < top)
        above_share = sum(1 for v in share.values() if v > share[(r, s)])
        focus = out[(r, s)]["focus"]
        assert (focus["rank"], focus["cells"]) == (above_share + 1, len(stats))
        assert focus["star"] == (share[(r, s)] > 0 and above_share / len(stats) < top)
