"""Councils of the network (issue 18): partner regions' councils and the initiatives they lead with one
of ours as co-sponsor, projected from partners' replicated ``councils.events`` (read-only here).

A cross-border initiative is led by one council, in its own region, and names co-sponsors of other
regions. The lead region owns it (its decisions, milestones, state); a co-sponsor's region learns it
from the lead's ``InitiativeProposed``/``InitiativeLaunched``/``InitiativeCompleted`` as replicated here
and shows it on its council's side (``GET /councils/{id}/partner-initiatives``). Partners' councils
(``CouncilFormed``) are listed with their region (``GET /network/councils``), so a council of this region
can name them as co-sponsors knowing they exist. Each entry keeps the time of the event that last changed
it (an older event replayed after a newer one changes nothing); a redelivered replica applies once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from clustergrowth.auth import CurrentPrincipal, allow
from clustergrowth.bus.federation import Origin
from clustergrowth.envelope import CloudEvent
from clustergrowth.inbox import apply_once
from clustergrowth.paging import Page
from clustergrowth.problems import NotFound, field_error
from clustergrowth.settings import NUTS2
from clustergrowth.store.port import Doc, DocumentStore
from contracts import councils as ev
from services.councils import store as st
from services.councils.routes.common import PROBLEMS, Ctx

GROUP = "councils.network"
COUNCILS = "network_councils"
INITIATIVES = "network_initiatives"
FORMED = ev.CouncilFormed.event_type()
STATES = {
    ev.InitiativeProposed.event_type(): "proposed",
    ev.InitiativeLaunched.event_type(): "active",
    ev.InitiativeCompleted.event_type(): None,  # completed or abandoned: the event's outcome
}


def _instant(s: str) -> datetime:
    t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _newer(doc: Doc, event: CloudEvent) -> bool:
    return doc.get("updated_at") is None or _instant(event.time) >= _instant(doc["updated_at"])


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
    if event.type == FORMED:

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


router = APIRouter(responses=PROBLEMS)


@router.get(
    "/network/councils",
    **allow("any"),
    response_model=list[PartnerCouncilOut],
    summary="Partner regions' councils (read-only, as replicated)",
)
async def partner_councils(
    f: Ctx,
    who: CurrentPrincipal,
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
async def partner_initiatives(f: Ctx, who: CurrentPrincipal, council_id: str, page: Page) -> list[PartnerInitiativeOut]:
    if await f.store.get(st.COUNCILS, council_id) is None:
        raise NotFound(f"no council {council_id}")
    docs = await page.query(f.store, INITIATIVES, {"co_sponsors": council_id}, [("region", 1), ("initiative_id", 1)])
    return [PartnerInitiativeOut(**{k: d[k] for k in PartnerInitiativeOut.model_fields}) for d in docs]
