"""Routes of mobility placements: applicants, hosts, screening, suggestions, the four-party agreement,
reports, completion, and the cross-border share.

Who may do what: anyone signed in applies (one application each) and reads the host catalogue; an
organisation's members (``sme_member``, ``facility_manager``) offer it as a host; the intermediary of a
region (``region_admin``, ``council_secretary`` whose region it is, a partner's through the partner
issuer's role mapping) screens that region's applicants and hosts, asks for suggestions, proposes,
revises terms, completes and ends placements of its side; each party accepts for itself only; the
applicant and the host report; analysts and intermediaries read the cross-border counts. A placement
is visible to its four parties only (404 for anyone else).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Query, Request

from clustergrowth.auth import CurrentPrincipal, RuledRouter, allow
from clustergrowth.context import public
from clustergrowth.errors import problem_responses
from clustergrowth.paging import Page
from services.training.placements import commands as c
from services.training.placements import handlers as h
from services.training.placements.domain import STAFF

ATTR = "training_placements"  # where ``attach`` leaves the desk on the service's handler context
router = RuledRouter(responses=problem_responses(401, 403, 404, 409, 422))
HOST_MEMBERS = ("sme_member", "facility_manager")
ApplicantId = Annotated[str, Path(max_length=80)]
HostId = Annotated[str, Path(max_length=80)]
PlacementId = Annotated[str, Path(max_length=80)]
Screening = Literal["submitted", "accepted", "rejected"]
Region = Annotated[str | None, Query(pattern=r"^[A-Z]{2}[0-9A-Z]{2}$", description="NUTS-2 code")]
JSON = dict[str, Any]


async def desk(request: Request) -> h.PlacementDesk:
    """The placements desk, from the training service's handler context (``attach`` put it there)."""
    found: h.PlacementDesk = getattr(request.app.state.training, ATTR)
    return found


Desk = Annotated[h.PlacementDesk, Depends(desk)]


@router.post("/applicants", **allow("any"), status_code=201, summary="Apply for a mobility placement")
async def apply(who: CurrentPrincipal, d: Desk, body: c.ApplyForPlacement) -> JSON:
    return public(await h.apply(d, body, who))


@router.get("/applicants", **allow(*STAFF), summary="The applicants of my region (its intermediary)")
async def list_applicants(who: CurrentPrincipal, d: Desk, page: Page, status: Screening | None = None) -> list[JSON]:
    return [public(x) for x in await h.list_applicants(d, who, page, status)]


@router.get("/applicants/mine", **allow("any"), summary="My application")
async def my_application(who: CurrentPrincipal, d: Desk) -> JSON:
    return public(await h.my_application(d, who))


@router.get(
    "/applicants/{applicant_id}",
    **allow("any"),
    summary="One applicant (the applicant, intermediaries, hosts of its placements)",
)
async def get_applicant(who: CurrentPrincipal, d: Desk, applicant_id: ApplicantId) -> JSON:
    return public(await h.get_applicant(d, applicant_id, who))


@router.post(
    "/applicants/{applicant_id}/screening", **allow(*STAFF), summary="Screen an applicant (its region's intermediary)"
)
async def screen_applicant(who: CurrentPrincipal, d: Desk, applicant_id: ApplicantId, body: c.Screen) -> JSON:
    return public(await h.screen_applicant(d, applicant_id, body, who))


@router.post("/hosts", **allow(*HOST_MEMBERS), status_code=201, summary="Offer my organisation as a host")
async def register_host(who: CurrentPrincipal, d: Desk, body: c.RegisterHost) -> JSON:
    return public(await h.register_host(d, body, who))


@router.get("/hosts", **allow("any"), summary="Hosts: accepted ones of every region (the catalogue)")
async def list_hosts(
    who: CurrentPrincipal, d: Desk, page: Page, status: Screening = "accepted", region: Region = None
) -> list[JSON]:
    return [public(x) for x in await h.list_hosts(d, who, page, status, region)]


@router.get(
    "/hosts/{host_id}", **allow("any"), summary="One host (accepted: anyone; else its organisation, intermediary)"
)
async def get_host(who: CurrentPrincipal, d: Desk, host_id: HostId) -> JSON:
    return public(await h.get_host(d, host_id, who))


@router.post("/hosts/{host_id}/screening", **allow(*STAFF), summary="Screen a host (its region's intermediary)")
async def screen_host(who: CurrentPrincipal, d: Desk, host_id: HostId, body: c.Screen) -> JSON:
    return public(await h.screen_host(d, host_id, body, who))


@router.post(
    "/placements/suggestions",
    **allow(*STAFF),
    summary="Suggested placements for my region's applicants (the allocation engine; nothing is written)",
)
async def suggest(who: CurrentPrincipal, d: Desk, body: c.Suggest) -> JSON:
    return await h.suggest(d, body, who)


@router.post(
    "/placements",
    **allow(*STAFF),
    status_code=201,
    summary="Propose a placement with its draft agreement (PlacementProposed)",
)
async def propose(who: CurrentPrincipal, d: Desk, body: c.Propose) -> JSON:
    return public(await h.propose(d, body, who))


@router.get("/placements", **allow("any"), summary="Placements I am a party to, newest first")
async def list_placements(who: CurrentPrincipal, d: Desk, page: Page) -> list[JSON]:
    return [public(x) for x in await h.list_placements(d, who, page)]


@router.get(
    "/placements/cross-border",
    **allow(*STAFF, "analyst"),
    summary="How many placements crossed a border (counts and share)",
)
async def cross_border(who: CurrentPrincipal, d: Desk) -> JSON:
    return await h.cross_border(d)


@router.get("/placements/{placement_id}", **allow("any"), summary="One placement (its four parties)")
async def get_placement(who: CurrentPrincipal, d: Desk, placement_id: PlacementId) -> JSON:
    return public(await h.get_placement(d, placement_id, who))


@router.put(
    "/placements/{placement_id}/terms",
    **allow(*STAFF),
    summary="Revise the agreement (its intermediaries); every acceptance lapses",
)
async def revise(who: CurrentPrincipal, d: Desk, placement_id: PlacementId, body: c.Revise) -> JSON:
    return public(await h.revise(d, placement_id, body, who))


@router.post(
    "/placements/{placement_id}/acceptances",
    **allow("any"),
    summary="Accept the agreement as one of its parties; the fourth makes it agreed (PlacementAgreed)",
)
async def accept(who: CurrentPrincipal, d: Desk, placement_id: PlacementId, body: c.AcceptAgreement) -> JSON:
    return public(await h.accept(d, placement_id, body, who))


@router.post(
    "/placements/{placement_id}/reports", **allow("any"), summary="Report on an active placement (applicant, host)"
)
async def report(who: CurrentPrincipal, d: Desk, placement_id: PlacementId, body: c.Report) -> JSON:
    return public(await h.report(d, placement_id, body, who))


@router.post(
    "/placements/{placement_id}/complete",
    **allow(*STAFF),
    summary="Complete a placement after its last day, with both final reports (PlacementCompleted)",
)
async def complete(who: CurrentPrincipal, d: Desk, placement_id: PlacementId) -> JSON:
    return public(await h.complete(d, placement_id, who))


@router.post(
    "/placements/{placement_id}/end",
    **allow(*STAFF),
    summary="End a placement early with a reason (PlacementCompleted, outcome ended_early)",
)
async def end(who: CurrentPrincipal, d: Desk, placement_id: PlacementId, body: c.End) -> JSON:
    return public(await h.end(d, placement_id, body.reason, who))
