"""Routes of candidate profiles: a student's or an academic's own profile and their ranking of challenges."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from clustergrowth.auth import CurrentPrincipal, allow
from services.matching import commands as c
from services.matching import handlers as h
from services.matching.routes.common import PROBLEMS, Ctx

router = APIRouter(responses=PROBLEMS)


class ProfileOut(BaseModel):
    id: str
    kind: str
    skills: list[str]
    languages: list[str]
    programme_of_study: str | None
    available_from: str
    available_until: str
    cross_border: bool
    supervision_capacity: int
    home_region: str
    organisation: str | None
    preferences: list[str]
    updated_at: str


@router.put(
    "/candidates/me",
    **allow("student", "academic"),
    response_model=ProfileOut,
    summary="Create or update my candidate profile",
)
async def put_profile(m: Ctx, who: CurrentPrincipal, body: c.Profile) -> dict[str, Any]:
    return await h.put_profile(m, body, who)


@router.get("/candidates/me", **allow("student", "academic"), response_model=ProfileOut, summary="My candidate profile")
async def my_profile(m: Ctx, who: CurrentPrincipal) -> dict[str, Any]:
    return h.public(await h.get_profile(m, who.id, who))


@router.get(
    "/candidates/{candidate_id}",
    **allow("student", "academic", "region_admin"),
    response_model=ProfileOut,
    summary="A candidate profile (coordinator)",
)
async def get_profile(m: Ctx, who: CurrentPrincipal, candidate_id: str) -> dict[str, Any]:
    return h.public(await h.get_profile(m, candidate_id, who))


@router.put(
    "/candidates/me/preferences",
    **allow("student", "academic"),
    response_model=ProfileOut,
    summary="My ranking of challenges",
)
async def preferences(m: Ctx, who: CurrentPrincipal, body: c.Ranking) -> dict[str, Any]:
    return await h.set_preferences(m, body.ranking, who)
