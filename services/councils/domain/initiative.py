"""Initiative rules: proposed by a member → launched by a council decision → active with milestones, KPIs
and progress → completed, or abandoned with a reason. Co-sponsored by councils of other regions: it is
cross-border when the sponsors' countries (the first two letters of their NUTS codes) differ.

Pure: documents in, documents and event data out; ``now`` is given.
"""

from __future__ import annotations

from typing import Any

from clustergrowth.problems import Conflict, field_error
from contracts import councils as ev

Doc = dict[str, Any]
STATES = ("proposed", "active", "completed", "abandoned")
TRANSITIONS = {  # state -> the states it may move to
    "proposed": ("active",),
    "active": ("completed", "abandoned"),
    "completed": (),
    "abandoned": (),
}


def regions(lead_region: str, co_sponsors: list[Doc]) -> list[str]:
    return sorted({lead_region, *(c["region"] for c in co_sponsors)})


def cross_border(all_regions: list[str]) -> bool:
    return len({r[:2] for r in all_regions}) > 1


def propose(iid: str, council: Doc, fields: Doc, by: str, now: str) -> tuple[Doc, ev.InitiativeProposed]:
    """A new initiative of the council (its lead), proposed by a member."""
    sponsors = fields.get("co_sponsors") or []
    ids = [c["council_id"] for c in sponsors]
    if council["_id"] in ids:
        raise field_error("co_sponsors", "the lead council is not its own co-sponsor")
    if len(set(ids)) != len(ids):
        raise field_error("co_sponsors", "name a council once")
    all_regions = regions(council["region"], sponsors)
    doc: Doc = {
        "_id": iid,
        "council_id": council["_id"],
        "region": council["region"],
        "title": fields["title"],
        "summary": fields["summary"],
        "co_sponsors": [
            {"council_id": c["council_id"], "region": c["region"], "confirmed": bool(c.get("confirmed"))}
            for c in sponsors
        ],
        "regions": all_regions,
        "cross_border": cross_border(all_regions),
        "needs": fields.get("needs") or [],
        "challenge_ids": fields.get("challenge_ids") or [],
        "resource_ids": fields.get("resource_ids") or [],
        "state": "proposed",
        "proposed_by": by,
        "proposed_at": now,
        "decision_id": None,
        "launched_at": None,
        "milestones": [],
        "kpis": [],
        "progress": 0,
        "ended_at": None,
        "end_reason": None,
    }
    return doc, ev.InitiativeProposed(**_common(doc), proposed_at=now)


def _common(doc: Doc) -> Doc:
    return {
        "initiative_id": doc["_id"],
        "council_id": doc["council_id"],
        "region": doc["region"],
        "co_sponsors": [c["council_id"] for c in doc["co_sponsors"]],
        "regions": doc["regions"],
        "cross_border": doc["cross_border"],
    }


def _move(doc: Doc, to: str) -> None:
    if to not in TRANSITIONS[doc["state"]]:
        raise Conflict(f"initiative {doc['_id']} is {doc['state']}: it cannot become {to}", state=doc["state"])


def launch(doc: Doc, decision_id: str, now: str) -> tuple[Doc, ev.InitiativeLaunched]:
    """The council endorsed it by a decision (checked by the caller): it is active."""
    _move(doc, "active")
    new = {**doc, "state": "active", "decision_id": decision_id, "launched_at": now}
    return new, ev.InitiativeLaunched(**_common(new), decision_id=decision_id, launched_at=now)


def report_progress(doc: Doc, milestones: list[Doc], kpis: list[Doc], progress: int) -> Doc:
    """Milestones, KPIs and progress of an active initiative."""
    if doc["state"] != "active":
        raise Conflict(f"initiative {doc['_id']} is {doc['state']}: progress is reported while it is active")
    return {**doc, "milestones": milestones, "kpis": kpis, "progress": progress}


def end(doc: Doc, outcome: str, reason: str | None, now: str) -> tuple[Doc, ev.InitiativeCompleted]:
    """Complete an active initiative, or abandon it with a reason (required)."""
    _move(doc, outcome)
    if outcome == "abandoned" and not (reason or "").strip():
        raise field_error("reason", "is required to abandon an initiative")
    why = reason if outcome == "abandoned" else None
    new = {**doc, "state": outcome, "ended_at": now, "end_reason": why}
    if outcome == "completed":
        new["progress"] = 100
    return new, ev.InitiativeCompleted(**_common(new), outcome=outcome, reason=why, ended_at=now)  # type: ignore[arg-type]
