"""The allocation engine's rules on small instances worked by hand: each malformed part named exactly
(one problem at a time), the supervisor tie-break of the optimal allocation, and the report and the
per-student explanations of a hand-made allocation (every reason and count written out)."""

from __future__ import annotations

from typing import Any

import pytest

from allocation.instance import InvalidInstance, parse
from allocation.optimal import optimal
from allocation.report import explain_all, report

# -- parse: each problem alone, by its exact text ----------------------------------------------


def valid() -> dict[str, Any]:
    return {
        "students": [{"id": "s1", "preferences": ["p1"]}],
        "projects": [{"id": "p1", "capacity": 1, "supervisor": "l1"}],
        "supervisors": [{"id": "l1", "capacity": 1, "preferences": ["s1"]}],
    }


def problems(data: Any) -> list[str]:
    with pytest.raises(InvalidInstance) as e:
        parse(data)
    assert str(e.value) == "; ".join(e.value.problems)
    return e.value.problems


def test_not_an_object_at_all() -> None:
    assert problems([]) == ["the instance must be a JSON object with students, projects, supervisors"]


@pytest.mark.parametrize(
    ("student", "expected"),
    [
        ("s1", ["students[0]: needs a non-empty string id"]),  # not an object
        ({"id": 5, "preferences": ["p1"]}, ["students[0]: needs a non-empty string id"]),  # not a string
        (
            {"id": "", "preferences": ["p9"]},
            ["students[0]: needs a non-empty string id", "student #students0: unknown project 'p9'"],
        ),
        ({"id": "s1", "preferences": "p1"}, ["student s1: preferences must be a list"]),
    ],
    ids=["not-an-object", "number-id", "empty-id", "preferences-not-a-list"],
)
def test_a_bad_student_is_named(student: Any, expected: list[str]) -> None:
    data = valid()
    data["students"] = [student]
    data["supervisors"][0]["preferences"] = []
    assert problems(data) == expected


def test_a_bad_id_does_not_stop_the_check_of_the_ones_after_it() -> None:
    data = valid()
    data["students"] = [7, {"id": "s1", "preferences": ["p1"]}, {"id": "s1", "preferences": []}]
    assert problems(data) == ["students[0]: needs a non-empty string id", "students[2]: duplicate id 's1'"]


def test_a_project_that_is_not_an_object() -> None:
    data = valid()
    data["projects"] = ["p1"]
    assert problems(data) == [
        "projects[0]: needs a non-empty string id",
        "student s1: unknown project 'p1'",
        "project #projects0: capacity must be a positive whole number, got None",
        "project #projects0: unknown supervisor None",
    ]


def test_a_supervisor_that_is_not_an_object() -> None:
    data = valid()
    data["supervisors"] = ["l1"]
    assert problems(data) == [
        "supervisors[0]: needs a non-empty string id",
        "project p1: unknown supervisor 'l1'",
        "supervisor #supervisors0: capacity must be a positive whole number, got None",
    ]


def test_a_supervisors_ranking_problem_is_named_after_the_supervisor() -> None:
    data = valid()
    data["supervisors"][0]["preferences"] = ["s1", "s7", "s1"]
    assert problems(data) == ["supervisor l1: unknown student 's7'", "supervisor l1: ranks student 's1' twice"]


def test_no_supervisors_at_all_names_the_project_s_unknown_supervisor() -> None:
    data = valid()
    data["supervisors"] = []
    assert problems(data) == ["project p1: unknown supervisor 'l1'"]


@pytest.mark.parametrize("capacity", [True, False, "2", 0, -1, 1.5, None])
def test_a_capacity_must_be_a_positive_whole_number(capacity: Any) -> None:
    for part, owner in (("projects", "project p1"), ("supervisors", "supervisor l1")):
        data = valid()
        data[part][0]["capacity"] = capacity
        assert problems(data) == [f"{owner}: capacity must be a positive whole number, got {capacity!r}"]


def test_missing_or_null_preferences_are_an_empty_list_and_regions_are_kept() -> None:
    data = valid()
    data["students"] = [{"id": "s1", "preferences": None, "region": "IE05"}, {"id": "s2"}]
    data["projects"][0]["region"] = "ITH5"
    data["supervisors"][0]["preferences"] = None
    inst = parse(data)
    assert (inst.prefs, inst.supervisor_rank) == ([[], []], [{}])
    assert (inst.student_region, inst.project_region) == (["IE05", None], ["ITH5"])


# -- optimal: the supervisors' rankings ---------------------------------------------------------


def two_for_one(favourite: str) -> dict[str, Any]:
    other = "s2" if favourite == "s1" else "s1"
    return {
        "students": [{"id": "s1", "preferences": ["p1"]}, {"id": "s2", "preferences": ["p1"]}],
        "projects": [{"id": "p1", "capacity": 1, "supervisor": "l1"}],
        "supervisors": [{"id": "l1", "capacity": 1, "preferences": [favourite, other]}],
    }


def test_by_default_optimal_does_not_look_at_the_supervisors_rankings() -> None:
    a, b = parse(two_for_one("s1")), parse(two_for_one("s2"))
    assert optimal(a) == optimal(b)  # the same costs, so the same answer whoever the favourite is
    assert (optimal(a, supervisor_ties=True), optimal(b, supervisor_ties=True)) == ([0, None], [None, 0])


