"""Initiatives: proposed by a member, launched by a decision of the council, progress reported, completed
or abandoned. Co-sponsors of this region must exist here; those of other regions are known by id only
(regions do not share a database; no service calls another on a write path)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clustergrowth import aggregate, etags
from clustergrowth.auth import Principal
from clustergrowth.envelope import CloudEvent
from clustergrowth.paging import PageRequest
from clustergrowth.problems import Conflict, Forbidden, NotFound, Unprocessable, field_error
from clustergrowth.store.port import Doc
from services.councils import commands as c
from services.councils import store as st
from services.councils.domain import council as cn
from services.councils.domain import decision as dc
from services.councils.domain import initiative as ini
from services.councils.handlers.context import Councils
from services.councils.handlers.councils import _id, get_council


async def get_initiative(f: Councils, cid: str, iid: str) -> Doc:
    doc = await f.store.get(st.INITIATIVES, iid)
    if doc is None or doc["council_id"] != cid:
        raise NotFound(f"no initiative {iid} of council {cid}")
    return doc


async def list_initiatives(f: Councils, cid: str, page: PageRequest, state: str | None) -> list[Doc]:
    await get_council(f, cid)
    q: Doc = {"council_id": cid, **({"state": state} if state else {})}
    return await page.query(f.store, st.INITIATIVES, q, [("proposed_at", -1)])


async def _co_sponsors(f: Councils, sponsors: list[c.CoSponsor]) -> list[Doc]:
    """Each co-sponsor with whether it is confirmed: a council known here must be named with its own region
    (confirmed); one of this region must be known here; another region's, not known here, is recorded as
    given and unconfirmed (regions do not share a database)."""
    errors, out = [], []
    for n, s in enumerate(sponsors):
        doc = await f.store.get(st.COUNCILS, s.council_id)
        field = f"co_sponsors.{n}.council_id"
        if doc is not None and doc["region"] != s.region:
            errors.append({"field": field, "reason": f"council {s.council_id} is of {doc['region']}, not {s.region}"})
        elif doc is None and s.region == f.region:
            errors.append({"field": field, "reason": f"no council {s.council_id} here"})
        out.append({"council_id": s.council_id, "region": s.region, "confirmed": doc is not None})
    if errors:
        raise Unprocessable("co_sponsors: councils not as named", errors)
    return out


async def propose(f: Councils, cid: str, cmd: c.ProposeInitiative, who: Principal) -> Doc:
    """A member (or a manager) proposes an initiative led by her council."""
    council = await get_council(f, cid)
    if not cn.sees_private(who, council, f.region):
        raise Forbidden(f"only members of council {cid} propose its initiatives")
    fields = {**cmd.model_dump(mode="json"), "co_sponsors": await _co_sponsors(f, cmd.co_sponsors)}
    doc, proposed = ini.propose(_id("ini"), council, fields, who.id, f.now())
    await aggregate.save(
        f.store, st.INITIATIVES, doc, f.events([proposed], doc["_id"]), expected_version=None, on_saved=f.notify
    )
    return doc


Step = Callable[[Doc], tuple[Doc, list[Any]]]


async def _change(f: Councils, cid: str, iid: str, step: Step) -> Doc:
    async def change(doc: Doc | None) -> tuple[Doc, list[CloudEvent], Doc]:
        if doc is None or doc["council_id"] != cid:
            raise NotFound(f"no initiative {iid} of council {cid}")
        new, data = step(doc)
        return new, f.events(data, iid), new

    result: Doc = await aggregate.update(
        f.store, st.INITIATIVES, iid, change, on_saved=f.notify, busy="the initiative is busy"
    )
    return result


async def _managed(f: Councils, cid: str, who: Principal) -> Doc:
    council = await get_council(f, cid)
    cn.require_manager(who, council, f.region)
    return council


async def launch(f: Councils, cid: str, iid: str, decision_id: str, who: Principal) -> Doc:
    """Launch by a closed decision of this council about this initiative whose outcome endorses it."""
    await _managed(f, cid, who)
    decision = await f.store.get(st.DECISIONS, decision_id)
    if decision is None or decision["council_id"] != cid:
        raise field_error("decision_id", f"is not a decision of council {cid}")
    if not dc.launches(decision, iid):
        raise field_error(
            "decision_id", f"does not launch {iid}: it must be about it, closed, with the outcome {dc.LAUNCHING}"
        )
    refusal = dc.launch_refusal(decision)
    if refusal is not None:
        raise Conflict(f"decision {decision_id} does not launch {iid}: {refusal}", decision_id=decision_id)
    return await _change(f, cid, iid, lambda doc: _one(ini.launch(doc, decision_id, f.now())))


def _one(pair: tuple[Doc, Any]) -> tuple[Doc, list[Any]]:
    return pair[0], [pair[1]]


async def report_progress(
    f: Councils, cid: str, iid: str, cmd: c.Progress, who: Principal, if_match: str | None
) -> Doc:
    """Milestones, KPIs and progress, by the council's managers or the proposer, guarded by the ETag read."""
    council = await get_council(f, cid)
    body = cmd.model_dump(mode="json")

    def step(doc: Doc) -> tuple[Doc, list[Any]]:
        proposer = doc["proposed_by"] == who.id and cn.is_member(who, council)  # while she is a member
        if not (cn.manages(who, council, f.region) or proposer):
            raise Forbidden(
                "only the council's secretary, the region's staff or the proposer (while a member) report progress"
            )
        etags.check(if_match, doc)
        return ini.report_progress(doc, body["milestones"], body["kpis"], body["progress"]), []

    return await _change(f, cid, iid, step)


async def end(f: Councils, cid: str, iid: str, outcome: str, reason: str | None, who: Principal) -> Doc:
    await _managed(f, cid, who)
    return await _change(f, cid, iid, lambda doc: _one(ini.end(doc, outcome, reason, f.now())))
