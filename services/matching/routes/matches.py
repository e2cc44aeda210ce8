"""Routes of matches: proposals and engagements, and every step of their lifecycle."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from clustergrowth.auth import CurrentPrincipal, allow
from clustergrowth.paging import Page
from services.matching import commands as c
from services.matching import handlers as h
from services.matching.routes.common import PROBLEMS, Ctx
from services.matching.wire import MatchOut, MatchStatus

router = APIRouter(responses=PROBLEMS)


@router.get(
    "/matches",
    **allow("student", "academic", "sme_member", "region_admin", "analyst"),
    summary="Proposals and engagements I am part of",
)
async def list_matches(
    m: Ctx,
    who: CurrentPrincipal,
    status: MatchStatus | None = None,
    *,
    page: Page,
) -> list[MatchOut]:
    return [MatchOut.model_validate(d) for d in await h.list_matches(m, who, status, page)]


@router.get(
    "/matches/{match_id}",
    **allow("student", "academic", "sme_member", "region_admin", "analyst"),
    summary="One proposal or engagement",
)
async def get_match(m: Ctx, who: CurrentPrincipal, match_id: str) -> MatchOut:
    return MatchOut.model_validate(h.public(await h.get_match(m, match_id, who)))


@router.post(
    "/matches/{match_id}/accept",
    **allow("student", "academic", "sme_member"),
    summary="Accept a proposal (my side)",
)
async def accept(m: Ctx, who: CurrentPrincipal, match_id: str) -> MatchOut:
    return MatchOut.model_validate(await h.accept(m, match_id, who))


@router.post(
    "/matches/{match_id}/decline",
    **allow("student", "academic", "sme_member"),
    summary="Decline a proposal (my side)",
)
async def decline(m: Ctx, who: CurrentPrincipal, match_id: str, body: c.Decline) -> MatchOut:
    return MatchOut.model_validate(await h.decline(m, match_id, body, who))


@router.post(
    "/matches/{match_id}/milestones",
    **allow("academic", "sme_member"),
    status_code=201,
    summary="Plan a milestone (host)",
)
async def add_milestone(m: Ctx, who: CurrentPrincipal, match_id: str, body: c.Milestone) -> MatchOut:
    return MatchOut.model_validate(await h.add_milestone(m, match_id, body, who))


@router.post(
    "/matches/{match_id}/milestones/{n}/done",
    **allow("student", "academic", "sme_member"),
    summary="Mark a milestone done",
)
async def milestone_done(
    m: Ctx, who: CurrentPrincipal, match_id: str, n: Annotated[int, Path(ge=1, le=50)]
) -> MatchOut:
    return MatchOut.model_validate(await h.milestone_done(m, match_id, n, who))


@router.post(
    "/matches/{match_id}/complete",
    **allow("academic", "sme_member"),
    summary="Complete the engagement (host)",
)
async def complete(m: Ctx, who: CurrentPrincipal, match_id: str) -> MatchOut:
    return MatchOut.model_validate(await h.complete(m, match_id, who))


@router.post(
    "/matches/{match_id}/ratings",
    **allow("student", "academic", "sme_member"),
    status_code=201,
    summary="Rate (once per side)",
)
async def rate(m: Ctx, who: CurrentPrincipal, match_id: str, body: c.Rating) -> MatchOut:
    return MatchOut.model_validate(await h.rate(m, match_id, body, who))
