"""Growth action plans: generated from an assessment's weakest practices and the SME's growth needs,
edited by the SME, and due for re-assessment on a date.

Generation: each practice's score as a share of the scale, less ``need_bonus`` when its area is linked
(``data/needs.json``) to one of the SME's top growth needs from mapping; the lowest up to three, practices
already at the top of the scale excepted, ties in instrument order. Each focus area's goal is one step up
the scale (``goal_step``, at most the top), due at the plan's due date. A mobility placement is suggested
where the practice's area is linked to a need that a stay with a host SME abroad fits
(``placement_needs``).
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from clustergrowth.problems import Unprocessable
from services.training.domain.instrument import DATA, Instrument

MAX_FOCUS = 3


@dataclass(frozen=True)
class NeedsMap:
    areas: dict[str, list[str]]
    placement_needs: frozenset[str]
    need_bonus: float
    plan_months: int


@cache
def needs_map() -> NeedsMap:
    raw = json.loads((DATA / "needs.json").read_text())
    return NeedsMap(raw["areas"], frozenset(raw["placement_needs"]), float(raw["need_bonus"]), int(raw["plan_months"]))


def add_months(d: date, months: int) -> date:
    """The same day ``months`` later (the month's last day when it has fewer days)."""
    m = d.month - 1 + months
    y, m = d.year + m // 12, m % 12 + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def goal(instrument: Instrument, score: float) -> float:
    return round(min(instrument.scale_max, score + instrument.goal_step), 2)


def focus_areas(
    instrument: Instrument, scores: dict[str, float], needs: list[str], nm: NeedsMap
) -> list[dict[str, Any]]:
    """Up to three practices to work on, weakest first (see the module's rule); each with why it was chosen."""
    linked = {area: [n for n in needs if area in nm.areas.get(n, [])] for area in instrument.areas}
    order = {pid: i for i, pid in enumerate(instrument.practice_ids)}
    candidates = [p for p in instrument.practices if p.id in scores and scores[p.id] < instrument.scale_max]

    def priority(pid: str, area: str) -> tuple[float, int]:
        return instrument.normalised(scores[pid]) - (nm.need_bonus if linked[area] else 0.0), order[pid]

    chosen = sorted(candidates, key=lambda p: priority(p.id, p.area))[:MAX_FOCUS]
    return [
        {
            "practice": p.id,
            "name": p.name,
            "area": p.area,
            "baseline": scores[p.id],
            "target": goal(instrument, scores[p.id]),
            "needs": linked[p.area],
            "placement_suggested": any(n in nm.placement_needs for n in linked[p.area]),
        }
        for p in chosen
    ]


def generate(
    plan_id: str,
    assessment: dict[str, Any],
    instrument: Instrument,
    needs: list[str],
    today: date,
    now: str,
    nm: NeedsMap | None = None,
) -> dict[str, Any]:
    """A new plan document for an assessment (the baseline)."""
    nm = nm or needs_map()
    due = add_months(today, nm.plan_months).isoformat()
    focus = [{**f, "due": due} for f in focus_areas(instrument, assessment["scores"], needs, nm)]
    return {
        "_id": plan_id,
        "sme_id": assessment["sme_id"],
        "organisation": assessment["organisation"],
        "region": assessment["region"],
        "assessment_id": assessment["_id"],
        "instrument": instrument.id,
        "instrument_version": instrument.version,
        "growth_needs": needs,
        "baseline_scores": dict(assessment["scores"]),
        "focus_areas": focus,
        "practices_to_address": [f["practice"] for f in focus],
        "due": due,
        "status": "active",
        "created_at": now,
        "updated_at": now,
        "invited_at": None,
        "revision": 1,
    }


def edit(
    plan: dict[str, Any],
    instrument: Instrument,
    focus: list[dict[str, Any]] | None,
    due: date | None,
    today: date,
    now: str,
    nm: NeedsMap | None = None,
) -> dict[str, Any]:
    """The plan as the SME edits it: its focus areas (1-3 distinct practices of the instrument, each with a
    target on the scale and a due date not in the past) and the plan's due date, not in the past. A new
    due date waits for its own invitation. Every problem is named at once; nothing changes on a 422."""
    nm = nm or needs_map()
    errors = []
    new = dict(plan)
    if due is not None:
        if due < today:
            errors.append({"field": "due", "reason": f"must not be in the past (today is {today.isoformat()})"})
        elif due.isoformat() != plan["due"]:
            new.update(due=due.isoformat(), invited_at=None, status="active")
    if focus is not None:
        out, seen = [], set()
        for i, f in enumerate(focus):
            pid, at = f["practice"], f"focus_areas.{i}"
            if pid not in instrument.practice_ids:
                errors.append(
                    {"field": f"{at}.practice", "reason": f"no such practice in {instrument.id} v{instrument.version}"}
                )
                continue
            if pid in seen:
                errors.append({"field": f"{at}.practice", "reason": "named twice"})
                continue
            seen.add(pid)
            target = float(f["target"])
            if not instrument.scale_min <= target <= instrument.scale_max:
                reason = f"must be on the scale {instrument.scale_min:g}..{instrument.scale_max:g}"
                errors.append({"field": f"{at}.target", "reason": reason})
            f_due = f.get("due") or date.fromisoformat(new["due"])
            if f_due < today:
                errors.append({"field": f"{at}.due", "reason": "must not be in the past"})
            p = instrument.practice(pid)
            linked = [n for n in plan["growth_needs"] if p.area in nm.areas.get(n, [])]
            out.append(
                {
                    "practice": pid,
                    "name": p.name,
                    "area": p.area,
                    "baseline": plan["baseline_scores"].get(pid),
                    "target": round(target, 2),
                    "needs": linked,
                    "placement_suggested": any(n in nm.placement_needs for n in linked),
                    "due": f_due.isoformat(),
                }
            )
        new["focus_areas"] = out
        new["practices_to_address"] = [f["practice"] for f in out]
    if errors:
        raise Unprocessable(f"{len(errors)} problem(s) with the plan", errors)
    new["updated_at"] = now
    new["revision"] = int(plan.get("revision", 1)) + 1
    return new


def due_for_invitation(plan: dict[str, Any], today: date) -> bool:
    """A plan's due date has passed (the day after it) and its SME was not invited yet."""
    return plan["invited_at"] is None and date.fromisoformat(plan["due"]) < today


def invited(plan: dict[str, Any], now: str) -> dict[str, Any]:
    return {**plan, "invited_at": now, "status": "reassessment_invited"}


def reassessed(plan: dict[str, Any], assessment_id: str, now: str) -> dict[str, Any]:
    """The SME re-assessed after the plan was made: no invitation is due (the re-assessment is named)."""
    return {**plan, "status": "reassessed", "reassessed_by": assessment_id, "updated_at": now}
