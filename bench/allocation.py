"""Allocation engine vs the `matching` package's student-allocation solver, on identical instances.

Instances: n students with popularity-skewed preferences (5-10 projects each), n/4 projects of
capacity 5, n/10 supervisors of capacity 12 who rank every applicant. Times are end to end (from the
instance dictionaries to an allocation), the median of several runs (one run for the package above
n = 2,000). "ties s" is optimal mode with the supervisors' rankings as a tie-break (what the matching
service runs). The `matching` package runs in a subprocess with a time limit and a raised recursion limit.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from allocation.instance import parse
from allocation.optimal import optimal
from allocation.report import report
from allocation.stable import stable
from bench.common import write_result


def make_instance(n: int, seed: int = 11) -> dict[str, Any]:
    rng = random.Random(seed)
    n_p, n_l = max(1, n // 4), max(1, n // 10)
    projects = [{"id": f"p{j}", "capacity": 5, "supervisor": f"l{j % n_l}"} for j in range(n_p)]
    cum, total = [], 0.0
    for j in range(n_p):  # a few popular projects, a long tail
        total += 1 / (j + 1) ** 0.8
        cum.append(total)
    population = range(n_p)
    students = []
    for i in range(n):
        k = rng.randint(5, min(10, n_p))
        chosen: dict[int, None] = {}
        while len(chosen) < k:
            for j in rng.choices(population, cum_weights=cum, k=k):
                if len(chosen) < k:
                    chosen.setdefault(j, None)
        students.append({"id": f"s{i}", "preferences": [f"p{j}" for j in chosen]})
    applicants: list[set[str]] = [set() for _ in range(n_l)]
    for s in students:
        for p in s["preferences"]:
            applicants[int(p[1:]) % n_l].add(s["id"])
    supervisors = []
    for k in range(n_l):
        ranked = sorted(applicants[k])
        rng.shuffle(ranked)
        supervisors.append({"id": f"l{k}", "capacity": 12, "preferences": ranked})
    return {"students": students, "projects": projects, "supervisors": supervisors}


def ours(data: dict[str, Any], mode: str, repeats: int, supervisor_ties: bool = False) -> dict[str, Any]:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        inst = parse(data)
        assigned = stable(inst) if mode == "stable" else optimal(inst, supervisor_ties=supervisor_ties)
        times.append(time.perf_counter() - t)
    seconds = statistics.median(times)
    m = report(inst, assigned, mode)["metrics"]
    return {
        "seconds": round(seconds, 4),
        "matched": m["matched"],
        "mean_rank": m["mean_rank"],
        "blocking_pairs": m["blocking_pairs"],
    }


PACKAGE_RUNNER = r"""
import json, sys, time
sys.setrecursionlimit(1_000_000)
from matching.games import StudentAllocation
data = json.load(open(sys.argv[1]))
t = time.perf_counter()
sp = {s["id"]: s["preferences"] for s in data["students"]}
lp = {l["id"]: l["preferences"] for l in data["supervisors"]}
ps = {p["id"]: p["supervisor"] for p in data["projects"]}
pc = {p["id"]: p["capacity"] for p in data["projects"]}
lc = {l["id"]: l["capacity"] for l in data["supervisors"]}
game = StudentAllocation.create_from_dictionaries(sp, lp, ps, pc, lc)
matching = game.solve(optimal="student")
seconds = time.perf_counter() - t
pairs = {s.name: p.name for p, students in matching.items() for s in students}
ranks = [sp[s].index(p) + 1 for s, p in pairs.items()]
print(json.dumps({"seconds": round(seconds, 4), "matched": len(pairs), "pairs": pairs,
                  "mean_rank": round(sum(ranks) / len(ranks), 4) if ranks else None}))
"""


def package(data: dict[str, Any], limit_s: float, repeats: int) -> dict[str, Any]:
    runs = []
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "instance.json"
        path.write_text(json.dumps(data))
        for _ in range(repeats):
            try:
                out = subprocess.run(
                    [sys.executable, "-c", PACKAGE_RUNNER, str(path)], capture_output=True, text=True, timeout=limit_s
                )
            except subprocess.TimeoutExpired:
                return {"status": f"did not finish within {limit_s:.0f} s"}
            if out.returncode != 0:
                return {"status": f"failed: {out.stderr.strip().splitlines()[-1] if out.stderr else out.returncode}"}
            runs.append(json.loads(out.stdout))
    r = runs[0]
    r["seconds"] = statistics.median(x["seconds"] for x in runs)
    r["runs"] = len(runs)
    inst = parse(data)
    idx_s = {s: i for i, s in enumerate(inst.student_ids)}
    idx_p = {p: j for j, p in enumerate(inst.project_ids)}
    assigned: list[int | None] = [None] * len(inst.student_ids)
    for s, p in r.pop("pairs").items():
        assigned[idx_s[s]] = idx_p[p]
    r["blocking_pairs"] = report(inst, assigned, "package")["metrics"]["blocking_pairs"]
    return {"status": "ok", **r}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", default="2000,10000,100000")
    p.add_argument("--package-limit-s", type=float, default=120)
    a = p.parse_args(argv)
    rows = []
    for n in [int(x) for x in a.sizes.split(",")]:
        data = make_instance(n)
        repeats = 5 if n <= 10_000 else 1
        row = {"n": n, "stable": ours(data, "stable", repeats), "optimal": ours(data, "optimal", repeats)}
        row["optimal_supervisor_ties"] = ours(data, "optimal", repeats, supervisor_ties=True)
        row["matching_package"] = (
            package(data, a.package_limit_s, 3 if n <= 2_000 else 1)
            if n <= 10_000
            else {"status": "not run (n > 10,000)"}
        )
        pk = row["matching_package"]
        if pk.get("status") == "ok":
            row["speedup_stable"] = round(pk["seconds"] / row["stable"]["seconds"], 1)
            row["speedup_optimal"] = round(pk["seconds"] / row["optimal"]["seconds"], 1)
        rows.append(row)
    result = {"rows": rows}
    path = write_result("allocation", result)
    print(
        f"{'n':>7} | {'stable s':>9} {'matched':>8} {'rank':>6} {'block':>5} | {'optimal s':>9} {'matched':>8} "
        f"{'rank':>6} {'ties s':>7} | matching package"
    )
    for r in rows:
        s, o, t, pk = r["stable"], r["optimal"], r["optimal_supervisor_ties"], r["matching_package"]
        pk_text = (
            f"{pk['seconds']} s, matched {pk['matched']}, rank {pk['mean_rank']}, blocking {pk['blocking_pairs']}"
            f" -> ours x{r['speedup_stable']} (stable) x{r['speedup_optimal']} (optimal)"
            if pk.get("status") == "ok"
            else pk["status"]
        )
        print(
            f"{r['n']:>7} | {s['seconds']:>9} {s['matched']:>8} {s['mean_rank']:>6} {s['blocking_pairs']:>5} | "
            f"{o['seconds']:>9} {o['matched']:>8} {o['mean_rank']:>6} {t['seconds']:>7} | {pk_text}"
        )
    print(f"[{path}]")
    return result


if __name__ == "__main__":
    main()
