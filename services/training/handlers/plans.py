"""Growth action plans: generated from a baseline assessment and the SME's latest growth needs, edited
by the SME (If-Match), and a re-assessment invitation once their due date has passed."""

from __future__ import annotations

from typing import Any

from clustergrowth import aggregate, etags
from clustergrowth.auth import Principal
from clustergrowth.envelope import CloudEvent
from clustergrowth.paging import PageRequest
from clustergrowth.problems import Conflict, NotFound
from clustergrowth.store.port import Doc
from contracts import training as ev
from services.training import commands as c
from services.training import store as st
from services.training.domain import plan as pl
from services.training.domain.instrument import instrument
from services.training.handlers.assessments import visible
from services.training.handlers.context import Training

BUSY = "the plan is busy"


def _data(kind: type[ev._Plan], plan: Doc, **at: str) -> Any:
    return kind(
        plan_id=plan["_id"],
        sme_id=plan["sme_id"],
        region=plan["region"],
        assessment_id=plan["assessment_id"],
        focus_areas=[f["practice"] for f in plan["focus_areas"]],
        due=plan["due"],
        **at,
    )


async def create(t: Training, cmd: c.CreateGrowthPlan, who: Principal) -> Doc:
    a = await visible(t, cmd.assessment_id, who)
    sme = await t.store.get(st.SMES, a["sme_id"]) or {}
    inst = instrument(a["instrument"], a["instrument_version"])
    now = t.now()
    plan = pl.generate(st.plan_id(a["_id"]), a, inst, list(sme.get("top_needs") or []), t.today(), now)
    plan["suggested_modules"] = await t.modules_for(t.store, plan["practices_to_address"])
    events = t.events([_data(ev.ActionPlanCreated, plan, created_at=now)], key=plan["_id"])
    try:
        await aggregate.save(t.store, st.PLANS, plan, events, expected_version=None, on_saved=t.notify)
    except aggregate.ConcurrentUpdate as e:
        raise Conflict(f"assessment {a['_id']} has a plan already: {plan['_id']}", plan_id=plan["_id"]) from e
    return plan


async def get(t: Training, plan_id: str, who: Principal) -> Doc:
    doc = await t.store.get(st.PLANS, plan_id)
    if doc is None or who.org is None or doc["organisation"] != who.org:
        raise NotFound(f"no plan {plan_id}")
    return doc


async def list_plans(t: Training, who: Principal, page: PageRequest, sme_id: str | None) -> list[Doc]:
    if who.org is None:
        return []
    q: Doc = {"organisation": who.org, **({"sme_id": sme_id} if sme_id else {})}
    return await page.query(t.store, st.PLANS, q, [("created_at", -1)])


async def edit(t: Training, plan_id: str, cmd: c.EditGrowthPlan, who: Principal, if_match: str | None) -> Doc:
    await get(t, plan_id, who)

    async def change(doc: Doc | None) -> tuple[Doc, list[CloudEvent], Doc]:
        if doc is None or doc["organisation"] != who.org:
            raise NotFound(f"no plan {plan_id}")
        etags.check(if_match, doc)
        inst = instrument(doc["instrument"], doc["instrument_version"])
        focus = None if cmd.focus_areas is None else [f.model_dump() for f in cmd.focus_areas]
        new = pl.edit(doc, inst, focus, cmd.due, t.today(), t.now())
        if focus is not None:
            new["suggested_modules"] = await t.modules_for(t.store, new["practices_to_address"])
        return new, t.events([_data(ev.ActionPlanUpdated, new, updated_at=new["updated_at"])], key=plan_id), new

    result: Doc = await aggregate.update(t.store, st.PLANS, plan_id, change, on_saved=t.notify, busy=BUSY)
    return result


async def invite_due(t: Training, batch: int = 100) -> int:
    """Invite the SMEs whose plans are past their due date to re-assess (``ReassessmentInvited``, once per
    due date: the plan records the invitation in the same write). A plan whose SME has re-assessed with
    the plan's instrument since the plan was made is marked ``reassessed`` instead, with no invitation.
    Returns how many were invited."""
    today = t.today()
    q = {"invited_at": None, "due": {"$lt": today.isoformat()}, "status": {"$ne": "reassessed"}}
    due = await t.store.find(st.PLANS, q, limit=batch)
    invited = 0
    for found in due:

        async def change(doc: Doc | None) -> tuple[Doc, list[CloudEvent], bool]:
            if doc is None or not pl.due_for_invitation(doc, today):
                return doc or {}, [], False
            now = t.now()
            since = await reassessment_since(t, doc)
            if since is not None:
                return pl.reassessed(doc, since, now), [], False
            new = pl.invited(doc, now)
            return new, t.events([_data(ev.ReassessmentInvited, new, invited_at=now)], key=new["_id"]), True

        if await _update_if(t, found["_id"], change):
            invited += 1
    return invited


async def reassessment_since(t: Training, plan: Doc) -> str | None:
    """An assessment of the plan's SME with its instrument made after the plan (its id), if any."""
    q = {"sme_id": plan["sme_id"], "instrument": plan["instrument"], "assessed_at": {"$gt": plan["created_at"]}}
    found = await t.store.find(st.ASSESSMENTS, q, limit=1)
    return str(found[0]["_id"]) if found else None


async def _update_if(t: Training, plan_id: str, change: Any) -> bool:
    """``aggregate.update`` that writes nothing when the change says there is nothing to do (a change that
    returns a new document with no events and False is written, and counts as nothing done)."""
    for _ in range(aggregate.ATTEMPTS):
        doc = await t.store.get(st.PLANS, plan_id)
        new, events, done = await change(doc)
        if doc is None:
            return False
        if not done:
            if new is doc or new == doc:
                return False
            try:
                await aggregate.save(t.store, st.PLANS, new, [], expected_version=doc["version"], on_saved=t.notify)
            except aggregate.ConcurrentUpdate:
                continue
            return False
        try:
            await aggregate.save(t.store, st.PLANS, new, events, expected_version=doc["version"], on_saved=t.notify)
            return True
        except aggregate.ConcurrentUpdate:
            continue
    return False
