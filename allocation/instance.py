"""An allocation instance: students rank projects, projects have capacities and a supervisor,
supervisors have capacities and rank students. Parsing refuses malformed instances, naming each problem.

Students a supervisor does not rank come after the ranked ones, in instance order (the service will
order them by a fit score instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class InvalidInstance(ValueError):
    """Every problem found in an instance, one message each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Instance:
    """Indices everywhere: students 0..S-1, projects 0..P-1, supervisors 0..L-1."""

    student_ids: list[str]
    project_ids: list[str]
    supervisor_ids: list[str]
    prefs: list[list[int]]  # per student: project indices, best first
    project_capacity: list[int]
    project_supervisor: list[int]
    supervisor_capacity: list[int]
    supervisor_rank: list[dict[int, int]]  # per supervisor: student -> rank (0 best), every student of theirs
    student_region: list[str | None]
    project_region: list[str | None]


def _ids(items: list[Any], kind: str, problems: list[str]) -> list[str]:
    ids: list[str] = []
    seen: set[str] = set()
    for i, x in enumerate(items):
        if not isinstance(x, dict) or not isinstance(x.get("id"), str) or not x["id"]:
            problems.append(f"{kind}[{i}]: needs a non-empty string id")
            ids.append(f"#{kind}{i}")
            continue
        if x["id"] in seen:
            problems.append(f"{kind}[{i}]: duplicate id {x['id']!r}")
        seen.add(x["id"])
        ids.append(x["id"])
    return ids


def _capacity(x: dict[str, Any], where: str, problems: list[str]) -> int:
    c = x.get("capacity")
    if isinstance(c, bool) or not isinstance(c, int) or c <= 0:
        problems.append(f"{where}: capacity must be a positive whole number, got {c!r}")
        return 1
    return c


def _ranking(items: Any, index: dict[str, int], owner: str, kind: str, problems: list[str]) -> list[int]:
    """A preference list as indices; each repeated or unknown id is a problem named after its owner."""
    if items is None:
        items = []
    if not isinstance(items, list):
        problems.append(f"{owner}: preferences must be a list")
        return []
    try:  # the common case, a clean list, in one pass; any doubt takes the careful path below
        fast = [index[x] for x in items]
        if len(set(fast)) == len(fast):
            return fast
    except (KeyError, TypeError):
        pass
    out: list[int] = []
    seen: set[str] = set()
    for x in items:
        if not isinstance(x, str):
            problems.append(f"{owner}: {kind} ids must be strings, got {x!r}")
        elif x in seen:
            problems.append(f"{owner}: ranks {kind} {x!r} twice")
        elif x not in index:
            problems.append(f"{owner}: unknown {kind} {x!r}")
        else:
            out.append(index[x])
        if isinstance(x, str):
            seen.add(x)
    return out


def parse(data: Any) -> Instance:
    """Build an instance from its JSON form; raises InvalidInstance listing every problem."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise InvalidInstance(["the instance must be a JSON object with students, projects, supervisors"])
    parts = {}
    for key in ("students", "projects", "supervisors"):
        v = data.get(key)
        if not isinstance(v, list):
            problems.append(f"{key}: must be a list")
            v = []
        parts[key] = v
    students, projects, supervisors = parts["students"], parts["projects"], parts["supervisors"]
    s_ids, p_ids, l_ids = (
        _ids(students, "students", problems),
        _ids(projects, "projects", problems),
        _ids(supervisors, "supervisors", problems),
    )
    p_index = {p: i for i, p in enumerate(p_ids)}
    l_index = {k: i for i, k in enumerate(l_ids)}
    s_index = {s: i for i, s in enumerate(s_ids)}

    prefs: list[list[int]] = []
    for i, st in enumerate(students):
        plist = st.get("preferences", []) if isinstance(st, dict) else []
        row = _ranking(plist, p_index, f"student {s_ids[i]}", "project", problems)
        prefs.append(row)

    p_cap, p_sup = [], []
    for j, pr in enumerate(projects):
        pr = pr if isinstance(pr, dict) else {}
        p_cap.append(_capacity(pr, f"project {p_ids[j]}", problems))
        sup = pr.get("supervisor")
        if sup not in l_index:
            problems.append(f"project {p_ids[j]}: unknown supervisor {sup!r}")
            p_sup.append(0)
        else:
            p_sup.append(l_index[sup])

    l_cap, l_rank = [], []
    applicants: list[list[int]] = [[] for _ in l_ids]
    if l_ids and len(p_sup) == len(p_ids):
        for i, row in enumerate(prefs):
            for k in {p_sup[j] for j in row}:
                applicants[k].append(i)
    for k, sv in enumerate(supervisors):
        sv = sv if isinstance(sv, dict) else {}
        l_cap.append(_capacity(sv, f"supervisor {l_ids[k]}", problems))
        ranked = _ranking(sv.get("preferences", []), s_index, f"supervisor {l_ids[k]}", "student", problems)
        rank = {s: r for r, s in enumerate(ranked)}
        for s in sorted(set(applicants[k]) - rank.keys()):  # unranked applicants: after, in instance order
            rank[s] = len(rank)
        l_rank.append(rank)
    if problems:
        raise InvalidInstance(problems)
    return Instance(
        student_ids=s_ids,
        project_ids=p_ids,
        supervisor_ids=l_ids,
        prefs=prefs,
        project_capacity=p_cap,
        project_supervisor=p_sup,
        supervisor_capacity=l_cap,
        supervisor_rank=l_rank,
        student_region=[st.get("region") for st in students],
        project_region=[pr.get("region") for pr in projects],
    )
