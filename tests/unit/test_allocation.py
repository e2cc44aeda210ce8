"""Allocation engine: validation, small worked cases, and properties on many random instances."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matching.games import StudentAllocation

from allocation.instance import InvalidInstance, parse
from allocation.optimal import optimal
from allocation.report import blocking_pairs, explain, report
from allocation.stable import stable

CLI = str(Path(sys.executable).parent / "clustergrowth")


def small() -> dict[str, Any]:
    return {
        "students": [
            {"id": "s1", "preferences": ["p1", "p2"]},
            {"id": "s2", "preferences": ["p1"]},
            {"id": "s3", "preferences": ["p1", "p2"]},
        ],
        "projects": [{"id": "p1", "capacity": 1, "supervisor": "l1"}, {"id": "p2", "capacity": 1, "supervisor": "l1"}],
        "supervisors": [{"id": "l1", "capacity": 2, "preferences": ["s3", "s1", "s2"]}],
    }


def test_stable_gives_the_popular_project_to_the_supervisors_favourite_and_explains() -> None:
    inst = parse(small())
    assigned = stable(inst)
    names = {inst.student_ids[s]: (inst.project_ids[j] if j is not None else None) for s, j in enumerate(assigned)}
    assert names == {"s3": "p1", "s1": "p2", "s2": None}
    assert blocking_pairs(inst, assigned) == []
    why = explain(inst, assigned, 0)
    assert why["project"] == "p2" and why["why_not"][0]["reason"].startswith("project full")


def test_optimal_matches_the_most_then_the_best_ranks() -> None:
    inst = parse(small())
    out = report(inst, optimal(inst), "optimal")
    assert out["metrics"]["matched"] == 2 and out["metrics"]["mean_rank"] == 1.5


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["students"].append({"id": "s1", "preferences": []}), "duplicate id 's1'"),
        (lambda d: d["students"][0]["preferences"].append("p9"), "unknown project 'p9'"),
        (lambda d: d["students"][0]["preferences"].append("p1"), "ranks project 'p1' twice"),
        (lambda d: d["projects"][0].update(capacity=0), "capacity must be a positive"),
        (lambda d: d["projects"][0].update(supervisor="l9"), "unknown supervisor 'l9'"),
        (lambda d: d["supervisors"][0]["preferences"].append("s7"), "unknown student 's7'"),
        (lambda d: d["students"][0]["preferences"].append({"id": "p1"}), "ids must be strings"),
        (lambda d: d.pop("projects"), "projects: must be a list"),
    ],
)
def test_malformed_instances_name_each_problem(mutate: Any, message: str) -> None:
    data = small()
    mutate(data)
    with pytest.raises(InvalidInstance) as e:
        parse(data)
    assert any(message in p for p in e.value.problems), e.value.problems


def test_every_problem_is_reported_at_once() -> None:
    data = small()
    data["projects"][0]["capacity"] = -1
    data["students"][1]["preferences"] = ["p1", "p1", "nope"]
    with pytest.raises(InvalidInstance) as e:
        parse(data)
    assert len(e.value.problems) == 3


def random_instance(seed: int, n: int) -> dict[str, Any]:
    rng = random.Random(seed)
    n_l, n_p = max(1, n // 6), max(1, n // 3)
    sups = [f"l{k}" for k in range(n_l)]
    projects = [{"id": f"p{j}", "capacity": rng.randint(1, 3), "supervisor": rng.choice(sups)} for j in range(n_p)]
    students = [
        {"id": f"s{i}", "preferences": rng.sample([p["id"] for p in projects], rng.randint(0, min(4, n_p)))}
        for i in range(n)
    ]
    supervisors = []
    for k in sups:
        ranked = [s["id"] for s in students]
        rng.shuffle(ranked)
        supervisors.append(
            {"id": k, "capacity": rng.randint(1, 5), "preferences": ranked[: rng.randint(0, len(ranked))]}
        )
    return {"students": students, "projects": projects, "supervisors": supervisors}


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 10**9), n=st.integers(1, 30))
def test_stable_has_no_blocking_pair_and_respects_capacities_optimal_matches_at_least_as_many(
    seed: int, n: int
) -> None:
    inst = parse(random_instance(seed, n))
    for assigned in (stable(inst), optimal(inst)):
        per_p = [0] * len(inst.project_ids)
        per_l = [0] * len(inst.supervisor_ids)
        for s, j in enumerate(assigned):
            if j is not None:
                assert j in inst.prefs[s]  # only acceptable projects
                per_p[j] += 1
                per_l[inst.project_supervisor[j]] += 1
        assert all(c <= cap for c, cap in zip(per_p, inst.project_capacity, strict=True))
        assert all(c <= cap for c, cap in zip(per_l, inst.supervisor_capacity, strict=True))
    s_assigned, o_assigned = stable(inst), optimal(inst)
    assert blocking_pairs(inst, s_assigned) == []
    assert sum(j is not None for j in o_assigned) >= sum(j is not None for j in s_assigned)
    # the supervisors' tie-break changes nothing the students care about, and never helps supervisors less
    t_assigned = optimal(inst, supervisor_ties=True)

    def totals(a: list[int | None]) -> tuple[int, int, int]:
        pairs = [(s, j) for s, j in enumerate(a) if j is not None]
        ranks = sum(inst.prefs[s].index(j) for s, j in pairs)
        sup = sum(inst.supervisor_rank[inst.project_supervisor[j]][s] for s, j in pairs)
        return len(pairs), ranks, sup

    (n_o, r_o, sup_o), (n_t, r_t, sup_t) = totals(o_assigned), totals(t_assigned)
    assert (n_t, r_t) == (n_o, r_o) and sup_t <= sup_o


# --- Independent judges -------------------------------------------------------------------------------
# The property above asks the product's own blocking_pairs whether the product's allocation is stable, so a
# wrong blocking_pairs (or a wrong stable() that it happens to agree with) would pass. The judges below
# take nothing from allocation but the allocation itself, read back as names:
#   * the `matching` package's student-optimal SPA solver, whose matching is unique (Abraham, Irving &
#     Manlove 2007: every student gets the best project they have in any stable matching), so the
#     product's stable allocation must equal it student by student;
#   * a blocking-pair check written here from the published definition, working on names and on the
#     instance's JSON (the supervisor's ranking completed as the instance format documents: students they
#     do not rank come after the ranked ones, in instance order).


def _supervisor_order(data: dict[str, Any]) -> dict[str, list[str]]:
    """Per supervisor: their ranking of every student, by the JSON rule (unranked applicants last)."""
    sup_of = {p["id"]: p["supervisor"] for p in data["projects"]}
    out = {}
    for lec in data["supervisors"]:
        ranked = list(lec["preferences"])
        applicants = [s["id"] for s in data["students"] if any(sup_of[p] == lec["id"] for p in s["preferences"])]
        out[lec["id"]] = ranked + [s for s in applicants if s not in ranked]
    return out


def _blocking_by_definition(data: dict[str, Any], allocation: dict[str, str | None]) -> set[tuple[str, str]]:
    """(student, project) pairs blocking `allocation`, straight from the SPA definition:
    s finds p acceptable, s is unassigned or prefers p to its project, and either
    (a) p and its supervisor l are both under-subscribed, or
    (b) p is under-subscribed, l is full, and s is already l's student or l prefers s to its worst student, or
    (c) p is full and l prefers s to the worst student on p."""
    sup_of = {p["id"]: p["supervisor"] for p in data["projects"]}
    p_cap = {p["id"]: p["capacity"] for p in data["projects"]}
    l_cap = {lec["id"]: lec["capacity"] for lec in data["supervisors"]}
    order = _supervisor_order(data)
    on_p = {p: [s for s, q in allocation.items() if q == p] for p in p_cap}
    of_l = {lec: [s for s, q in allocation.items() if q is not None and sup_of[q] == lec] for lec in l_cap}

    def prefers(lec: str, s: str, others: list[str]) -> bool:  # l ranks s above the worst of `others`
        return bool(others) and order[lec].index(s) < max(order[lec].index(t) for t in others)

    out = set()
    for st_ in data["students"]:
        s, prefs, mine = st_["id"], st_["preferences"], allocation[st_["id"]]
        for p in prefs if mine is None else prefs[: prefs.index(mine)]:
            lec = sup_of[p]
            p_under, l_full = len(on_p[p]) < p_cap[p], len(of_l[lec]) >= l_cap[lec]
            if (
                (p_under and not l_full)
                or (p_under and l_full and (s in of_l[lec] or prefers(lec, s, of_l[lec])))
                or (not p_under and prefers(lec, s, on_p[p]))
            ):
                out.add((s, p))
    return out


def _package_student_optimal(data: dict[str, Any]) -> dict[str, str | None]:
    """The `matching` package's student-optimal stable allocation of the same instance, by student name."""
    sup_of = {p["id"]: p["supervisor"] for p in data["projects"]}
    order = _supervisor_order(data)
    # the package wants no empty lists (it would index them) and supervisors ranking only their applicants
    student_prefs = {s["id"]: list(s["preferences"]) for s in data["students"] if s["preferences"]}
    supervisor_prefs = {
        lec: [s for s in ranked if any(sup_of[p] == lec for p in student_prefs.get(s, []))]
        for lec, ranked in order.items()
    }
    with warnings.catch_warnings():  # it warns about supervisors with spare capacity etc.; those are fine
        warnings.simplefilter("ignore")
        game = StudentAllocation.create_from_dictionaries(
            student_prefs,
            supervisor_prefs,
            sup_of,
            {p["id"]: p["capacity"] for p in data["projects"]},
            {lec["id"]: lec["capacity"] for lec in data["supervisors"]},
        )
        solved = game.solve(optimal="student")
        assert game.check_validity() and game.check_stability()
    out: dict[str, str | None] = {s["id"]: None for s in data["students"]}
    for project, students in solved.items():
        for student in students:
            out[student.name] = project.name
    return out


