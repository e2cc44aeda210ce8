"""Mapping rules worked by hand on small cases: cluster needs and spotlight with the rounding visible,
stars of cells with no employment, the instrument's 422 reasons and its data, code lists, quarters.

Each expected number is computed in the comment beside it, not by the code under test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from clustergrowth.problems import Unprocessable
from services.mapping.domain import aggregates as ag
from services.mapping.domain.cluster import Cell, SmeSummary, strengths
from services.mapping.domain.codes import DATA, code_lists
from services.mapping.domain.instrument import INSTRUMENTS, instrument, latest
from services.mapping.domain.model import quarter

# -- a cell's needs and the spotlight, read from aggregates of these SMEs' summaries, as the projection
# keeps them (each SME added to its cell's aggregate, and to its councils' share of it) -----------------


def cell_needs(smes: list[SmeSummary], dimensions: list[str]) -> dict[str, Any]:
    agg = ag.Agg()
    for s in smes:
        agg.add(s)
    return agg.needs(dimensions)


def spotlight(cells: dict[Cell, list[SmeSummary]], dimensions: list[str], **kw: Any) -> dict[str, Any]:
    aggs: dict[Cell, ag.CellAgg] = {}
    for c, smes in cells.items():
        cell = aggs[c] = ag.CellAgg()
        for s in smes:
            cell.add(s)
    return ag.spotlight(aggs, dimensions, **kw)


def test_cell_needs_of_three_assessed_smes_rounds_to_three_digits() -> None:
    smes: list[SmeSummary] = [
        {
            "latest": {"scores": {"a": 1.0, "b": 2.0, "c": 5.0, "d": 4.0}, "top3": ["a", "b", "c", "d"]},
            "history": [{"quarter": "2026Q2", "mean": 3.0}, {"quarter": "2026Q1", "mean": 2.0}],
        },
        {
            "latest": {"scores": {"a": 2.0, "b": 2.0, "c": 4.0, "d": 3.0}, "top3": ["b", "a", "d"]},
            "history": [{"quarter": "2026Q2", "mean": 2.0}],
        },
        {
            "latest": {"scores": {"a": 2.0, "b": 3.0, "c": 4.0, "d": 3.0}, "top3": ["a", "c", "b"]},
            "history": [{"quarter": "2026Q2", "mean": 3.0}],
        },
        {"headcount": 4},  # registered, never assessed: no "latest", no "history"
    ]
    assert cell_needs(smes, ["a", "b", "c", "d"]) == {
        "smes": 4,
        "assessed_smes": 3,
        "assessments": 4,
        # a (1+2+2)/3 = 1.6667, b (2+2+3)/3 = 2.3333, c (5+4+4)/3 = 4.3333, d (4+3+3)/3 = 3.3333
        "mean_scores": {"a": 1.667, "b": 2.333, "c": 4.333, "d": 3.333},
        # only the first three of "top3" count: the first SME's fourth ("d") does not; d 1/3, c 2/3
        "top3_share": {"a": 1.0, "b": 1.0, "c": 0.667, "d": 0.333},
        # 2026Q2 (3+2+3)/3 = 2.6667; quarters in order
        "trend": {"2026Q1": 2.0, "2026Q2": 2.667},
    }


def test_cell_needs_of_no_assessed_sme_has_counts_only() -> None:
    assert cell_needs([{"latest": None}], ["a"]) == {
        "smes": 1,
        "assessed_smes": 0,
        "assessments": 0,
        "mean_scores": {},
        "top3_share": {},
        "trend": {},
    }


# -- spotlight ---------------------------------------------------------------------------------
# Network of five assessed SMEs, network means a (2+2+4+2.75+4.25)/5 = 3.0 and b (3+3+2.5+3.5+3)/5 = 3.0;
# top-3 shares a 4/5 = 0.8 (all but S6), b 4/5 = 0.8 (all but S1).


def sme(a: float, b: float, top3: list[str], councils: list[str] | None = None) -> SmeSummary:
    s: SmeSummary = {"latest": {"scores": {"a": a, "b": b}, "top3": top3}}
    if councils is not None:
        s["councils"] = councils
    return s


S1 = sme(2.0, 3.0, ["a"], ["Cork"])
S2 = sme(2.0, 3.0, ["a", "b"], ["Cork", "Kerry"])
S3 = sme(4.0, 2.5, ["b", "a"], ["Kerry"])
S6 = sme(2.75, 3.5, ["b"], ["Cork"])
S4 = sme(4.25, 3.0, ["b", "a"])  # no "councils" at all
S5: SmeSummary = {"latest": None}  # registered, not assessed, no councils
CELLS: dict[tuple[str, str], list[SmeSummary]] = {
    ("IE05", "C28"): [S1, S2, S5],  # a 2.0 (gap -1.0: stands out), b 3.0 (gap 0)
    ("IE05", "C26"): [S3],  # a 4.0 (gap +1.0), b 2.5 (gap -0.5: exactly at the threshold, stands out)
    ("IE05", "C10"): [S6],  # a 2.75 (gap -0.25: just inside, not a standout), b 3.5 (gap +0.5)
    ("ITH5", "C28"): [S4],
}
C28_A = {
    "region": "IE05",
    "sector": "C28",
    "dimension": "a",
    "mean_maturity": 2.0,
    "network_mean_maturity": 3.0,
    "gap": -1.0,
}
C26_B = {
    "region": "IE05",
    "sector": "C26",
    "dimension": "b",
    "mean_maturity": 2.5,
    "network_mean_maturity": 3.0,
    "gap": -0.5,
}


def test_spotlight_of_a_region_by_hand() -> None:
    # IE05: S1 S2 S3 S5 S6 (4 assessed). a (2+2+4+2.75)/4 = 2.6875 -> 2.688; b (3+3+2.5+3.5)/4 = 3.0
    # top-3 shares among the four: a S1 S2 S3 = 0.75, b S2 S3 S6 = 0.75
    assert spotlight(CELLS, ["a", "b"], region="IE05") == {
        "region": "IE05",
        "council": None,
        "smes": 5,
        "assessed_smes": 4,
        "needs": [
            {
                "dimension": "a",
                "mean_maturity": 2.688,
                "network_mean_maturity": 3.0,
                "gap_to_network": -0.312,
                "top3_share": 0.75,
                "network_top3_share": 0.8,
            },
            {
                "dimension": "b",
                "mean_maturity": 3.0,
                "network_mean_maturity": 3.0,
                "gap_to_network": 0.0,
                "top3_share": 0.75,
                "network_top3_share": 0.8,
            },
        ],
        "standouts": [C28_A, C26_B],  # most negative gap first
    }


def test_spotlight_of_a_council_counts_only_its_smes_and_tolerates_smes_without_councils() -> None:
    # Kerry: S2 (IE05 C28) and S3 (IE05 C26). a (2+4)/2 = 3.0, b (3+2.5)/2 = 2.75: b is the greater need
    out = spotlight(CELLS, ["a", "b"], council="Kerry")
    assert (out["region"], out["council"], out["smes"], out["assessed_smes"]) == (None, "Kerry", 2, 2)
    assert [(n["dimension"], n["mean_maturity"], n["gap_to_network"]) for n in out["needs"]] == [
        ("b", 2.75, -0.25),
        ("a", 3.0, 0.0),
    ]
    assert out["standouts"] == [C28_A, C26_B]  # S2 alone in C28 has a 2.0; S3 alone in C26 has b 2.5
    nobody = spotlight(CELLS, ["a", "b"], region="ITH5", council="Cork")  # S4 is in ITH5 but in no council
    assert (nobody["smes"], nobody["needs"], nobody["standouts"]) == (0, [], [])


def test_a_stricter_stand_out_keeps_only_the_larger_gap() -> None:
    out = spotlight(CELLS, ["a", "b"], region="IE05", stand_out=1.0)
    assert out["standouts"] == [C28_A]  # -1.0 is at the stricter threshold; -0.5 is not


# -- strengths: cells of one source, and regions or sectors with no employment -----------------


def test_a_cell_known_from_one_source_counts_zero_from_the_other() -> None:
    # A-Y only from registered SMEs, the others only from statistics.
    # Employment: A-X 200, A-Y 100, B-X 100, B-Y 200 (total 600; each region 300, each sector 300)
    s = strengths({("A", "Y"): 100}, {("A", "X"): 200, ("B", "X"): 100, ("B", "Y"): 200})
    assert s[("A", "Y")]["employment"] == {"statistics": 0, "smes": 100, "total": 100}
    assert s[("B", "X")]["employment"] == {"statistics": 100, "smes": 0, "total": 100}
    # A-X: share of region 200/300 = 0.66667 -> 0.6667; LQ (200/300)/(300/600) = 1.33333 -> 1.3333
    ax = s[("A", "X")]
    assert (ax["focus"]["share_of_region"], ax["specialisation"]["location_quotient"]) == (0.6667, 1.3333)
    # A-Y: share 100/300 -> 0.3333; LQ (1/3)/(1/2) = 0.66667 -> 0.6667
    ay = s[("A", "Y")]
    assert (ay["focus"]["share_of_region"], ay["specialisation"]["location_quotient"]) == (0.3333, 0.6667)
    assert ay["specialisation"]["cell_employment"] == 100


def test_a_region_and_a_sector_with_no_employment_have_zero_share_and_quotient() -> None:
    # A-X 100, A-Y 0, B-X 0: region B and sector Y employ nobody (total 100)
    s = strengths({}, {("A", "X"): 100, ("A", "Y"): 0, ("B", "X"): 0})
    bx, ay, ax = s[("B", "X")], s[("A", "Y")], s[("A", "X")]
    assert (bx["focus"]["share_of_region"], bx["specialisation"]["location_quotient"]) == (0.0, 0.0)
    assert (ay["focus"]["share_of_region"], ay["specialisation"]["location_quotient"]) == (0.0, 0.0)
    assert (ax["focus"]["share_of_region"], ax["specialisation"]["location_quotient"]) == (1.0, 1.0)
    assert (bx["stars"], ay["stars"]) == (0, 0)


def test_a_map_with_no_employment_at_all_has_no_stars() -> None:
    s = strengths({}, {("A", "X"): 0, ("B", "Y"): 0})
    for cell in (("A", "X"), ("B", "Y")):
        assert s[cell]["stars"] == 0
        assert (s[cell]["focus"]["share_of_region"], s[cell]["specialisation"]["location_quotient"]) == (0.0, 0.0)
        assert s[cell]["specialisation"]["total_employment"] == 0


# -- the instrument ----------------------------------------------------------------------------


def test_each_bad_answer_has_its_reason_and_the_detail_counts_them() -> None:
    answers: dict[str, Any] = {q: 3 for q in instrument("1").question_ids}
    del answers["talent-2"]
    answers["finance-1"] = 2.5
    answers["finance-2"] = True  # a boolean is not a whole number either
    with pytest.raises(Unprocessable) as e:
        instrument("1").validate(answers)
    assert e.value.extensions["errors"] == [
        {"field": "answers.talent-2", "reason": "missing answer"},
        {"field": "answers.finance-1", "reason": "must be a whole number"},
        {"field": "answers.finance-2", "reason": "must be a whole number"},
    ]
    assert e.value.detail == "3 answer(s) do not fit instrument version 1"


def test_an_instrument_keeps_its_files_version_title_texts_and_raw_document() -> None:
    raw = json.loads((INSTRUMENTS / "v2.json").read_text())
    inst = instrument("2")
    assert (inst.version, inst.title, inst.raw) == ("2", raw["title"], raw)
    first = raw["dimensions"][0]
    assert (inst.dimensions[0].id, inst.dimensions[0].name) == (first["id"], first["name"])
    q = first["questions"][0]
    assert (inst.dimensions[0].questions[0].id, inst.dimensions[0].questions[0].text) == (q["id"], q["text"])


def test_latest_is_the_highest_numbered_version_file() -> None:
    highest = max(int(p.stem[1:]) for p in INSTRUMENTS.glob("v*.json") if p.stem[1:].isdigit())  # not v2.fr.json
    assert highest >= 2  # with one file, "latest" could not be told from "first"
    assert latest().version == str(highest)


def test_a_region_name_is_read_from_the_code_list() -> None:
    nuts = json.loads((DATA / "nuts2021.json").read_text())
    assert code_lists().region_name("IE05") == nuts["regions"]["IE05"]["name"] == "Southern"


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-01-01T00:00:00Z", "2026Q1"),
        ("2026-03-31T23:59:59Z", "2026Q1"),
        ("2026-04-01T00:00:00Z", "2026Q2"),
        ("2026-07-15T00:00:00Z", "2026Q3"),
        ("2026-10-01T00:00:00Z", "2026Q4"),
        ("2026-12-31T00:00:00Z", "2026Q4"),
    ],
)
def test_quarter_at_the_first_and_last_month_of_each(stamp: str, expected: str) -> None:
    assert quarter(stamp) == expected


@pytest.mark.parametrize("version", ["1", "2"])
def test_an_instrument_carries_every_field_of_its_data_file(version: str) -> None:
    """Read back against the file itself (json, not the loader): version, title, scale, top needs,
    each dimension's id and name, each question's id, text and weight, and the raw document."""
    raw = json.loads((INSTRUMENTS / f"v{version}.json").read_text())
    got = instrument(version)
    assert (got.version, got.title, got.raw) == (str(raw["version"]), raw["title"], raw)
    assert (got.scale_min, got.scale_max, got.top_needs) == (
        raw["scale"]["min"],
        raw["scale"]["max"],
        raw["scoring"]["top_needs"],
    )
    assert [(d.id, d.name) for d in got.dimensions] == [(d["id"], d["name"]) for d in raw["dimensions"]]
    assert [[(q.id, q.text, q.weight) for q in d.questions] for d in got.dimensions] == [
        [(q["id"], q["text"], float(q["weight"])) for q in d["questions"]] for d in raw["dimensions"]
    ]


def test_latest_is_the_highest_version_of_the_files() -> None:
    highest = max(int(p.stem[1:]) for p in INSTRUMENTS.glob("v*.json") if p.stem[1:].isdigit())  # not v2.fr.json
    assert latest().version == str(highest) == "2"
