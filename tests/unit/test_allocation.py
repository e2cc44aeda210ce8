"""Allocation engine: validation, small worked cases, and properties on many random instances."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.matching.allocation.instance import InvalidInstance, parse
from services.matching.allocation.optimal import optimal
from services.matching.allocation.report import blocking_pairs, explain, report
from services.matching.allocation.stable import stable

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
