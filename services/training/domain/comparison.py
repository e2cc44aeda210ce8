"""A re-assessment against its baseline: per practice the two scores, the change, and whether the plan's
goal for it (if the plan made from the baseline had one) was met. Only practices both versions of the
instrument have are compared."""

from __future__ import annotations

from typing import Any


def compare(baseline: dict[str, Any], current: dict[str, Any], plan: dict[str, Any] | None) -> dict[str, Any]:
    goals = {f["practice"]: f["target"] for f in (plan or {}).get("focus_areas", [])}
    rows = []
    for pid, before in baseline["scores"].items():
        if pid not in current["scores"]:
            continue
        after = current["scores"][pid]
        target = goals.get(pid)
        rows.append(
            {
                "practice": pid,
                "baseline": before,
                "current": after,
                "delta": round(after - before, 2),
                "target": target,
                "goal_met": None if target is None else after >= target,
            }
        )
    met = [r["goal_met"] for r in rows if r["goal_met"] is not None]
    return {
        "assessment_id": current["_id"],
        "baseline_assessment_id": baseline["_id"],
        "instrument": current["instrument"],
        "scale": current["scale"],
        "plan_id": None if plan is None else plan["_id"],
        "overall": {
            "baseline": baseline["overall"],
            "current": current["overall"],
            "delta": round(current["overall"] - baseline["overall"], 2),
        },
        "practices": rows,
        "goals": {"set": len(met), "met": sum(met)},
    }