def _by_name(inst: Any, assigned: list[int | None]) -> dict[str, str | None]:
    return {inst.student_ids[s]: (inst.project_ids[j] if j is not None else None) for s, j in enumerate(assigned)}


def test_the_independent_judges_agree_on_the_worked_case() -> None:
    data = small()
    assert _package_student_optimal(data) == {"s1": "p2", "s2": None, "s3": "p1"}
    # everyone unassigned: s1, s2 and s3 all block with p1, and s1, s3 with p2 (p, l under-subscribed)
    nobody: dict[str, str | None] = {"s1": None, "s2": None, "s3": None}
    assert _blocking_by_definition(data, nobody) == {
        ("s1", "p1"),
        ("s2", "p1"),
        ("s3", "p1"),
        ("s1", "p2"),
        ("s3", "p2"),
    }
    # s1 on p1 (full) and s3 on p2: l1 is full (2) and ranks s3 above s1, so (s3, p1) blocks by (c) only
    assert _blocking_by_definition(data, {"s1": "p1", "s2": None, "s3": "p2"}) == {("s3", "p1")}


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 10**9), n=st.integers(1, 12))
def test_stable_is_the_student_optimal_allocation_the_matching_package_finds(seed: int, n: int) -> None:
    data = random_instance(seed, n)
    inst = parse(data)
    ours = _by_name(inst, stable(inst))
    assert ours == _package_student_optimal(data)
    assert _blocking_by_definition(data, ours) == set()


