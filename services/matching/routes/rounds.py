"""Routes of allocation rounds: running one (coordinator), the rounds and their reports, a candidate's explanation."""

from __future__ import annotations

from clustergrowth.auth import CurrentPrincipal, RuledRouter, allow
from clustergrowth.paging import Page50
from services.matching import commands as c
from services.matching import handlers as h
from services.matching.routes.common import PROBLEMS, Ctx
from services.matching.wire import RoundExplanation, RoundOut, RoundSummary

router = RuledRouter(responses=PROBLEMS)


@router.post(
    "/rounds",
    **allow("region_admin"),
    status_code=201,
    summary="Run an allocation round (coordinator)",
)
async def run_round(who: CurrentPrincipal, m: Ctx, body: c.RunRound) -> RoundSummary:
    return RoundSummary.model_validate(await h.named_round(m, await h.run_round(m, body, who)))


@router.get("/rounds", **allow("region_admin", "analyst"), summary="Allocation rounds, newest first")
async def list_rounds(who: CurrentPrincipal, m: Ctx, page: Page50) -> list[RoundSummary]:
    found = await h.named_rounds(m, await h.list_rounds(m, who, page))
    return [RoundSummary.model_validate(d) for d in found]


@router.get(
    "/rounds/{round_id}",
    **allow("student", "academic", "region_admin", "analyst"),
    summary="A round's report (coordinator, analyst) or my explanation in it",
)
async def get_round(who: CurrentPrincipal, m: Ctx, round_id: str) -> RoundOut | RoundExplanation:
    # the whole round for its readers, else the caller's explanation; each candidate with their display name
    seen = await h.named_round(m, await h.get_round(m, round_id, who))
    return RoundExplanation.model_validate(seen) if "explanation" in seen else RoundOut.model_validate(seen)
