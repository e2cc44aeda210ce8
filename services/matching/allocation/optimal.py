"""Maximum number matched, then minimum total preference rank: a min-cost maximum flow (OR-Tools).

source -> student (1) -> project, cost = rank (1) -> supervisor (project capacity) -> sink
(supervisor capacity). Exact; not necessarily stable, which the metrics report.
"""

from __future__ import annotations

from ortools.graph.python import min_cost_flow

from services.matching.allocation.instance import Instance


def optimal(inst: Instance) -> list[int | None]:
    n_s, n_p, n_l = len(inst.student_ids), len(inst.project_ids), len(inst.supervisor_ids)
    source, sink = n_s + n_p + n_l, n_s + n_p + n_l + 1
    flow = min_cost_flow.SimpleMinCostFlow()
    student_arcs: list[tuple[int, int, int]] = []
    for s in range(n_s):
        flow.add_arc_with_capacity_and_unit_cost(source, s, 1, 0)
        for r, j in enumerate(inst.prefs[s]):
            arc = flow.add_arc_with_capacity_and_unit_cost(s, n_s + j, 1, r + 1)
            student_arcs.append((arc, s, j))
    for j in range(n_p):
        flow.add_arc_with_capacity_and_unit_cost(
            n_s + j, n_s + n_p + inst.project_supervisor[j], inst.project_capacity[j], 0
        )
    for k in range(n_l):
        flow.add_arc_with_capacity_and_unit_cost(n_s + n_p + k, sink, inst.supervisor_capacity[k], 0)
    flow.set_node_supply(source, n_s)  # as much as could ever flow; the solver finds the maximum
    flow.set_node_supply(sink, -n_s)
    status = flow.solve_max_flow_with_min_cost()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed with status {status}")
    assigned: list[int | None] = [None] * n_s
    for arc, s, j in student_arcs:
        if flow.flow(arc) > 0:
            assigned[s] = j
    return assigned
