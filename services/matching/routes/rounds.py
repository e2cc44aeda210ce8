"""Routes of allocation rounds: running one (coordinator), the rounds and their reports, a candidate's explanation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from clustergrowth.auth import CurrentPrincipal, allow
from clustergrowth.paging import Page50
from services.matching import commands as c
from services.matching import handlers as h
from services.matching.routes.common import PROBLEMS, Ctx

router = APIRouter(responses=PROBLEMS)


class RoundOut(BaseModel):
    id: str
    programme: str
    term: str
    mode: str
    status: str
    run_by: str
    run_at: str
    expires_at: str
    challenges: int
    candidates: int
    assignments: list[dict[str, str]]
    unassigned: list[str]
    metrics: dict[str, Any]
    explanations: list[dict[str, Any]] | None = None


@router.post(
    "/rounds",
    **allow("region_admin"),
    status_code=201,
    response_model=RoundOut,
    summary="Run an allocation round (coordinator)",
)
async def run_round(m: Ctx, who: CurrentPrincipal, body: c.RunRound) -> dict[str, Any]:
    return await h.run_round(m, body, who)


@router.get(
    "/rounds",
    **allow("region_admin", "analyst"),
    response_model=list[RoundOut],
    summary="Allocation rounds, newest first",
)
async def list_rounds(m: Ctx, who: CurrentPrincipal, page: Page50) -> list[dict[str, Any]]:
    return await h.list_rounds(m, who, page)


@router.get(
    "/rounds/{round_id}",
    **allow("student", "academic", "region_admin", "analyst"),
    summary="A round's report (coordinator, analyst) or my explanation in it",
)
async def get_round(m: Ctx, who: CurrentPrincipal, round_id: str) -> dict[str, Any]:
    return await h.get_round(m, round_id, who)
