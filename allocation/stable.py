"""The student-optimal stable allocation (SPA-student; Abraham, Irving & Manlove, 2007).

Students apply down their lists; an over-full project or supervisor rejects its worst student, and
once a project (or supervisor) is full, everyone its supervisor ranks below the worst student held
is deleted from it, so nobody applies where they cannot stay. Runs in time linear in the total
length of the preference lists (up to heap operations on capacities).
"""

from __future__ import annotations

import heapq

from allocation.instance import Instance


class _Held:
    """Students held by a project or supervisor: a max-heap on the supervisor's rank, lazily cleaned."""

    __slots__ = ("heap", "members")

    def __init__(self) -> None:
        self.heap: list[tuple[int, int]] = []
        self.members: set[int] = set()

    def add(self, rank: int, s: int) -> None:
        self.members.add(s)
        heapq.heappush(self.heap, (-rank, s))

    def remove(self, s: int) -> None:
        self.members.discard(s)

    def worst(self) -> tuple[int, int]:
        while self.heap[0][1] not in self.members:
            heapq.heappop(self.heap)
        r, s = self.heap[0]
        return -r, s

    def __len__(self) -> int:
        return len(self.members)


def stable(inst: Instance) -> list[int | None]:
    """Per student, the project index assigned, or None."""
    n_s, n_p, n_l = len(inst.student_ids), len(inst.project_ids), len(inst.supervisor_ids)
    sup, rank = inst.project_supervisor, inst.supervisor_rank
    # L_k^j: the students who find project j acceptable, in its supervisor's order.
    lkj: list[list[int]] = [[] for _ in range(n_p)]
    for s, row in enumerate(inst.prefs):
        for j in row:
            lkj[j].append(s)
    for j in range(n_p):
        lkj[j].sort(key=rank[sup[j]].__getitem__)
    lk: list[list[int]] = [sorted(rank[k], key=rank[k].__getitem__) for k in range(n_l)]
    cut_p = [len(x) for x in lkj]  # beyond the cut, students were deleted from the project already
    cut_l = [len(x) for x in lk]
    pos_p = [{s: i for i, s in enumerate(x)} for x in lkj]
    pos_l = [{s: i for i, s in enumerate(x)} for x in lk]
    by_sup: list[list[int]] = [[] for _ in range(n_l)]
    for j in range(n_p):
        by_sup[sup[j]].append(j)

    deleted: list[set[int]] = [set() for _ in range(n_s)]
    nxt = [0] * n_s
    assigned: list[int | None] = [None] * n_s
    held_p = [_Held() for _ in range(n_p)]
    held_l = [_Held() for _ in range(n_l)]
    free = list(range(n_s - 1, -1, -1))

    def unassign(s: int) -> None:
        j = assigned[s]
        assert j is not None
        held_p[j].remove(s)
        held_l[sup[j]].remove(s)
        assigned[s] = None
        free.append(s)

    while free:
        s = free.pop()
        row = inst.prefs[s]
        while nxt[s] < len(row) and row[nxt[s]] in deleted[s]:
            nxt[s] += 1
        if nxt[s] >= len(row):
            continue  # list exhausted: stays unassigned
        j = row[nxt[s]]
        k = sup[j]
        assigned[s] = j
        held_p[j].add(rank[k][s], s)
        held_l[k].add(rank[k][s], s)
        if len(held_p[j]) > inst.project_capacity[j]:
            _, w = held_p[j].worst()
            unassign(w)
            deleted[w].add(j)
        elif len(held_l[k]) > inst.supervisor_capacity[k]:
            _, w = held_l[k].worst()
            wj = assigned[w]
            unassign(w)
            assert wj is not None
            deleted[w].add(wj)
        if len(held_p[j]) == inst.project_capacity[j]:
            _, w = held_p[j].worst()
            cut = pos_p[j][w] + 1
            for t in lkj[j][cut : cut_p[j]]:
                deleted[t].add(j)
            cut_p[j] = min(cut_p[j], cut)
        if len(held_l[k]) == inst.supervisor_capacity[k]:
            _, w = held_l[k].worst()
            cut = pos_l[k][w] + 1
            mine = set(by_sup[k])
            for t in lk[k][cut : cut_l[k]]:
                for u in inst.prefs[t]:
                    if u in mine:
                        deleted[t].add(u)
            cut_l[k] = min(cut_l[k], cut)
    return assigned