def random_allocation(data: dict[str, Any], rng: random.Random) -> dict[str, str | None]:
    """Any feasible allocation (acceptable projects, capacities kept), usually far from stable."""
    sup_of = {p["id"]: p["supervisor"] for p in data["projects"]}
    p_left = {p["id"]: p["capacity"] for p in data["projects"]}
    l_left = {lec["id"]: lec["capacity"] for lec in data["supervisors"]}
    out: dict[str, str | None] = {}
    students = list(data["students"])
    rng.shuffle(students)
    for s in students:
        open_ = [p for p in s["preferences"] if p_left[p] and l_left[sup_of[p]]]
        pick = rng.choice(open_) if open_ and rng.random() < 0.7 else None
        out[s["id"]] = pick
        if pick is not None:
            p_left[pick] -= 1
            l_left[sup_of[pick]] -= 1
    return out


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 10**9), n=st.integers(1, 12))
def test_blocking_pairs_finds_exactly_the_pairs_the_definition_finds(seed: int, n: int) -> None:
    data = random_instance(seed, n)
    inst = parse(data)
    p_index = {p: j for j, p in enumerate(inst.project_ids)}
    rng = random.Random(seed)
    for allocation in [random_allocation(data, rng) for _ in range(3)] + [_by_name(inst, stable(inst))]:
        assigned = [p_index[p] if p is not None else None for p in (allocation[s] for s in inst.student_ids)]
        found = {(inst.student_ids[s], inst.project_ids[j]) for s, j in blocking_pairs(inst, assigned)}
        assert found == _blocking_by_definition(data, allocation), allocation


def test_blocking_pair_check_can_fail() -> None:
    inst = parse(small())
    assert blocking_pairs(inst, [None, None, None])  # everyone unassigned: s1 and p1 block


def test_allocate_command(tmp_path: Path) -> None:
    path = tmp_path / "instance.json"
    path.write_text(json.dumps(small()))
    out = subprocess.run([CLI, "allocate", str(path), "--mode", "stable"], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["assignments"] == [{"student": "s1", "project": "p2"}, {"student": "s3", "project": "p1"}]
    assert result["unassigned"] == ["s2"] and result["metrics"]["blocking_pairs"] == 0
    bad = small()
    bad["projects"][0]["capacity"] = 0
    path.write_text(json.dumps(bad))
    out = subprocess.run([CLI, "allocate", str(path), "--mode", "optimal"], capture_output=True, text=True)
    assert out.returncode == 2 and "capacity must be a positive" in out.stderr and out.stdout == ""
