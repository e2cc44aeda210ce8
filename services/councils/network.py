"""Councils of the network (issue 18): partner regions' councils and the initiatives they lead with one
of ours as co-sponsor, projected from partners' replicated ``councils.events`` (read-only here).

A cross-border initiative is led by one council, in its own region, and names co-sponsors of other
regions. The lead region owns it (its decisions, milestones, state); a co-sponsor's region learns it
from the lead's ``InitiativeProposed``/``InitiativeLaunched``/``InitiativeCompleted`` as replicated here
and shows it on its council's side (``GET /councils/{id}/partner-initiatives``). Partners' councils
(``CouncilFormed``) are listed with their region (``GET /network/councils``), so a council of this region
can name them as co-sponsors knowing they exist. Each entry keeps the time of the event that last changed
it (an older event replayed after a newer one changes nothing); a redelivered replica applies once.

A co-sponsor's answer travels back: a manager of the co-sponsoring council (its secretary, the region's
staff) confirms or withdraws (``PUT /councils/{id}/partner-initiatives/{region}/{initiative}/answer``);
its region keeps the answer as its own aggregate (``sponsorships``, with the event in the same write) and
publishes ``CoSponsorshipConfirmed``/``CoSponsorshipWithdrawn``. The lead region, reading it from the
co-sponsor's replica, marks that co-sponsor of its initiative confirmed or not, by whom and when
(``answered``): only an answer about one of its own initiatives, from the region of the council it names
as co-sponsor, and only when newer than the answer it holds (by time, then event id), so a redelivery or an
older answer arriving late changes nothing.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from clustergrowth import aggregate
from clustergrowth.auth import CurrentPrincipal, Principal, RuledRouter, allow
from clustergrowth.bus.federation import Origin, replay_partners
from clustergrowth.bus.port import EventBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.inbox import apply_once
from clustergrowth.instants import instant
from clustergrowth.paging import Page
from clustergrowth.problems import Conflict, NotFound, field_error
from clustergrowth.settings import NUTS2
from clustergrowth.store.port import Doc, DocumentStore
from contracts import councils as ev
from services.councils import store as st
from services.councils.domain import council as cn
from services.councils.handlers.context import Councils
from services.councils.routes.common import PROBLEMS, Ctx

log = logging.getLogger("services.councils.network")

GROUP = "councils.network"
COUNCILS = "network_councils"
INITIATIVES = "network_initiatives"
FORMED = ev.CouncilFormed.event_type()
STATES = {
    ev.InitiativeProposed.event_type(): "proposed",
    ev.InitiativeLaunched.event_type(): "active",
    ev.InitiativeCompleted.event_type(): None,  # completed or abandoned: the event's outcome
}
SPONSORSHIPS = st.SPONSORSHIPS  # this region's answers to partners' initiatives (an aggregate with an outbox)
CONFIRMED, WITHDRAWN = ev.CoSponsorshipConfirmed.event_type(), ev.CoSponsorshipWithdrawn.event_type()
ANSWERS = {CONFIRMED: ("confirmed", "confirmed_at"), WITHDRAWN: ("withdrawn", "withdrawn_at")}
ENDED = ("completed", "abandoned")


def _newer(doc: Doc, event: CloudEvent) -> bool:
    return doc.get("updated_at") is None or instant(event.time) >= instant(doc["updated_at"])


async def ensure_indexes(store: DocumentStore) -> None:
    await store.ensure_index(COUNCILS, ["region", "_id"])
    await store.ensure_index(INITIATIVES, ["region", "initiative_id", "_id"])  # co_sponsors (a list): not indexed


async def handle(store: DocumentStore, region: str, event: CloudEvent, origin: Origin) -> None:
    """Project one partner event (local ones are this region's own documents)."""
    if origin.partner is None or origin.region == region:
        return
    d = event.data
    if d.get("region") != origin.region:
        return  # a partner speaks for its own councils only
    if event.type in ANSWERS:
        await answered(store, region, event)
    elif event.type == FORMED:

        def formed(doc: Doc) -> Doc:
            if _newer(doc, event):
                doc.update(council_id=d["council_id"], city=d["city"], region=d["region"], themes=d["themes"])
                doc.update(formed_at=d["formed_at"], updated_at=event.time)
            return doc

        await apply_once(store, COUNCILS, f"{origin.region}:{d['council_id']}", event.id, formed)
    elif event.type in STATES:
        state = STATES[event.type] or d.get("outcome")

        def changed(doc: Doc) -> Doc:
            if _newer(doc, event):
                doc.update({k: d[k] for k in ("initiative_id", "council_id", "region", "co_sponsors", "regions")})
                doc.update(cross_border=d["cross_border"], state=state, updated_at=event.time)
            return doc

        await apply_once(store, INITIATIVES, f"{origin.region}:{d['initiative_id']}", event.id, changed)


async def answered(store: DocumentStore, region: str, event: CloudEvent) -> bool:
    """A co-sponsor's answer onto this region's initiative (its co-sponsor entry): True when it changed it.
    The caller checked that the event's data is its sender's region's."""
    d = event.data
    answer, at_field = ANSWERS[event.type]
    if d.get("lead_region") != region:
        return False  # about another region's initiative
    at = str(d[at_field])
    while True:
        doc = await store.get(st.INITIATIVES, str(d["initiative_id"]))
        if doc is None or doc["council_id"] != d["lead_council_id"]:
            log.warning(
                "answer %s names no initiative %s of %s here", event.id, d["initiative_id"], d["lead_council_id"]
            )
            return False
        sponsors = [dict(c) for c in doc["co_sponsors"]]
        entry = next((c for c in sponsors if (c["council_id"], c["region"]) == (d["council_id"], d["region"])), None)
        if entry is None:
            log.warning(
                "answer %s: %s of %s is no co-sponsor of %s", event.id, d["council_id"], d["region"], doc["_id"]
            )
            return False
        if entry.get("answered_at") is not None and (instant(at), event.id) <= (
            instant(entry["answered_at"]),
            entry["answer_id"],
        ):
            return False  # this answer again, or an older one arriving late
        entry.update(confirmed=answer == "confirmed", answer=answer, answered_by=d["person"], answered_at=at)
        entry["answer_id"] = event.id
        try:
            await aggregate.save(
                store, st.INITIATIVES, {**doc, "co_sponsors": sponsors}, [], expected_version=doc["version"]
            )
            return True
        except aggregate.ConcurrentUpdate:
            continue


async def rebuild(store: DocumentStore, bus: EventBus, region: str, topic: str) -> dict[str, Any]:
    """Fold partners' councils and initiatives again from their replicas of ``topic`` on ``bus``: both
    collections cleared, every replicated event replayed through ``handle`` (co-sponsors' answers onto this
    region's initiatives too: an answer already held changes nothing). Reads meanwhile may see part of it."""
    cleared = 0
    for collection in (COUNCILS, INITIATIVES):
        while docs := await store.find(collection, {}, limit=1000):
            for d in docs:
                cleared += await store.delete(collection, d["_id"])
    read = await replay_partners(bus, [topic], region, lambda e, o: handle(store, region, e, o))
    return {
        "cleared": cleared,
        "events": read,
        "councils": await store.count(COUNCILS),
        "initiatives": await store.count(INITIATIVES),
    }


class PartnerCouncilOut(BaseModel):
    council_id: str
    region: str
    city: str
    themes: list[str]
    formed_at: str
    updated_at: str = Field(description="time of the partner's event that last changed this entry")


class PartnerInitiativeOut(BaseModel):
    initiative_id: str
    council_id: str = Field(description="the lead council, in its own region")
    region: str = Field(description="the lead council's region (where the initiative is decided)")
    co_sponsors: list[str]
    regions: list[str]
    cross_border: bool
    state: str = Field(description="proposed, active, completed or abandoned, as of updated_at")
    updated_at: str = Field(description="time of the lead region's event that last changed this entry")
    answer: Literal["confirmed", "withdrawn"] | None = Field(
        None, description="this council's answer, published to the lead region (None: not answered)"
    )
    answered_by: str | None = Field(None, description="platform person id of the manager who answered")
    answered_at: str | None = None


class Answer(BaseModel):
    """A co-sponsoring council's answer to a partner region's initiative that names it."""

    model_config = ConfigDict(extra="forbid")
    answer: Literal["confirmed", "withdrawn"]


router = RuledRouter(responses=PROBLEMS)


@router.get(
    "/network/councils",
    **allow("any"),
    response_model=list[PartnerCouncilOut],
    summary="Partner regions' councils (read-only, as replicated)",
)
async def partner_councils(
    who: CurrentPrincipal,
    f: Ctx,
    page: Page,
    region: Annotated[str | None, Query(max_length=4, description="one partner region (NUTS-2)")] = None,
) -> list[PartnerCouncilOut]:
    q: dict[str, Any] = {}
    if region is not None:
        if not NUTS2.match(region):
            raise field_error("region", "is not a NUTS-2 code such as ITH5")
        q["region"] = region
    docs = await page.query(f.store, COUNCILS, q, [("region", 1)])
    return [PartnerCouncilOut(**{k: d[k] for k in PartnerCouncilOut.model_fields}) for d in docs]


@router.get(
    "/councils/{council_id}/partner-initiatives",
    **allow("any"),
    response_model=list[PartnerInitiativeOut],
    summary="Initiatives led by partner regions' councils with this council as co-sponsor",
)
async def partner_initiatives(who: CurrentPrincipal, f: Ctx, council_id: str, page: Page) -> list[PartnerInitiativeOut]:
    if await f.store.get(st.COUNCILS, council_id) is None:
        raise NotFound(f"no council {council_id}")
    docs = await page.query(f.store, INITIATIVES, {"co_sponsors": council_id}, [("region", 1), ("initiative_id", 1)])
    return [await _partner_initiative(f, d, council_id) for d in docs]


def sponsorship_id(lead_region: str, initiative_id: str, council_id: str) -> str:
    return f"{lead_region}:{initiative_id}:{council_id}"


async def _partner_initiative(f: Councils, d: Doc, council_id: str) -> PartnerInitiativeOut:
    mine = await f.store.get(SPONSORSHIPS, sponsorship_id(d["region"], d["initiative_id"], council_id)) or {}
    fields = {k: d[k] for k in PartnerInitiativeOut.model_fields if k in d}
    return PartnerInitiativeOut(
        **fields, answer=mine.get("answer"), answered_by=mine.get("person"), answered_at=mine.get("answered_at")
    )


async def answer(f: Councils, council_id: str, lead_region: str, iid: str, said: str, who: Principal) -> Doc:
    """A manager of this region's council answers a partner's initiative naming it as co-sponsor: kept here
    with its event in one write; the same answer again writes nothing (idempotent)."""
    council = await f.store.get(st.COUNCILS, council_id)
    if council is None:
        raise NotFound(f"no council {council_id}")
    cn.require_manager(who, council, f.region)
    if lead_region == f.region:
        raise field_error("region", "is this region: its own initiatives' co-sponsors are confirmed when proposed")
    theirs = await f.store.get(INITIATIVES, f"{lead_region}:{iid}")
    if theirs is None or council_id not in theirs["co_sponsors"]:
        raise NotFound(f"no initiative {iid} of {lead_region} naming council {council_id} as co-sponsor")
    if theirs["state"] in ENDED:
        raise Conflict(f"initiative {iid} of {lead_region} is {theirs['state']}: nothing to answer")
    sid = sponsorship_id(lead_region, iid, council_id)

    async def change(doc: Doc | None) -> tuple[Doc, list[CloudEvent], Doc]:
        if doc is not None and doc["answer"] == said:
            return doc, [], doc
        now = f.now()
        common = {
            "initiative_id": iid,
            "lead_council_id": theirs["council_id"],
            "lead_region": lead_region,
            "council_id": council_id,
            "region": f.region,
            "person": who.id,
        }
        data: Any = (
            ev.CoSponsorshipConfirmed(**common, confirmed_at=now)
            if said == "confirmed"
            else ev.CoSponsorshipWithdrawn(**common, withdrawn_at=now)
        )
        new = {**(doc or {"_id": sid}), **common, "answer": said, "answered_at": now}
        return new, f.events([data], sid), new

    result: Doc = await aggregate.update(f.store, SPONSORSHIPS, sid, change, on_saved=f.notify, busy="busy")
    return result


@router.put(
    "/councils/{council_id}/partner-initiatives/{region}/{initiative_id}/answer",
    **allow("any"),
    response_model=PartnerInitiativeOut,
    summary="Confirm or withdraw this council's co-sponsorship of a partner region's initiative (its managers): "
    "CoSponsorshipConfirmed / CoSponsorshipWithdrawn, projected by the lead region",
)
async def answer_initiative(
    who: CurrentPrincipal,
    f: Ctx,
    council_id: str,
    region: Annotated[str, Path(max_length=4, description="the lead council's region (NUTS-2)")],
    initiative_id: Annotated[str, Path(max_length=80)],
    body: Answer,
) -> PartnerInitiativeOut:
    if not NUTS2.match(region):
        raise field_error("region", "is not a NUTS-2 code such as ITH5")
    await answer(f, council_id, region, initiative_id, body.answer, who)
    doc = await f.store.get(INITIATIVES, f"{region}:{initiative_id}")
    assert doc is not None  # checked by answer
    return await _partner_initiative(f, doc, council_id)
