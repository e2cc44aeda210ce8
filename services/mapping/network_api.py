"""Route of the network cluster map: every region's cells, stars relative to the whole network."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response

from clustergrowth.auth import CurrentPrincipal, RuledRouter, allow
from clustergrowth.errors import problem_responses
from clustergrowth.paging import Page200
from clustergrowth.problems import field_error
from services.mapping import views
from services.mapping.domain.codes import code_lists
from services.mapping.domain.instrument import latest
from services.mapping.handlers import Mapping
from services.mapping.network import network_map

router = RuledRouter(responses=problem_responses(401, 422))


async def mapping(request: Request) -> Mapping:
    m: Mapping = request.app.state.mapping
    return m


Ctx = Annotated[Mapping, Depends(mapping)]
Format = Annotated[str, Query(pattern="^(json|csv)$", description="json (default) or csv")]
Region = Annotated[str | None, Query(max_length=4, description="one region's cells (NUTS-2)")]


@router.get(
    "/network/cluster-map",
    **allow("any"),
    responses={
        "200": {"description": "JSON, or CSV with format=csv", "content": {"application/json": {}, "text/csv": {}}}
    },
    summary="Every region's cells: needs and stars relative to the whole network (partners' as replicated)",
)
async def network_cluster_map(
    who: CurrentPrincipal, m: Ctx, page: Page200, region: Region = None, format: Format = "json"
) -> Any:
    if region is not None and region not in code_lists().regions:
        raise field_error("region", f"unknown NUTS-2 code {region!r}")
    cells = await network_map(m, region)
    if format == "csv":
        return Response(
            views.map_csv(cells, [d.id for d in latest().dimensions]),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="network-cluster-map.csv"'},
        )
    return page.of(cells, lambda c: (c["region"], c["sector"]))
