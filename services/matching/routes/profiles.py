"""Routes of candidate profiles: a student's or an academic's own profile and their ranking of challenges;
the academics who offer supervision, for those who post challenges."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from clustergrowth.auth import CurrentPrincipal, RuledRouter, allow
from clustergrowth.paging import Page200
from services.matching import commands as c
from services.matching import handlers as h
from services.matching.routes.common import PROBLEMS, Ctx
from services.matching.wire import ProfileOut, SupervisorOut

router = RuledRouter(responses=PROBLEMS)


@router.put(
    "/candidates/me",
    **allow("student", "academic"),
    summary="Create or update my candidate profile",
)
async def put_profile(who: CurrentPrincipal, m: Ctx, body: c.Profile) -> ProfileOut:
    return ProfileOut.model_validate(await h.put_profile(m, body, who))


@router.get("/candidates/me", **allow("student", "academic"), summary="My candidate profile")
async def my_profile(who: CurrentPrincipal, m: Ctx) -> ProfileOut:
    return ProfileOut.model_validate(h.public(await h.get_profile(m, who.id, who)))


@router.get(
    "/candidates/{candidate_id}",
    **allow("student", "academic", "region_admin"),
    summary="A candidate profile (coordinator)",
)
async def get_profile(who: CurrentPrincipal, m: Ctx, candidate_id: str) -> ProfileOut:
    return ProfileOut.model_validate(h.public(await h.get_profile(m, candidate_id, who)))


@router.put(
    "/candidates/me/preferences",
    **allow("student", "academic"),
    summary="My ranking of challenges",
)
async def preferences(who: CurrentPrincipal, m: Ctx, body: c.Ranking) -> ProfileOut:
    return ProfileOut.model_validate(await h.set_preferences(m, body.ranking, who))


@router.get(
    "/supervisors",
    **allow("sme_member", "region_admin"),
    summary="Academics who offer supervision here (to name as a challenge's supervisor)",
)
async def supervisors(
    who: CurrentPrincipal,
    m: Ctx,
    page: Page200,
    skill: Annotated[str | None, Query(min_length=1, max_length=60, description="only those who list it")] = None,
) -> list[SupervisorOut]:
    return [SupervisorOut.model_validate(d) for d in await h.list_supervisors(m, who, skill, page)]
