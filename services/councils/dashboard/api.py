"""The dashboard routes: a council's dashboard as JSON, and one SVG chart per indicator.

Who sees a council's dashboard: its members (an active membership), the staff of its region
(``council_secretary``, ``region_admin`` of that region), analysts (network-wide; the dashboard holds
aggregates only). Anyone else, and a council not known here, get 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Response

from clustergrowth.auth import CurrentPrincipal, Principal, RuledRouter, allow
from clustergrowth.errors import problem_responses
from clustergrowth.problems import NotFound
from clustergrowth.store.port import Doc, DocumentStore
from services.councils.dashboard import charts, indicators
from services.councils.dashboard import projection as p

router = RuledRouter()
STAFF = ("council_secretary", "region_admin")
READERS = ("any",)  # members hold any role; the object rule below decides (staff, analysts, members)


async def this_region(request: Request) -> str:
    """The region this councils service serves (its handler context's)."""
    region: str = request.app.state.councils.region
    return region


Region = Annotated[str, Depends(this_region)]


async def council_store(request: Request) -> DocumentStore:
    """The councils service's store, from its handler context (every service context carries ``store``)."""
    store: DocumentStore = request.app.state.councils.store
    return store


Store = Annotated[DocumentStore, Depends(council_store)]


def may_read(who: Principal, council: Doc, region: str) -> bool:
    """Analysts (aggregates), the council's managers and its active members. Managers as everywhere in the
    service (``domain.council.manages``): staff roles held here manage the councils of this region (the
    caller's home region is not what counts: a partner's person may be granted them here); a member whose
    position is secretary is an active member."""
    if who.has("analyst"):
        return True
    if who.has(*STAFF) and council["region"] == region:
        return True
    return any(m["person"] == who.id and m["active"] for m in council.get("members", []))


async def load(store: DocumentStore, council_id: str, who: Principal, region: str) -> dict[str, Any]:
    """The dashboard of a council the caller may read; 404 otherwise (its existence is not disclosed)."""
    collection = await p.live_collection(store)
    council = await store.get(collection, p.council_key(council_id))
    if council is None or "region" not in council or not may_read(who, council, region):
        raise NotFound(f"no council {council_id}")
    region_cells = await store.find(collection, {"kind": "region", "region": council["region"]})
    council_cells = await store.find(collection, {"kind": "council_quarter", "council_id": council_id})
    sme_orgs = {x["organisation"] for d in await store.find(collection, {"kind": "sme_orgs"}) for x in d["smes"]}
    members = [m for d in await store.find(collection, {"kind": "council"}) for m in d.get("members", [])]
    return indicators.dashboard(council, region_cells, council_cells, sme_orgs, members)


@router.get(
    "/councils/{council_id}/dashboard",
    **allow(*READERS),
    summary="A council's dashboard: activity and the four success factors per quarter, with their inputs",
    responses=problem_responses(404),
)
async def council_dashboard(who: CurrentPrincipal, store: Store, region: Region, council_id: str) -> dict[str, Any]:
    return await load(store, council_id, who, region)


@router.get(
    "/councils/{council_id}/dashboard/{indicator}.svg",
    **allow(*READERS),
    response_class=Response,
    summary="Chart of one success factor of a council over quarters (SVG)",
    description="`indicator`: " + ", ".join(f"`{k}`" for k in indicators.INDICATORS) + "; another is a 404.",
    responses=problem_responses(404),
)
async def council_dashboard_svg(
    who: CurrentPrincipal, store: Store, region: Region, council_id: str, indicator: str
) -> Response:
    board = await load(store, council_id, who, region)  # who may read it first: an outsider learns nothing more
    if indicator not in indicators.INDICATORS:
        raise NotFound(f"no indicator {indicator!r}", indicators=list(indicators.INDICATORS))
    return Response(charts.indicator_svg(council_id, board["indicators"][indicator]), media_type="image/svg+xml")
