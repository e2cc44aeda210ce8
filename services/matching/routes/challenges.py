"""Routes of challenges: IP templates, posting, browsing, publishing a suggested draft, the applicants and
the host's ranking of them."""

from __future__ import annotations

from typing import Literal

from fastapi import Response

from clustergrowth import etags
from clustergrowth.auth import CurrentPrincipal, RuledRouter, allow
from clustergrowth.etags import IfMatch
from clustergrowth.paging import Page, Page200
from contracts.matching import Programme
from services.matching import commands as c
from services.matching import handlers as h
from services.matching.routes.common import IF_MATCH_PROBLEMS, PROBLEMS, Ctx, Term
from services.matching.wire import ApplicantsOut, ChallengeOut

router = RuledRouter(responses=PROBLEMS)


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
    summary="Post a challenge",
)
async def post_challenge(who: CurrentPrincipal, m: Ctx, body: c.PostChallenge) -> ChallengeOut:
    return ChallengeOut.model_validate(await h.post_challenge(m, body, who))


@router.get("/challenges", **allow("any"), summary="Open challenges, and my SME's drafts")
async def list_challenges(
    who: CurrentPrincipal,
    m: Ctx,
    programme: Programme | None = None,
    term: Term = None,
    status: Literal["draft", "open"] | None = None,
    *,
    page: Page,
) -> list[ChallengeOut]:
    found = await h.list_challenges(m, who, programme=programme, term=term, status=status, page=page)
    return [ChallengeOut.model_validate(d) for d in found]


@router.get("/challenges/{challenge_id}", **allow("any"), summary="One challenge")
async def get_challenge(who: CurrentPrincipal, m: Ctx, challenge_id: str, response: Response) -> ChallengeOut:
    doc = await h.get_challenge(m, challenge_id, who)
    response.headers["ETag"] = etags.tag(doc)
    return ChallengeOut.model_validate(h.public(doc))


@router.post(
    "/challenges/{challenge_id}/publish",
    **allow("sme_member", "region_admin"),
    responses=IF_MATCH_PROBLEMS,
    summary="Complete a suggested draft and post it",
)
async def publish(
    who: CurrentPrincipal,
    m: Ctx,
    challenge_id: str,
    body: c.PostChallenge,
    response: Response,
    if_match: IfMatch = None,
) -> ChallengeOut:
    doc, response.headers["ETag"] = await h.publish_draft(m, challenge_id, body, who, if_match)
    return ChallengeOut.model_validate(doc)


@router.put(
    "/challenges/{challenge_id}/ranking",
    **allow("sme_member", "academic", "region_admin"),
    responses=IF_MATCH_PROBLEMS,
    summary="The host's ranking of applicants",
)
async def rank(
    who: CurrentPrincipal, m: Ctx, challenge_id: str, body: c.Ranking, response: Response, if_match: IfMatch = None
) -> ChallengeOut:
    doc, response.headers["ETag"] = await h.rank_applicants(m, challenge_id, body.ranking, who, if_match)
    return ChallengeOut.model_validate(doc)


@router.get(
    "/challenges/{challenge_id}/applicants",
    **allow("sme_member", "academic", "region_admin"),
    summary="The candidates who rank a challenge, and the host's ranking of them (host side)",
)
async def applicants(
    who: CurrentPrincipal, m: Ctx, challenge_id: str, response: Response, page: Page200
) -> ApplicantsOut:
    found, response.headers["ETag"] = await h.list_applicants(m, challenge_id, who, page)
    return ApplicantsOut.model_validate(found)
