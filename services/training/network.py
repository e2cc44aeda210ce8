"""Placements across the network (issue 18): placements held by a partner region that involve this region,
its organisations hosting or its people placed, projected from the partner's replicated
``PlacementProposed``/``PlacementAgreed``/``PlacementCompleted`` (``<alias>.training.events``), read-only.

A placement lives in the region whose instance proposed it (its desk, its four parties' acceptances); a
host or an applicant of another region takes part there through the partner-issuer trust. Its region of
origin publishes its events; this region keeps those whose host or applicant is this region's, keyed
``<partner>:<placement id>`` (two regions' ids never collide), so this region's intermediaries see where
their organisations host and their people go. Each entry keeps the time of the event that last changed it:
an older event replayed after a newer one changes nothing; a redelivered replica applies once. This
region's own placements are its desk's (not projected); a partner event that does not involve this region
is not kept. The reason of an early end (free text) is not copied. Every replicated training event of a
partner is a sign of its life (``clustergrowth.partners``, as facilities' partner catalogue keeps them): an
entry of a partner silent longer than the threshold, events and heartbeats alike, is returned ``stale``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from pydantic import BaseModel, Field

from clustergrowth.auth import CurrentPrincipal, RuledRouter, allow
from clustergrowth.bus.federation import Origin
from clustergrowth.envelope import CloudEvent
from clustergrowth.errors import problem_responses
from clustergrowth.inbox import apply_once
from clustergrowth.instants import instant
from clustergrowth.paging import Page
from clustergrowth.partners import PartnerSigns
from clustergrowth.settings import RuntimeSettings
from clustergrowth.store.port import Doc, DocumentStore
from contracts import training as ev
from services.training.placements.domain import STAFF

GROUP = "training.network_placements"
PLACEMENTS = "network_placements"
PROPOSED, AGREED, COMPLETED = (
    m.event_type() for m in (ev.PlacementProposed, ev.PlacementAgreed, ev.PlacementCompleted)
)
ATTR = "network_signs"  # where the service leaves its partners' signs of life on its handler context
FACTS = ("placement_id", "applicant", "host_id", "applicant_region", "host_region", "cross_border", "weeks")


async def ensure_indexes(store: DocumentStore) -> None:
    await store.ensure_index(PLACEMENTS, ["host_region", "updated_at", "_id"])
    await store.ensure_index(PLACEMENTS, ["applicant_region", "updated_at", "_id"])


def partner_signs(store: DocumentStore, settings: RuntimeSettings) -> PartnerSigns:
    """This region's partners (configured or heard from) and their signs of life, in training's own store."""
    bases = {p.region: p.api_base for p in settings.auth_partners}
    return PartnerSigns(store, settings.region, bases, timedelta(seconds=settings.network_stale_after_s))


async def handle(store: DocumentStore, region: str, event: CloudEvent, origin: Origin) -> bool:
    """Project one partner placement event that involves ``region``; True when it changed an entry."""
    if origin.partner is None or origin.region == region or event.type not in (PROPOSED, AGREED, COMPLETED):
        return False
    d = event.data
    if region not in (d.get("host_region"), d.get("applicant_region")):
        return False  # none of ours: not kept

    def changed(doc: Doc) -> Doc:
        if doc.get("updated_at") is not None and instant(event.time) < instant(doc["updated_at"]):
            return doc  # an older event replayed after a newer one
        doc.update({k: d[k] for k in FACTS}, region=origin.region, updated_at=event.time)
        if event.type == PROPOSED:
            doc["state"] = "proposed"
        elif event.type == AGREED:
            doc.update(state="agreed", start=d["start"], end=d["end"])
        else:
            doc.update(state=d["outcome"], ended_at=d["ended_at"])
        return doc

    return await apply_once(store, PLACEMENTS, f"{origin.region}:{d['placement_id']}", event.id, changed)


class PartnerPlacementOut(BaseModel):
    placement_id: str = Field(description="its id in the region that holds it")
    region: str = Field(description="the partner region that holds it (its desk, its agreement)")
    applicant: str = Field(description="platform person id of the applicant")
    applicant_region: str
    host_id: str
    host_region: str
    cross_border: bool
    weeks: int
    state: Literal["proposed", "agreed", "completed", "ended_early"]
    start: str | None = None
    end: str | None = None
    ended_at: str | None = None
    updated_at: str = Field(description="time of the holding region's event that last changed this entry")
    stale: bool = Field(
        False,
        description="the holding region has been silent longer than the threshold: no replicated event and no "
        "MirrorMaker 2 heartbeat since",
    )
    partner_last_event_at: str | None = Field(None, description="time of the last event replicated from that region")


router = RuledRouter(responses=problem_responses(401, 403, 422))


@router.get(
    "/network/placements",
    **allow(*STAFF),
    response_model=list[PartnerPlacementOut],
    summary="Placements held by partner regions that this region's organisations host or its people take "
    "(read-only, as replicated; this region's intermediaries)",
)
async def partner_placements(
    who: CurrentPrincipal,
    request: Request,
    page: Page,
    side: Annotated[
        Literal["host", "applicant"] | None,
        Query(description="host: our organisations host; applicant: our people are placed; both if absent"),
    ] = None,
) -> list[PartnerPlacementOut]:
    t = request.app.state.training
    fields = {"host": ["host_region"], "applicant": ["applicant_region"], None: ["host_region", "applicant_region"]}
    q: dict[str, Any] = {"$or": [{f: t.region} for f in fields[side]]} if side is None else {fields[side][0]: t.region}
    docs = await page.query(t.store, PLACEMENTS, q, [("updated_at", -1)])
    signs: PartnerSigns | None = getattr(t, ATTR, None)
    heard = await signs.signs_of_life() if signs is not None else {}
    now = t.clock()
    out = []
    for d in docs:
        last, beat = heard.get(d["region"], (None, None))
        facts = {k: d.get(k) for k in PartnerPlacementOut.model_fields if k in d}
        stale = signs.stale(last, now, beat) if signs is not None else False
        out.append(PartnerPlacementOut(**facts, stale=stale, partner_last_event_at=last))
    return out
