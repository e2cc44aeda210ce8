"""Thin HTTP layer of the matching service: parse, call a handler, shape the output."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel

from clustergrowth import etags
from clustergrowth.auth import CurrentPrincipal, allow
from clustergrowth.errors import problem_responses
from clustergrowth.etags import IfMatch
from clustergrowth.paging import Page, Page50
from contracts.matching import Programme
from services.matching import commands as c
from services.matching import handlers as h

Term = Annotated[str | None, Query(pattern=c.TERM, description="academic term, e.g. 2027-spring")]


async def matching(request: Request) -> h.Matching:
    m: h.Matching = request.app.state.matching
    return m


Ctx = Annotated[h.Matching, Depends(matching)]
router = APIRouter(responses=problem_responses(401, 403, 404, 409, 422))
IF_MATCH_PROBLEMS = problem_responses(412, 428)  # what etags.check answers: a stale or weak tag, none or '*'


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
