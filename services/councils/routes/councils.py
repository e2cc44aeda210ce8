"""Routes of councils and membership: profiles, composition, members, invitations and applications,
ending a membership, a member's data exported and erased."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import Query, Response

from clustergrowth import etags
from clustergrowth.auth import CurrentPrincipal, RuledRouter, allow
from clustergrowth.context import public
from clustergrowth.etags import IfMatch
from clustergrowth.paging import Page
from services.councils import commands as c
from services.councils.handlers import councils as h
from services.councils.routes.common import IF_MATCH_PROBLEMS, PROBLEMS, Ctx
from services.councils.wire import CompositionOut, CouncilOut, MemberExport, MemberOut, RequestOut, RequestsExport

router = RuledRouter(responses=PROBLEMS)
Region = Annotated[str | None, Query(pattern=r"^[A-Z]{2}[0-9A-Z]{2}$", description="NUTS-2 code")]
RequestStatus = Literal["pending", "accepted", "declined", "approved", "rejected", "withdrawn", "expired"]


@router.get("/councils", **allow("any"), summary="Councils' public profiles")
async def list_councils(who: CurrentPrincipal, f: Ctx, page: Page, region: Region = None) -> list[CouncilOut]:
    return [CouncilOut.model_validate(public(d)) for d in await h.list_councils(f, page, region)]


@router.post(
    "/councils",
    **allow("region_admin", "council_secretary"),
    status_code=201,
    summary="Form a council of this region (CouncilFormed)",
)
async def form(who: CurrentPrincipal, f: Ctx, body: c.FormCouncil, response: Response) -> CouncilOut:
    doc = await h.form(f, body, who)
    response.headers["Location"] = f"/api/v1/councils/councils/{doc['_id']}"
    response.headers["ETag"] = etags.tag(doc)
    return CouncilOut.model_validate(public(doc))


@router.get("/councils/{council_id}", **allow("any"), summary="A council's public profile")
async def get_council(who: CurrentPrincipal, f: Ctx, council_id: str, response: Response) -> CouncilOut:
    doc = await h.get_council(f, council_id)
    response.headers["ETag"] = etags.tag(doc)
    return CouncilOut.model_validate(public(doc))


@router.patch(
    "/councils/{council_id}",
    **allow("any"),
    responses=IF_MATCH_PROBLEMS,
    summary="Change a council's profile (its secretary, the region's staff)",
)
async def update_council(
    who: CurrentPrincipal, f: Ctx, council_id: str, body: c.UpdateCouncil, response: Response, if_match: IfMatch = None
) -> CouncilOut:
    doc = await h.update_profile(f, council_id, body, who, if_match)
    response.headers["ETag"] = etags.tag(doc)
    return CouncilOut.model_validate(public(doc))


@router.get(
    "/councils/{council_id}/composition",
    **allow("any"),
    summary="Members by constituency, with a warning when too few are represented (members, staff, analysts)",
)
async def composition(who: CurrentPrincipal, f: Ctx, council_id: str) -> CompositionOut:
    return CompositionOut.model_validate(await h.composition(f, council_id, who))


@router.get("/councils/{council_id}/members", **allow("any"), summary="Active members (the council's members)")
async def members(who: CurrentPrincipal, f: Ctx, council_id: str, page: Page) -> list[MemberOut]:
    return [MemberOut.model_validate(m) for m in await h.members(f, council_id, who, page)]


@router.post(
    "/councils/{council_id}/invitations",
    **allow("any"),
    status_code=201,
    summary="Invite a person to join (the council's secretary, the region's staff)",
)
async def invite(who: CurrentPrincipal, f: Ctx, council_id: str, body: c.Invite) -> RequestOut:
    return RequestOut.model_validate(await h.invite(f, council_id, body, who))


@router.post("/applications", **allow("any"), status_code=201, summary="Apply to join a council")
async def apply(who: CurrentPrincipal, f: Ctx, body: c.Apply) -> RequestOut:
    return RequestOut.model_validate(await h.apply(f, body, who))


@router.get("/requests/mine", **allow("any"), summary="My invitations and applications")
async def my_requests(who: CurrentPrincipal, f: Ctx, page: Page) -> list[RequestOut]:
    return [RequestOut.model_validate(r) for r in await h.my_requests(f, who, page)]


@router.get(
    "/requests/mine/export",
    **allow("any"),
    summary="Everything held about my invitations and applications, joined or not (the person)",
)
async def export_my_requests(who: CurrentPrincipal, f: Ctx) -> Response:
    held = RequestsExport.model_validate(await h.export_my_requests(f, who)).model_dump(mode="json")
    return Response(
        json.dumps(held, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="council-requests.json"'},
    )


@router.delete(
    "/requests/mine/{request_id}",
    **allow("any"),
    status_code=204,
    summary="Erase my name, e-mail and motivation in one of my requests; a pending one is withdrawn (the person)",
)
async def erase_my_request(who: CurrentPrincipal, f: Ctx, request_id: str) -> Response:
    await h.erase_my_request(f, request_id, who)
    return Response(status_code=204)


@router.get(
    "/councils/{council_id}/requests",
    **allow("any"),
    summary="A council's invitations and applications (its secretary, the region's staff)",
)
async def council_requests(
    who: CurrentPrincipal, f: Ctx, council_id: str, page: Page, status: RequestStatus | None = None
) -> list[RequestOut]:
    return [RequestOut.model_validate(r) for r in await h.requests(f, council_id, who, page, status)]


@router.post(
    "/councils/{council_id}/requests/{request_id}/accept",
    **allow("any"),
    summary="Accept an invitation (the invited person, within 30 days): MemberJoined",
)
async def accept(who: CurrentPrincipal, f: Ctx, council_id: str, request_id: str, body: c.Accept) -> RequestOut:
    given = body.model_dump(mode="json", exclude_none=True)
    return RequestOut.model_validate(await h.answer(f, council_id, request_id, "accept", who, given))


@router.post(
    "/councils/{council_id}/requests/{request_id}/decline",
    **allow("any"),
    summary="Decline an invitation (the invited person)",
)
async def decline(who: CurrentPrincipal, f: Ctx, council_id: str, request_id: str) -> RequestOut:
    return RequestOut.model_validate(await h.answer(f, council_id, request_id, "decline", who))


@router.post(
    "/councils/{council_id}/requests/{request_id}/approve",
    **allow("any"),
    summary="Approve an application (the council's secretary, the region's staff): MemberJoined",
)
async def approve(who: CurrentPrincipal, f: Ctx, council_id: str, request_id: str) -> RequestOut:
    return RequestOut.model_validate(await h.answer(f, council_id, request_id, "approve", who))


@router.post(
    "/councils/{council_id}/requests/{request_id}/reject",
    **allow("any"),
    summary="Reject an application (the council's secretary, the region's staff)",
)
async def reject(who: CurrentPrincipal, f: Ctx, council_id: str, request_id: str, body: c.Reject) -> RequestOut:
    extra = {"reason": body.reason} if body.reason else None
    return RequestOut.model_validate(await h.answer(f, council_id, request_id, "reject", who, extra))


@router.post(
    "/councils/{council_id}/requests/{request_id}/withdraw",
    **allow("any"),
    summary="Withdraw a pending invitation (the council's secretary, the region's staff)",
)
async def withdraw(who: CurrentPrincipal, f: Ctx, council_id: str, request_id: str) -> RequestOut:
    return RequestOut.model_validate(await h.withdraw(f, council_id, request_id, who))


@router.post(
    "/councils/{council_id}/members/{member_id}/end",
    **allow("any"),
    summary="End a membership (the secretary, the region's staff; a member resigns her own): MemberLeft",
)
async def end_membership(
    who: CurrentPrincipal, f: Ctx, council_id: str, member_id: str, body: c.EndMembership
) -> MemberOut:
    return MemberOut.model_validate(await h.end_membership(f, council_id, member_id, body.reason, who))


@router.get(
    "/councils/{council_id}/members/{member_id}/export",
    **allow("any"),
    summary="Everything held about a member in a council (the member; region_admin, council_secretary)",
)
async def export(who: CurrentPrincipal, f: Ctx, council_id: str, member_id: str) -> Response:
    held = MemberExport.model_validate(await h.export(f, council_id, member_id, who)).model_dump(mode="json")
    return Response(
        json.dumps(held, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{member_id}.json"'},
    )


@router.delete(
    "/councils/{council_id}/members/{member_id}",
    **allow("any"),
    status_code=204,
    summary="Erase a member's personal data in a council (the member; region_admin): MemberLeft (erased)",
)
async def erase(who: CurrentPrincipal, f: Ctx, council_id: str, member_id: str) -> Response:
    await h.erase(f, council_id, member_id, who)
    return Response(status_code=204)
