"""Routes of meetings: schedule, read, change, cancel; registration and its waitlist; check-in; minutes;
closing; the iCalendar feeds of a council and of a member."""

from __future__ import annotations

from typing import Literal

from fastapi import Response

from clustergrowth.auth import CurrentPrincipal, Principal, RuledRouter, allow
from clustergrowth.context import public
from clustergrowth.etags import IfMatch
from clustergrowth.paging import Page
from clustergrowth.store.port import Doc
from services.councils import commands as c
from services.councils import ical
from services.councils import store as st
from services.councils.handlers import councils as hc
from services.councils.handlers import meetings as h
from services.councils.routes.common import ICS, IF_MATCH_PROBLEMS, PROBLEMS, Ctx
from services.councils.wire import MeetingOut, RegistrationAnswer, RegistrationOut

router = RuledRouter(responses=PROBLEMS)
MeetingStatus = Literal["scheduled", "held", "cancelled"]
Base = "/councils/{council_id}/meetings"
One = Base + "/{meeting_id}"


def out(doc: Doc) -> MeetingOut:
    """A meeting as the caller may see it (``h.view``); its ETag is that of the stored meeting, which is what
    an update is checked against, not of the view (the same for every caller)."""
    return MeetingOut.model_validate(public(doc) | {"private": doc.get("private")})


async def _view(f: Ctx, who: Principal, council_id: str, doc: Doc) -> Doc:
    return h.view(who, await hc.get_council(f, council_id), doc, f.region)


@router.get(Base, **allow("any"), summary="A council's meetings (public times and places)")
async def list_meetings(
    who: CurrentPrincipal, f: Ctx, council_id: str, page: Page, status: MeetingStatus | None = None
) -> list[MeetingOut]:
    council = await hc.get_council(f, council_id)
    docs = await h.list_meetings(f, council_id, page, status)
    return [out(h.view(who, council, d, f.region)) for d in docs]


@router.post(Base, **allow("any"), status_code=201, summary="Schedule a meeting (MeetingScheduled)")
async def schedule(
    who: CurrentPrincipal, f: Ctx, council_id: str, body: c.ScheduleMeeting, response: Response
) -> MeetingOut:
    doc, response.headers["ETag"] = await h.schedule(f, council_id, body, who)
    return out(doc)


@router.get(One, **allow("any"), summary="One meeting (registrations, attendance, drafts and minutes for members)")
async def get_meeting(
    who: CurrentPrincipal, f: Ctx, council_id: str, meeting_id: str, response: Response
) -> MeetingOut:
    doc = await h.get_meeting(f, council_id, meeting_id)
    response.headers["ETag"] = h.tag(doc)  # registrations excluded: members registering do not change it
    return out(await _view(f, who, council_id, doc))


@router.patch(
    One,
    **allow("any"),
    responses=IF_MATCH_PROBLEMS,
    summary="Change a scheduled meeting (MeetingScheduled, SEQUENCE + 1)",
)
async def update_meeting(
    who: CurrentPrincipal,
    f: Ctx,
    council_id: str,
    meeting_id: str,
    body: c.UpdateMeeting,
    response: Response,
    if_match: IfMatch = None,
) -> MeetingOut:
    doc, response.headers["ETag"] = await h.reschedule(f, council_id, meeting_id, body, who, if_match)
    return out(doc)


@router.post(One + "/cancel", **allow("any"), summary="Cancel a meeting (MeetingCancelled)")
async def cancel(who: CurrentPrincipal, f: Ctx, council_id: str, meeting_id: str, body: c.CancelMeeting) -> MeetingOut:
    return out(await h.cancel(f, council_id, meeting_id, body.reason, who))


@router.post(
    One + "/registrations",
    **allow("any"),
    status_code=201,
    summary="Register for a meeting (the council's members): a seat, or the waitlist when full",
)
async def register(who: CurrentPrincipal, f: Ctx, council_id: str, meeting_id: str) -> RegistrationAnswer:
    return RegistrationAnswer.model_validate(await h.register(f, council_id, meeting_id, who))


@router.delete(
    One + "/registrations/mine",
    **allow("any"),
    summary="Cancel my registration; the first on the waitlist takes the seat",
)
async def unregister(who: CurrentPrincipal, f: Ctx, council_id: str, meeting_id: str) -> RegistrationAnswer:
    return RegistrationAnswer.model_validate(await h.cancel_registration(f, council_id, meeting_id, who))


@router.get(One + "/registrations", **allow("any"), summary="Registrations and waitlist, in order (members)")
async def registrations(
    who: CurrentPrincipal, f: Ctx, council_id: str, meeting_id: str, page: Page
) -> list[RegistrationOut]:
    return [RegistrationOut.model_validate(r) for r in await h.registrations(f, council_id, meeting_id, who, page)]


@router.post(One + "/check-ins", **allow("any"), summary="Record that a member attends (the secretary)")
async def check_in(who: CurrentPrincipal, f: Ctx, council_id: str, meeting_id: str, body: c.CheckIn) -> MeetingOut:
    return out(await h.check_in(f, council_id, meeting_id, body.person, who))


@router.put(One + "/minutes", **allow("any"), summary="Draft the minutes (the secretary; members read them)")
async def draft_minutes(
    who: CurrentPrincipal, f: Ctx, council_id: str, meeting_id: str, body: c.DraftMinutes
) -> MeetingOut:
    return out(await h.draft_minutes(f, council_id, meeting_id, body.text, who))


@router.post(
    One + "/close",
    **allow("any"),
    summary="Close a meeting with minutes, decisions and action items (MeetingHeld); 422 without minutes",
)
async def close(who: CurrentPrincipal, f: Ctx, council_id: str, meeting_id: str, body: c.CloseMeeting) -> MeetingOut:
    return out(await h.close(f, council_id, meeting_id, body, who))


@router.get(
    "/councils/{council_id}/calendar.ics",
    **allow("any"),
    response_class=Response,
    summary="iCalendar feed of a council's meetings",
)
async def council_calendar(who: CurrentPrincipal, f: Ctx, council_id: str) -> Response:
    council, meetings = await h.council_feed(f, council_id)
    name = f"{council['name']} ({council['city']})"
    return Response(ical.calendar(name, meetings, {council["_id"]: council["name"]}), media_type=ICS)


@router.get(
    "/me/calendar.ics",
    **allow("any"),
    response_class=Response,
    summary="iCalendar feed of my councils' meetings and those I registered for",
)
async def my_calendar(who: CurrentPrincipal, f: Ctx) -> Response:
    meetings = await h.my_feed(f, who)
    ids = sorted({m["council_id"] for m in meetings})
    names = {d["_id"]: d["name"] for d in await f.store.find(st.COUNCILS, {"_id": {"$in": ids}})} if ids else {}
    return Response(ical.calendar("My council meetings", meetings, names), media_type=ICS)
