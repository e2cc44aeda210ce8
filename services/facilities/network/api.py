"""Routes of the network catalogue: partners' resources (search) and partners' freshness."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field

from clustergrowth.auth import CurrentPrincipal, RuledRouter, allow
from clustergrowth.errors import problem_responses
from clustergrowth.paging import Page
from clustergrowth.problems import field_error
from clustergrowth.settings import NUTS2
from services.facilities import commands as c
from services.facilities.handlers.context import Facilities
from services.facilities.network.projection import RESOURCES, NetworkCatalogue

router = RuledRouter(responses=problem_responses(401, 422))


async def facilities(request: Request) -> Facilities:
    f: Facilities = request.app.state.facilities
    return f


async def catalogue(request: Request) -> NetworkCatalogue:
    n: NetworkCatalogue = request.app.state.facilities_network
    return n


Ctx = Annotated[Facilities, Depends(facilities)]
Net = Annotated[NetworkCatalogue, Depends(catalogue)]
Region = Annotated[
    str | None, Query(description="a partner region's NUTS-2 code (e.g. ITH5); all partners if absent", max_length=4)
]


class NetworkResourceOut(BaseModel):
    id: str = Field(description="the resource's id in its own region (book it there)")
    region: str = Field(description="the owning region (NUTS-2)")
    site_id: str
    site_name: str | None
    city: str | None
    name: str
    kind: str
    capacity: int
    timezone: str
    policy: dict[str, Any] | None = Field(description="who may book, as the owning region published it (if it did)")
    api_base: str | None = Field(description="the owning region's public API base (from the partners file)")
    book_at: str | None = Field(description="where to book it: the owning region's POST /facilities/bookings")
    updated_at: str = Field(description="time of the owning region's event that last changed this entry")
    stale: bool = Field(
        description="the owning region has been silent longer than the threshold: no replicated event and no "
        "MirrorMaker 2 heartbeat since"
    )
    partner_last_event_at: str | None = Field(description="time of the last event replicated from that region")
    demo: bool = Field(description="seeded by the one-process demo as replicated data, not from a running region")


class PartnerOut(BaseModel):
    region: str
    api_base: str | None
    last_event_at: str | None = Field(description="time of the last event replicated from that region")
    last_heartbeat_at: str | None = Field(
        None, description="time of the latest MirrorMaker 2 heartbeat replicated from that region (a sign of life)"
    )
    stale: bool = Field(description="no event and no heartbeat from it for longer than the threshold")
    resources: int


@router.get(
    "/network/resources",
    **allow("any"),
    response_model=list[NetworkResourceOut],
    summary="Partner regions' resources (read-only; book at the owning region's API)",
)
async def network_resources(
    who: CurrentPrincipal,
    f: Ctx,
    net: Net,
    page: Page,
    region: Region = None,
    kind: c.ResourceKind | None = None,
) -> list[NetworkResourceOut]:
    q: dict[str, Any] = {}
    if region is not None:
        if not NUTS2.match(region):
            raise field_error("region", "is not a NUTS-2 code such as ITH5")
        if region == net.region:
            raise field_error("region", "is this region: its resources are at GET /facilities/resources")
        q["region"] = region
    if kind is not None:
        q["kind"] = kind
    docs = await page.query(net.store, RESOURCES, q, [("region", 1), ("site_id", 1), ("resource_name", 1)])
    now = f.clock()
    signs = await net.signs_of_life()
    last = {r: event for r, (event, _) in signs.items()}
    out = []
    for d in docs:
        api_base = net.api_bases.get(d["region"])
        out.append(
            NetworkResourceOut(
                id=d["resource_id"],
                region=d["region"],
                site_id=d["site_id"],
                site_name=d.get("site_name"),
                city=d.get("city"),
                name=d["resource_name"],
                kind=d["kind"],
                capacity=d["capacity"],
                timezone=d["timezone"],
                policy=d.get("policy"),
                api_base=api_base,
                book_at=f"{api_base.rstrip('/')}/facilities/bookings" if api_base else None,
                updated_at=d["updated_at"],
                stale=net.stale(last.get(d["region"]), now, signs.get(d["region"], (None, None))[1]),
                partner_last_event_at=last.get(d["region"]),
                demo=d.get("demo", False),
            )
        )
    return out


@router.get(
    "/network/partners",
    **allow("any"),
    response_model=list[PartnerOut],
    summary="Partner regions: when each was last heard from, stale or not",
)
async def network_partners(who: CurrentPrincipal, f: Ctx, net: Net, page: Page) -> list[PartnerOut]:
    rows = await net.partners(f.clock())
    return [PartnerOut(**p) for p in page.of(rows, key=lambda p: (p["region"],))]
