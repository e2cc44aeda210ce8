"""Routes of joint-innovation initiatives: propose, read, launch by a decision, report progress, end."""

from __future__ import annotations

from typing import Literal

from fastapi import Response

from clustergrowth import etags
from clustergrowth.auth import CurrentPrincipal, RuledRouter, allow
from clustergrowth.context import public
from clustergrowth.etags import IfMatch
from clustergrowth.paging import Page
from clustergrowth.store.port import Doc
from services.councils import commands as c
from services.councils.handlers import initiatives as h
from services.councils.routes.common import IF_MATCH_PROBLEMS, PROBLEMS, Ctx
from services.councils.wire import InitiativeOut

router = RuledRouter(responses=PROBLEMS)
State = Literal["proposed", "active", "completed", "abandoned"]
Base = "/councils/{council_id}/initiatives"
One = Base + "/{initiative_id}"


def out(doc: Doc, response: Response | None = None) -> InitiativeOut:
    if response is not None:
        response.headers["ETag"] = etags.tag(doc)
    return InitiativeOut.model_validate(public(doc))


@router.get(Base, **allow("any"), summary="Initiatives led by a council")
async def list_initiatives(
    who: CurrentPrincipal, f: Ctx, council_id: str, page: Page, state: State | None = None
) -> list[InitiativeOut]:
    return [out(d) for d in await h.list_initiatives(f, council_id, page, state)]


@router.post(Base, **allow("any"), status_code=201, summary="Propose an initiative (members): InitiativeProposed")
async def propose(
    who: CurrentPrincipal, f: Ctx, council_id: str, body: c.ProposeInitiative, response: Response
) -> InitiativeOut:
    return out(await h.propose(f, council_id, body, who), response)


@router.get(One, **allow("any"), summary="One initiative")
async def get_initiative(
    who: CurrentPrincipal, f: Ctx, council_id: str, initiative_id: str, response: Response
) -> InitiativeOut:
    return out(await h.get_initiative(f, council_id, initiative_id), response)


@router.post(
    One + "/launch",
    **allow("any"),
    summary="Launch by a closed decision that endorses it (the secretary): InitiativeLaunched",
)
async def launch(who: CurrentPrincipal, f: Ctx, council_id: str, initiative_id: str, body: c.Launch) -> InitiativeOut:
    return out(await h.launch(f, council_id, initiative_id, body.decision_id, who))


@router.put(
    One + "/progress",
    **allow("any"),
    responses=IF_MATCH_PROBLEMS,
    summary="Milestones, KPIs and progress of an active initiative (the secretary, the proposer)",
)
async def progress(
    who: CurrentPrincipal,
    f: Ctx,
    council_id: str,
    initiative_id: str,
    body: c.Progress,
    response: Response,
    if_match: IfMatch = None,
) -> InitiativeOut:
    return out(await h.report_progress(f, council_id, initiative_id, body, who, if_match), response)


@router.post(One + "/complete", **allow("any"), summary="Complete an active initiative: InitiativeCompleted")
async def complete(who: CurrentPrincipal, f: Ctx, council_id: str, initiative_id: str) -> InitiativeOut:
    return out(await h.end(f, council_id, initiative_id, "completed", None, who))


@router.post(
    One + "/abandon",
    **allow("any"),
    summary="Abandon an active initiative with a reason: InitiativeCompleted (abandoned)",
)
async def abandon(who: CurrentPrincipal, f: Ctx, council_id: str, initiative_id: str, body: c.Abandon) -> InitiativeOut:
    return out(await h.end(f, council_id, initiative_id, "abandoned", body.reason, who))