def test_a_supervisors_favourite_never_outweighs_a_students_better_rank() -> None:
    # s0 ranks A then B, s1 ranks B then A: both first choices (total rank 2) beat the swap (total 4).
    # A's supervisor X prefers s1 and B's supervisor Y prefers s0, so the swap is what the supervisors
    # would like; ties only break among allocations of equal total student rank.
    data = {
        "students": [{"id": "s0", "preferences": ["A", "B"]}, {"id": "s1", "preferences": ["B", "A"]}],
        "projects": [{"id": "A", "capacity": 1, "supervisor": "X"}, {"id": "B", "capacity": 1, "supervisor": "Y"}],
        "supervisors": [
            {"id": "X", "capacity": 1, "preferences": ["s1", "s0"]},
            {"id": "Y", "capacity": 1, "preferences": ["s0", "s1"]},
        ],
    }
    assert optimal(parse(data), supervisor_ties=True) == [0, 1]
    assert optimal(parse(data)) == [0, 1]


# -- report and explanations of a hand-made allocation ------------------------------------------
# L1 (capacity 1) ranks a, b; its projects P1 and P2 take 1 each.          a on P1; b nowhere
# L2 (capacity 2) ranks c, d, e; Q1 takes 2 and Q2 takes 1.                c and d on Q1; e nowhere
# L3 (capacity 3) ranks f, g, h; R1 and R2 take 2 each.                    f on R1, g on R2; h nowhere
# L4 (capacity 1) ranks i; S1 and S2 take 1 each.                          i on S2 (it wanted S1)
CASE: dict[str, Any] = {
    "students": [
        {"id": "a", "preferences": ["P1"], "region": "IE05"},
        {"id": "b", "preferences": ["P2"]},
        {"id": "c", "preferences": ["Q1"], "region": "ITH5"},
        {"id": "d", "preferences": ["Q1"]},
        {"id": "e", "preferences": ["Q1", "Q2"]},
        {"id": "f", "preferences": ["R1"], "region": "IE05"},
        {"id": "g", "preferences": ["R1", "R2"], "region": "IE05"},
        {"id": "h", "preferences": ["R1"]},
        {"id": "i", "preferences": ["S1", "S2"]},
    ],
    "projects": [
        {"id": "P1", "capacity": 1, "supervisor": "L1", "region": "IE05"},
        {"id": "P2", "capacity": 1, "supervisor": "L1"},
        {"id": "Q1", "capacity": 2, "supervisor": "L2", "region": "IE05"},
        {"id": "Q2", "capacity": 1, "supervisor": "L2"},
        {"id": "R1", "capacity": 2, "supervisor": "L3"},
        {"id": "R2", "capacity": 2, "supervisor": "L3", "region": "FR10"},
        {"id": "S1", "capacity": 1, "supervisor": "L4"},
        {"id": "S2", "capacity": 1, "supervisor": "L4"},
    ],
    "supervisors": [
        {"id": "L1", "capacity": 1, "preferences": ["a", "b"]},
        {"id": "L2", "capacity": 2, "preferences": ["c", "d", "e"]},
        {"id": "L3", "capacity": 3, "preferences": ["f", "g", "h"]},
        {"id": "L4", "capacity": 1, "preferences": ["i"]},
    ],
}
#            a  b     c  d  e     f  g  h     i
ASSIGNED = [0, None, 2, 2, None, 4, 5, None, 7]
PLACING = "placing you there would have matched fewer students or raised the total rank"


def test_each_why_not_names_the_rule_that_kept_the_student_out() -> None:
    why = {e["student"]: e["why_not"] for e in explain_all(parse(CASE), ASSIGNED)}
    assert why == {
        "a": [],
        # P2 has room, but L1's one place holds a, whom L1 ranks above b
        "b": [{"project": "P2", "reason": "supervisor full: they rank all 1 of their students above you"}],
        "c": [],
        "d": [],
        "e": [
            # Q1 holds exactly its 2, both ranked above e
            {"project": "Q1", "reason": "project full: its supervisor ranks all 2 students on it above you"},
            # Q2 is empty, but L2 holds exactly its 2 (c and d), both ranked above e
            {"project": "Q2", "reason": "supervisor full: they rank all 2 of their students above you"},
        ],
        "f": [],
        # R1 has a place left and L3 too: neither is full, whoever they hold
        "g": [{"project": "R1", "reason": PLACING}],
        "h": [{"project": "R1", "reason": PLACING}],
        # L4 is full, but with i itself: moving i to S1 was possible
        "i": [{"project": "S1", "reason": PLACING}],
    }


def test_the_report_of_the_hand_made_allocation() -> None:
    out = report(parse(CASE), ASSIGNED, "optimal")
    assert out["mode"] == "optimal"
    assert out["assignments"] == [
        {"student": "a", "project": "P1"},
        {"student": "c", "project": "Q1"},
        {"student": "d", "project": "Q1"},
        {"student": "f", "project": "R1"},
        {"student": "g", "project": "R2"},
        {"student": "i", "project": "S2"},
    ]
    assert out["unassigned"] == ["b", "e", "h"]
    assert out["metrics"] == {
        "students": 9,
        "matched": 6,
        "mean_rank": 1.3333,  # ranks 1, 1, 1, 1, 2, 2: 8 / 6
        "rank_distribution": {"1": 4, "2": 2},
        # (g, R1) and (h, R1): neither R1 nor L3 is full; (i, S1): L4 is full but with i itself
        "blocking_pairs": 3,
        # regions known on both sides: a-P1 (same), c-Q1 (cross), g-R2 (cross); d-Q1 and f-R1 half-known
        "cross_border_share": 0.6667,
    }


def test_no_region_known_on_both_sides_has_no_cross_border_share() -> None:
    data = valid()
    data["students"][0]["region"] = "IE05"  # the project's region is unknown
    assert report(parse(data), [0], "stable")["metrics"]["cross_border_share"] is None
