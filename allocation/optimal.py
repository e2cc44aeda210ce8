"""Maximum number matched, then minimum total preference rank: a min-cost maximum flow (OR-Tools).

source -> student (1) -> project (1) -> supervisor (project capacity) -> sink (supervisor capacity).
The cost of student s on project j is their rank of j. With ``supervisor_ties`` it is
``rank * M + supervisor_rank(s)``, M larger than any sum of supervisor ranks, so among the allocations
with the most students matched and the least total student rank the supervisors' favourites win
(exact, and about 1.5x slower: the solver's cost range grows). Not necessarily stable, which the
metrics report. The graph is handed to the solver as arrays in one call; flows are read back so too.
"""

from __future__ import annotations

from itertools import chain

import numpy as np
from ortools.graph.python import min_cost_flow

from allocation.instance import Instance


def optimal(inst: Instance, *, supervisor_ties: bool = False) -> list[int | None]:
    n_s, n_p, n_l = len(inst.student_ids), len(inst.project_ids), len(inst.supervisor_ids)
    source, sink = n_s + n_p + n_l, n_s + n_p + n_l + 1
    lengths = np.fromiter(map(len, inst.prefs), dtype=np.int64, count=n_s)
    n_pref = int(lengths.sum())
    starts = np.cumsum(lengths) - lengths
    pref_student = np.repeat(np.arange(n_s, dtype=np.int64), lengths)
    pref_project = np.fromiter(chain.from_iterable(inst.prefs), dtype=np.int64, count=n_pref)
    pref_rank = np.arange(n_pref, dtype=np.int64) - np.repeat(starts, lengths) + 1
    costs_pref = pref_rank
    if supervisor_ties and n_pref:
        sup, srank = inst.project_supervisor, inst.supervisor_rank
        sup_rank = np.fromiter(
            (srank[sup[j]][s] for s, p in enumerate(inst.prefs) for j in p), dtype=np.int64, count=n_pref
        )
        costs_pref = pref_rank * ((int(sup_rank.max()) + 1) * n_s) + sup_rank
    tails = np.concatenate(
        [
            np.full(n_s, source, dtype=np.int64),
            pref_student,
            n_s + np.arange(n_p, dtype=np.int64),
            n_s + n_p + np.arange(n_l, dtype=np.int64),
        ]
    )
    heads = np.concatenate(
        [
            np.arange(n_s, dtype=np.int64),
            n_s + pref_project,
            n_s + n_p + np.asarray(inst.project_supervisor, dtype=np.int64),
            np.full(n_l, sink, dtype=np.int64),
        ]
    )
    capacities = np.concatenate(
        [
            np.ones(n_s + n_pref, dtype=np.int64),
            np.asarray(inst.project_capacity, dtype=np.int64),
            np.asarray(inst.supervisor_capacity, dtype=np.int64),
        ]
    )
    costs = np.concatenate([np.zeros(n_s, dtype=np.int64), costs_pref, np.zeros(n_p + n_l, dtype=np.int64)])
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = flow.add_arcs_with_capacity_and_unit_cost(tails, heads, capacities, costs)
    flow.set_node_supply(source, n_s)  # as much as could ever flow; the solver finds the maximum
    flow.set_node_supply(sink, -n_s)
    status = flow.solve_max_flow_with_min_cost()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed with status {status}")
    pref_arcs = arcs[n_s : n_s + n_pref]
    used = np.flatnonzero(flow.flows(pref_arcs) > 0)
    assigned: list[int | None] = [None] * n_s
    for s, j in zip(pref_student[used].tolist(), pref_project[used].tolist(), strict=True):
        assigned[s] = j
    return assigned
