"""Routes of growth action plans: generate, read, edit (If-Match)."""

from __future__ import annotations

from fastapi import Query, Response

from clustergrowth import etags
from clustergrowth.auth import CurrentPrincipal, RuledRouter, allow
from clustergrowth.context import public
from clustergrowth.etags import IfMatch
from clustergrowth.paging import Page
from clustergrowth.store.port import Doc
from services.training import commands as c
from services.training.handlers import plans as h
from services.training.routes.common import IF_MATCH_PROBLEMS, PROBLEMS, Ctx
from services.training.wire import GrowthPlanOut

router = RuledRouter(responses=PROBLEMS)
SME = "sme_member"


def out(doc: Doc, response: Response | None = None) -> GrowthPlanOut:
    if response is not None:
        response.headers["ETag"] = etags.tag(doc)
    return GrowthPlanOut.model_validate(public(doc))


@router.post(
    "/plans",
    **allow(SME),
    status_code=201,
    summary="Generate the growth action plan of a baseline assessment: ActionPlanCreated",
)
async def create_plan(who: CurrentPrincipal, t: Ctx, body: c.CreateGrowthPlan, response: Response) -> GrowthPlanOut:
    return out(await h.create(t, body, who), response)


@router.get("/plans", **allow(SME), summary="Your organisation's plans, newest first")
async def list_plans(
    who: CurrentPrincipal, t: Ctx, page: Page, sme_id: str | None = Query(None, max_length=80)
) -> list[GrowthPlanOut]:
    return [out(d) for d in await h.list_plans(t, who, page, sme_id)]


@router.get("/plans/{plan_id}", **allow(SME), summary="One plan (with its ETag)")
async def get_plan(who: CurrentPrincipal, t: Ctx, plan_id: str, response: Response) -> GrowthPlanOut:
    return out(await h.get(t, plan_id, who), response)


@router.patch(
    "/plans/{plan_id}",
    **allow(SME),
    responses=IF_MATCH_PROBLEMS,
    summary="Edit the plan's focus areas and due date (If-Match): ActionPlanUpdated",
)
async def edit_plan(
    who: CurrentPrincipal, t: Ctx, plan_id: str, body: c.EditGrowthPlan, response: Response, if_match: IfMatch = None
) -> GrowthPlanOut:
    return out(await h.edit(t, plan_id, body, who, if_match), response)
