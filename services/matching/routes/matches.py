"""Routes of matches: proposals and engagements, and every step of their lifecycle."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel

from clustergrowth.auth import CurrentPrincipal, allow
from clustergrowth.paging import Page
from services.matching import commands as c
from services.matching import handlers as h
from services.matching.routes.common import PROBLEMS, Ctx

router = APIRouter(responses=PROBLEMS)


class MatchOut(BaseModel):
    id: str
    round_id: str
    challenge_id: str
    challenge_title: str
    programme: str
    term: str
    candidate: str
    candidate_region: str
    organisation: str | None
    supervisor: str | None
    region: str
    ip_template: str
    status: Literal["proposed", "active", "declined", "expired", "completed"]
    responses: dict[str, str | None]
    proposed_at: str
    expires_at: str
    preference_rank: int
    milestones: list[dict[str, Any]]
    ratings: dict[str, dict[str, Any] | None]
    accepted_at: str | None = None
    completed_at: str | None = None
    reason: str | None = None


@router.get(
    "/matches",
    **allow("student", "academic", "sme_member", "region_admin", "analyst"),
    response_model=list[MatchOut],
    summary="Proposals and engagements I am part of",
)
async def list_matches(
    m: Ctx,
    who: CurrentPrincipal,
    status: Literal["proposed", "active", "declined", "expired", "completed"] | None = None,
    *,
    page: Page,
) -> list[dict[str, Any]]:
    return await h.list_matches(m, who, status, page)


@router.get(
    "/matches/{match_id}",
    **allow("student", "academic", "sme_member", "region_admin", "analyst"),
    response_model=MatchOut,
    summary="One proposal or engagement",
)
async def get_match(m: Ctx, who: CurrentPrincipal, match_id: str) -> dict[str, Any]:
    return h.public(await h.get_match(m, match_id, who))


@router.post(
    "/matches/{match_id}/accept",
    **allow("student", "academic", "sme_member"),
    response_model=MatchOut,
    summary="Accept a proposal (my side)",
)
async def accept(m: Ctx, who: CurrentPrincipal, match_id: str) -> dict[str, Any]:
    return await h.accept(m, match_id, who)


@router.post(
    "/matches/{match_id}/decline",
    **allow("student", "academic", "sme_member"),
    response_model=MatchOut,
    summary="Decline a proposal (my side)",
)
async def decline(m: Ctx, who: CurrentPrincipal, match_id: str, body: c.Decline) -> dict[str, Any]:
    return await h.decline(m, match_id, body, who)


@router.post(
    "/matches/{match_id}/milestones",
    **allow("academic", "sme_member"),
    status_code=201,
    response_model=MatchOut,
    summary="Plan a milestone (host)",
)
async def add_milestone(m: Ctx, who: CurrentPrincipal, match_id: str, body: c.Milestone) -> dict[str, Any]:
    return await h.add_milestone(m, match_id, body, who)


@router.post(
    "/matches/{match_id}/milestones/{n}/done",
    **allow("student", "academic", "sme_member"),
    response_model=MatchOut,
    summary="Mark a milestone done",
)
async def milestone_done(
    m: Ctx, who: CurrentPrincipal, match_id: str, n: Annotated[int, Path(ge=1, le=50)]
) -> dict[str, Any]:
    return await h.milestone_done(m, match_id, n, who)


@router.post(
    "/matches/{match_id}/complete",
    **allow("academic", "sme_member"),
    response_model=MatchOut,
    summary="Complete the engagement (host)",
)
async def complete(m: Ctx, who: CurrentPrincipal, match_id: str) -> dict[str, Any]:
    return await h.complete(m, match_id, who)


@router.post(
    "/matches/{match_id}/ratings",
    **allow("student", "academic", "sme_member"),
    status_code=201,
    response_model=MatchOut,
    summary="Rate (once per side)",
)
async def rate(m: Ctx, who: CurrentPrincipal, match_id: str, body: c.Rating) -> dict[str, Any]:
    return await h.rate(m, match_id, body, who)
