"""Routes of matches: proposals and engagements, and every step of their lifecycle."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from clustergrowth.auth import CurrentPrincipal, RuledRouter, allow
from clustergrowth.paging import Page
from clustergrowth.store.port import Doc
from services.matching import commands as c
from services.matching import handlers as h
from services.matching.routes.common import PROBLEMS, Ctx
from services.matching.wire import MatchOut, MatchStatus

router = RuledRouter(responses=PROBLEMS)


async def named(m: h.Matching, doc: Doc) -> MatchOut:
    """A match as answered: with its candidate's display name, read now."""
    return MatchOut.model_validate(await h.named_match(m, doc))


@router.get(
    "/matches",
    **allow("student", "academic", "sme_member", "region_admin", "analyst"),
    summary="Proposals and engagements I am part of",
)
async def list_matches(
    who: CurrentPrincipal,
    m: Ctx,
    status: MatchStatus | None = None,
    *,
    page: Page,
) -> list[MatchOut]:
    found = await h.named_matches(m, await h.list_matches(m, who, status, page))
    return [MatchOut.model_validate(d) for d in found]


@router.get(
    "/matches/{match_id}",
    **allow("student", "academic", "sme_member", "region_admin", "analyst"),
    summary="One proposal or engagement",
)
async def get_match(who: CurrentPrincipal, m: Ctx, match_id: str) -> MatchOut:
    return await named(m, h.public(await h.get_match(m, match_id, who)))


@router.post(
    "/matches/{match_id}/accept",
    **allow("student", "academic", "sme_member"),
    summary="Accept a proposal (my side)",
)
async def accept(who: CurrentPrincipal, m: Ctx, match_id: str) -> MatchOut:
    return await named(m, await h.accept(m, match_id, who))


@router.post(
    "/matches/{match_id}/decline",
    **allow("student", "academic", "sme_member"),
    summary="Decline a proposal (my side)",
)
async def decline(who: CurrentPrincipal, m: Ctx, match_id: str, body: c.Decline) -> MatchOut:
    return await named(m, await h.decline(m, match_id, body, who))


@router.post(
    "/matches/{match_id}/milestones",
    **allow("academic", "sme_member"),
    status_code=201,
    summary="Plan a milestone (host)",
)
async def add_milestone(who: CurrentPrincipal, m: Ctx, match_id: str, body: c.Milestone) -> MatchOut:
    return await named(m, await h.add_milestone(m, match_id, body, who))


@router.post(
    "/matches/{match_id}/milestones/{n}/done",
    **allow("student", "academic", "sme_member"),
    summary="Mark a milestone done",
)
async def milestone_done(
    who: CurrentPrincipal, m: Ctx, match_id: str, n: Annotated[int, Path(ge=1, le=50)]
) -> MatchOut:
    return await named(m, await h.milestone_done(m, match_id, n, who))


@router.post(
    "/matches/{match_id}/complete",
    **allow("academic", "sme_member"),
    summary="Complete the engagement (host)",
)
async def complete(who: CurrentPrincipal, m: Ctx, match_id: str) -> MatchOut:
    return await named(m, await h.complete(m, match_id, who))


@router.post(
    "/matches/{match_id}/ratings",
    **allow("student", "academic", "sme_member"),
    status_code=201,
    summary="Rate (once per side)",
)
async def rate(who: CurrentPrincipal, m: Ctx, match_id: str, body: c.Rating) -> MatchOut:
    return await named(m, await h.rate(m, match_id, body, who))
