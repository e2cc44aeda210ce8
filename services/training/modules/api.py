"""Routes of training modules, enrolments and Open Badges credentials.

Who may do what: the region's coordinators (``region_admin``, ``council_secretary`` of this region)
create and change modules, see rosters, record attendance, complete enrolments and revoke credentials;
anyone signed in reads the catalogue and enrols; a participant sees and cancels their own enrolments
and reads their own credentials (another's are 404); anyone, with or without a token (an employer
with no account), verifies a credential and reads the region's keys, issuer profile and status list.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, Response

from clustergrowth.auth import PUBLIC, CurrentPrincipal, RuledRouter, allow
from clustergrowth.context import public
from clustergrowth.errors import problem_responses
from clustergrowth.paging import Page
from services.training.modules import commands as c
from services.training.modules import handlers as h

ATTR = "training_modules"  # where ``attach`` leaves the desk on the service's handler context
router = RuledRouter(responses=problem_responses(401, 403, 404, 409, 422))
STAFF = h.STAFF
ModuleId = Annotated[str, Path(max_length=80)]
EnrolmentId = Annotated[str, Path(max_length=80)]
CredentialId = Annotated[str, Path(max_length=80)]
Practice = Annotated[str | None, Query(max_length=40, pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Language = Annotated[str | None, Query(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]
VC_JWT = "application/vc+jwt"
JSON = dict[str, Any]
NO_NAME = c.Enrol()  # an enrolment without a body: no display name


async def desk(request: Request) -> h.ModuleDesk:
    """The modules desk, from the training service's handler context (``attach`` put it there)."""
    found: h.ModuleDesk = getattr(request.app.state.training, ATTR)
    return found


Desk = Annotated[h.ModuleDesk, Depends(desk)]


def out(doc: JSON) -> JSON:
    return public(doc)


@router.post("/modules", **allow(*STAFF), status_code=201, summary="Create a training module of this region")
async def create_module(who: CurrentPrincipal, d: Desk, body: c.CreateModule) -> JSON:
    return out(await h.create_module(d, body, who))


@router.get("/modules", **allow("any"), summary="The region's modules, by first session (catalogue)")
async def list_modules(
    who: CurrentPrincipal, d: Desk, page: Page, practice: Practice = None, language: Language = None
) -> list[JSON]:
    return [out(h.view(who, m)) for m in await h.list_modules(d, page, practice, language)]


@router.get("/modules/{module_id}", **allow("any"), summary="One module: sessions, places taken, waitlist length")
async def get_module(who: CurrentPrincipal, d: Desk, module_id: ModuleId) -> JSON:
    return out(h.view(who, await h.get_module(d, module_id)))


@router.patch(
    "/modules/{module_id}",
    **allow(*STAFF),
    summary="Change a module; more capacity promotes from the waitlist (EnrolmentConfirmed)",
)
async def update_module(who: CurrentPrincipal, d: Desk, module_id: ModuleId, body: c.UpdateModule) -> JSON:
    return out(await h.update_module(d, module_id, body, who))


@router.post(
    "/modules/{module_id}/enrolments",
    **allow("any"),
    status_code=201,
    summary="Enrol: a place (EnrolmentConfirmed), or the waitlist when the module is full; optionally the "
    "name the roster shows",
)
async def enrol(who: CurrentPrincipal, d: Desk, module_id: ModuleId, body: c.Enrol = NO_NAME) -> JSON:
    return await h.enrol(d, module_id, who, body.display_name)


@router.get(
    "/modules/{module_id}/enrolments", **allow(*STAFF), summary="A module's enrolments in order (its coordinators)"
)
async def roster(who: CurrentPrincipal, d: Desk, module_id: ModuleId, page: Page) -> list[JSON]:
    return await h.roster(d, module_id, who, page)


@router.put(
    "/modules/{module_id}/sessions/{n}/attendance",
    **allow(*STAFF),
    summary="Record who attended session n (the others are absent)",
)
async def attendance(
    who: CurrentPrincipal, d: Desk, module_id: ModuleId, n: Annotated[int, Path(ge=1, le=40)], body: c.Attendance
) -> JSON:
    return await h.record_attendance(d, module_id, n, body, who)


@router.get("/enrolments/mine", **allow("any"), summary="My enrolments, newest first")
async def my_enrolments(who: CurrentPrincipal, d: Desk, page: Page) -> list[JSON]:
    return await h.my_enrolments(d, who, page)


@router.get("/enrolments/{enrolment_id}", **allow("any"), summary="One enrolment (its participant, coordinators)")
async def get_enrolment(who: CurrentPrincipal, d: Desk, enrolment_id: EnrolmentId) -> JSON:
    return await h.get_enrolment(d, enrolment_id, who)


@router.post(
    "/enrolments/{enrolment_id}/cancel",
    **allow("any"),
    summary="Cancel an enrolment (its participant, coordinators); the waitlist's head is promoted",
)
async def cancel_enrolment(who: CurrentPrincipal, d: Desk, enrolment_id: EnrolmentId) -> JSON:
    return await h.cancel_enrolment(d, enrolment_id, who)


@router.post(
    "/enrolments/{enrolment_id}/complete",
    **allow(*STAFF),
    summary="Complete an enrolment and issue its Open Badges 3.0 credential (ModuleCompleted)",
)
async def complete(who: CurrentPrincipal, d: Desk, enrolment_id: EnrolmentId) -> JSON:
    return await h.complete(d, enrolment_id, who)


@router.get("/credentials/mine", **allow("any"), summary="My credentials, newest first")
async def my_credentials(who: CurrentPrincipal, d: Desk, page: Page) -> list[JSON]:
    return await h.my_credentials(d, who, page)


@router.get("/credentials/jwks.json", **allow(PUBLIC), summary="The public keys the region signs credentials with")
async def jwks(d: Desk) -> JSON:
    return d.issuer.jwks()


@router.get("/credentials/issuer", **allow(PUBLIC), summary="The region's issuer profile (the credentials' issuer)")
async def issuer(d: Desk) -> JSON:
    return {**d.issuer.profile(), "jwks": f"{d.issuer.base_url}/credentials/jwks.json"}


@router.get(
    "/credentials/status",
    **allow(PUBLIC),
    response_class=Response,
    summary="The region's revocation list: a BitstringStatusListCredential as a VC-JWT",
)
async def status(d: Desk) -> Response:
    return Response(await h.status_list(d), media_type=VC_JWT)


@router.post(
    "/credentials/verify",
    **allow(PUBLIC),
    summary="Verify a credential: signature (this region's keys), issuer, validity window, revocation",
)
async def verify(d: Desk, body: c.Verify) -> JSON:
    return await h.verify(d, body.credential)


@router.get("/credentials/{credential_id}", **allow("any"), summary="One credential (its holder, coordinators)")
async def get_credential(who: CurrentPrincipal, d: Desk, credential_id: CredentialId) -> JSON:
    return await h.get_credential(d, credential_id, who)


@router.post(
    "/credentials/{credential_id}/revoke",
    **allow(*STAFF),
    summary="Revoke a credential: its bit is set in the region's status list",
)
async def revoke(who: CurrentPrincipal, d: Desk, credential_id: CredentialId, body: c.Revoke) -> JSON:
    return await h.revoke(d, credential_id, body.reason, who)
