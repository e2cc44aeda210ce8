"""Routes of challenges: IP templates, posting, browsing, publishing a suggested draft, ranking applicants."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel

from clustergrowth import etags
from clustergrowth.auth import CurrentPrincipal, allow
from clustergrowth.etags import IfMatch
from clustergrowth.paging import Page
from contracts.matching import Programme
from services.matching import commands as c
from services.matching import handlers as h
from services.matching.routes.common import IF_MATCH_PROBLEMS, PROBLEMS, Ctx, Term

router = APIRouter(responses=PROBLEMS)


class ChallengeOut(BaseModel):
    id: str
    programme: str
    status: Literal["draft", "open"]
    title: str
    scope: str
    skills: list[str]
    languages: list[str]
    region: str
    work_mode: str | None = None
    term: str | None = None
    starts_on: str | None = None
    ends_on: str | None = None
    capacity: int | None = None
    ip_template: str | None = None
    ip_terms: str | None = None
    supervisor: str | None = None
    sme_id: str | None = None
    organisation: str | None
    suggested_from: str | None
    need: dict[str, Any] | None = None
    applicant_ranking: list[str]


@router.get(
    "/ip-templates",
    **allow("any"),
    summary="IP/NDA templates a challenge can use (all keep students' portfolio rights)",
)
async def ip_templates(who: CurrentPrincipal) -> dict[str, str]:
    return c.IP_TEMPLATES


@router.post(
    "/challenges",
    **allow("sme_member", "region_admin"),
    status_code=201,
    response_model=ChallengeOut,
    summary="Post a challenge",
)
async def post_challenge(m: Ctx, who: CurrentPrincipal, body: c.PostChallenge) -> dict[str, Any]:
    return await h.post_challenge(m, body, who)


@router.get(
    "/challenges", **allow("any"), response_model=list[ChallengeOut], summary="Open challenges, and my SME's drafts"
)
async def list_challenges(
    m: Ctx,
    who: CurrentPrincipal,
    programme: Programme | None = None,
    term: Term = None,
    status: Literal["draft", "open"] | None = None,
    *,
    page: Page,
) -> list[dict[str, Any]]:
    return await h.list_challenges(m, who, programme=programme, term=term, status=status, page=page)


@router.get("/challenges/{challenge_id}", **allow("any"), response_model=ChallengeOut, summary="One challenge")
async def get_challenge(m: Ctx, who: CurrentPrincipal, challenge_id: str, response: Response) -> dict[str, Any]:
    doc = await h.get_challenge(m, challenge_id, who)
    response.headers["ETag"] = etags.etag(doc["version"])
    return h.public(doc)


@router.post(
    "/challenges/{challenge_id}/publish",
    **allow("sme_member", "region_admin"),
    response_model=ChallengeOut,
    responses=IF_MATCH_PROBLEMS,
    summary="Complete a suggested draft and post it",
)
async def publish(
    m: Ctx,
    who: CurrentPrincipal,
    challenge_id: str,
    body: c.PostChallenge,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    doc, response.headers["ETag"] = await h.publish_draft(m, challenge_id, body, who, if_match)
    return doc


@router.put(
    "/challenges/{challenge_id}/ranking",
    **allow("sme_member", "academic", "region_admin"),
    response_model=ChallengeOut,
    responses=IF_MATCH_PROBLEMS,
    summary="The host's ranking of applicants",
)
async def rank(
    m: Ctx, who: CurrentPrincipal, challenge_id: str, body: c.Ranking, response: Response, if_match: IfMatch = None
) -> dict[str, Any]:
    doc, response.headers["ETag"] = await h.rank_applicants(m, challenge_id, body.ranking, who, if_match)
    return doc
