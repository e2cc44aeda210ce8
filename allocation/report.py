"""Metrics, blocking pairs and per-student explanations for an allocation."""

from __future__ import annotations

from collections import Counter
from statistics import fmean
from typing import Any

from allocation.instance import Instance


def blocking_pairs(inst: Instance, assigned: list[int | None]) -> list[tuple[int, int]]:
    """Pairs (student, project) that would both rather be together (SPA stability, Abraham et al.)."""
    sup, rank = inst.project_supervisor, inst.supervisor_rank
    in_p: list[list[int]] = [[] for _ in inst.project_ids]
    in_l: list[list[int]] = [[] for _ in inst.supervisor_ids]
    for s, j in enumerate(assigned):
        if j is not None:
            in_p[j].append(s)
            in_l[sup[j]].append(s)
    worst_p = [max((rank[sup[j]][t] for t in in_p[j]), default=-1) for j in range(len(in_p))]
    worst_l = [max((rank[k][t] for t in in_l[k]), default=-1) for k in range(len(in_l))]
    out = []
    for s, row in enumerate(inst.prefs):
        current = assigned[s]
        for j in row:
            if j == current:
                break  # only projects s prefers to its own
            k = sup[j]
            p_full = len(in_p[j]) >= inst.project_capacity[j]
            l_full = len(in_l[k]) >= inst.supervisor_capacity[k]
            r = rank[k][s]
            if not p_full and not l_full:
                out.append((s, j))
            elif not p_full and l_full and ((current is not None and sup[current] == k) or r < worst_l[k]):
                out.append((s, j))
            elif p_full and r < worst_p[j]:
                out.append((s, j))
    return out


def report(inst: Instance, assigned: list[int | None], mode: str) -> dict[str, Any]:
    """The allocation as JSON: assignments, unassigned, metrics and an explanation per student."""
    ranks = [inst.prefs[s].index(j) + 1 for s, j in enumerate(assigned) if j is not None]
    blocking = blocking_pairs(inst, assigned)
    matched = [(s, j) for s, j in enumerate(assigned) if j is not None]
    known = [(s, j) for s, j in matched if inst.student_region[s] and inst.project_region[j]]
    cross = sum(1 for s, j in known if inst.student_region[s] != inst.project_region[j])
    return {
        "mode": mode,
        "assignments": [{"student": inst.student_ids[s], "project": inst.project_ids[j]} for s, j in matched],
        "unassigned": [inst.student_ids[s] for s, j in enumerate(assigned) if j is None],
        "metrics": {
            "students": len(assigned),
            "matched": len(matched),
            "mean_rank": round(fmean(ranks), 4) if ranks else None,
            "rank_distribution": {str(r): n for r, n in sorted(Counter(ranks).items())},
            "blocking_pairs": len(blocking),
            "cross_border_share": round(cross / len(known), 4) if known else None,
        },
    }


def explain_all(inst: Instance, assigned: list[int | None]) -> list[dict[str, Any]]:
    """For every student: why this project, and why not each one they ranked higher.

    Who holds each project and each supervisor's places is computed once, so explaining a whole
    allocation costs about as much as reading every preference list.
    """
    sup, rank = inst.project_supervisor, inst.supervisor_rank
    worst_p: list[int] = [-1] * len(inst.project_ids)  # the supervisor's worst-ranked student on it
    worst_l: list[int] = [-1] * len(inst.supervisor_ids)
    held_p: list[int] = [0] * len(inst.project_ids)
    held_l: list[int] = [0] * len(inst.supervisor_ids)
    for t, x in enumerate(assigned):
        if x is not None:
            k = sup[x]
            held_p[x] += 1
            held_l[k] += 1
            worst_p[x] = max(worst_p[x], rank[k][t])
            worst_l[k] = max(worst_l[k], rank[k][t])
    out = []
    for s, j in enumerate(assigned):
        e: dict[str, Any] = {
            "student": inst.student_ids[s],
            "project": inst.project_ids[j] if j is not None else None,
            "rank": inst.prefs[s].index(j) + 1 if j is not None else None,
            "why_not": [],
        }
        for p in inst.prefs[s]:
            if p == j:
                break
            k = sup[p]
            if held_p[p] >= inst.project_capacity[p] and worst_p[p] < rank[k][s]:
                reason = f"project full: its supervisor ranks all {held_p[p]} students on it above you"
            elif held_l[k] >= inst.supervisor_capacity[k] and worst_l[k] < rank[k][s]:
                reason = f"supervisor full: they rank all {held_l[k]} of their students above you"
            else:
                reason = "placing you there would have matched fewer students or raised the total rank"
            e["why_not"].append({"project": inst.project_ids[p], "reason": reason})
        out.append(e)
    return out


def explain(inst: Instance, assigned: list[int | None], s: int) -> dict[str, Any]:
    """Why this project, and why not each one the student ranked higher."""
    return explain_all(inst, assigned)[s]
