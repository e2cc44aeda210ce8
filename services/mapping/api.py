"""Thin HTTP layer of the mapping service."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, Query, Request, Response

from clustergrowth.auth import CurrentPrincipal, RuledRouter, allow
from clustergrowth.errors import problem_responses
from clustergrowth.paging import Page, Page200
from clustergrowth.problems import field_error
from services.mapping import commands as c
from services.mapping import handlers as h
from services.mapping import views
from services.mapping.domain.codes import code_lists
from services.mapping.domain.instrument import LANGUAGES, instrument, latest, versions
from services.mapping.network_api import router as network_router
from services.mapping.wire import AssessmentOut, SMEExport, SMEOut

Format = Annotated[str, Query(pattern="^(json|csv)$", description="json (default) or csv")]
Language = Literal["en", "es", "it", "fr", "tr"]
Lang = Annotated[Language, Query(description="language of the texts; ids, weights and scoring are the same in each")]
assert set(Language.__args__) == set(LANGUAGES)  # type: ignore[attr-defined]


async def mapping(request: Request) -> h.Mapping:
    m: h.Mapping = request.app.state.mapping
    return m


Ctx = Annotated[h.Mapping, Depends(mapping)]
router = RuledRouter(responses=problem_responses(401, 403, 404, 422))
JSON_OR_CSV: dict[int | str, dict[str, Any]] = {
    "200": {"description": "JSON, or CSV with format=csv", "content": {"application/json": {}, "text/csv": {}}}
}


@router.get("/instruments", **allow("any"), summary="Versions of the growth-needs instrument")
async def list_instruments(who: CurrentPrincipal, response: Response, lang: Lang = "en") -> dict[str, Any]:
    response.headers["Content-Language"] = lang
    return {
        "versions": list(versions()),
        "latest": latest().version,
        "title": latest().served(lang)["title"],
        "lang": lang,
    }


@router.get("/instruments/{version}", **allow("any"), summary="One instrument version: dimensions, questions, scale")
async def get_instrument(who: CurrentPrincipal, response: Response, version: str, lang: Lang = "en") -> dict[str, Any]:
    served = instrument(version).served(lang)
    response.headers["Content-Language"] = lang
    return served


@router.post(
    "/smes",
    **allow("sme_member", "council_secretary", "region_admin"),
    status_code=201,
    summary="Register an SME (its size class is computed)",
)
async def register(who: CurrentPrincipal, m: Ctx, body: c.RegisterSME) -> SMEOut:
    return SMEOut.model_validate(await h.register(m, body, who))


@router.get(
    "/smes", **allow("sme_member", "council_secretary", "region_admin", "analyst"), summary="SMEs visible to me"
)
async def list_smes(
    who: CurrentPrincipal, m: Ctx, page: Page, region: str | None = None, sector: str | None = None
) -> list[SMEOut]:
    return [SMEOut.model_validate(d) for d in await h.list_smes(m, who, region, sector, page)]


def _by(*fields: str) -> Any:
    return lambda d: tuple(str(d.get(f) or "") for f in fields)


@router.get("/smes/{sme_id}", **allow("sme_member", "council_secretary", "region_admin", "analyst"), summary="One SME")
async def get_sme(who: CurrentPrincipal, m: Ctx, sme_id: str) -> SMEOut:
    return SMEOut.model_validate(h.public(await h.get(m, sme_id, who)))


@router.get(
    "/smes/{sme_id}/export",
    **allow("sme_member", "council_secretary", "region_admin"),
    summary="Everything held about an SME (data portability)",
)
async def export(who: CurrentPrincipal, m: Ctx, sme_id: str) -> Response:
    held = SMEExport.model_validate(await h.export(m, sme_id, who)).model_dump(mode="json")
    body = json.dumps(held, ensure_ascii=False, indent=2)
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{sme_id}.json"'},
    )


@router.delete(
    "/smes/{sme_id}",
    **allow("sme_member", "region_admin"),
    status_code=204,
    summary="Erase an SME's data (right to erasure)",
)
async def erase(who: CurrentPrincipal, m: Ctx, sme_id: str) -> Response:
    await h.erase(m, sme_id, who)
    return Response(status_code=204)


@router.post(
    "/smes/{sme_id}/assessments",
    **allow("sme_member", "council_secretary", "region_admin"),
    status_code=201,
    summary="Submit a growth-needs assessment",
)
async def assess(who: CurrentPrincipal, m: Ctx, sme_id: str, body: c.SubmitAssessment) -> AssessmentOut:
    return AssessmentOut.model_validate(await h.assess(m, sme_id, body, who))


@router.get(
    "/smes/{sme_id}/assessments",
    **allow("sme_member", "council_secretary", "region_admin", "analyst"),
    summary="An SME's assessment history",
)
async def history(who: CurrentPrincipal, m: Ctx, sme_id: str, page: Page) -> list[AssessmentOut]:
    doc = await h.get(m, sme_id, who)
    # paged in memory: the history is embedded in the SME's one document, so it is already bounded
    return [
        AssessmentOut.model_validate(a) for a in page.of(list(doc.get("assessments", [])), _by("assessed_at", "id"))
    ]


@router.post(
    "/employment-statistics",
    **allow("council_secretary", "region_admin"),
    summary="Import regional employment (CSV: region,sector,employees)",
)
async def import_employment(
    who: CurrentPrincipal, m: Ctx, body: Annotated[bytes, Body(media_type="text/csv")]
) -> dict[str, int]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise field_error("csv", f"is not UTF-8 text (byte {e.start})") from e
    return await h.import_employment(m, text, who)


@router.get(
    "/cluster-map",
    **allow("any"),
    responses=JSON_OR_CSV,
    summary="Cells (region x sector): needs, trend, stars with their inputs",
)
async def cluster_map(
    who: CurrentPrincipal, m: Ctx, page: Page200, region: str | None = None, format: Format = "json"
) -> Any:
    """JSON is paged like every list; the CSV download holds every cell."""
    cells = await h.cluster_map(m, region)
    if format == "csv":
        dims = [d.id for d in latest().dimensions]
        return Response(
            views.map_csv(cells, dims),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="cluster-map.csv"'},
        )
    # paged in memory: the map is computed over every cell (regions x sectors of the code lists, bounded)
    return page.of(cells, _by("region", "sector"))


@router.get(
    "/cluster-map.svg", **allow("any"), response_class=Response, summary="Heatmap: regions x needs (top-3 share)"
)
async def heatmap(who: CurrentPrincipal, m: Ctx) -> Response:
    dims = [d.id for d in latest().dimensions]
    rows: dict[str, dict[str, float]] = {}
    codes = code_lists()
    for region in sorted({cell["region"] for cell in await h.cluster_map(m)}):
        spot = await h.spotlight(m, region=region)
        if spot["assessed_smes"]:
            rows[region] = {n["dimension"]: n["top3_share"] for n in spot["needs"]}
    names = {r: codes.region_name(r) for r in rows if r in codes.regions}
    return Response(views.heatmap_svg(rows, dims, names), media_type="image/svg+xml")


@router.get(
    "/spotlight",
    **allow("any"),
    responses=JSON_OR_CSV,
    summary="Needs ranked against the network, for a region or a council",
)
async def spotlight(
    who: CurrentPrincipal, m: Ctx, region: str | None = None, council: str | None = None, format: Format = "json"
) -> Any:
    spot = await h.spotlight_for(m, who, region=region, council=council)
    if format == "csv":
        return Response(
            views.spotlight_csv(spot),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="spotlight.csv"'},
        )
    return spot


@router.get("/spotlight.svg", **allow("any"), response_class=Response, summary="Bar chart of a region's needs")
async def spotlight_svg(who: CurrentPrincipal, m: Ctx, region: str) -> Response:
    spot = await h.spotlight_for(m, who, region=region)
    return Response(
        views.bars_svg(
            f"Growth needs in {region} (mean maturity 1-5; tick: network)", spot["needs"], spot["suppressed"]
        ),
        media_type="image/svg+xml",
    )


router.include_router(network_router)  # every region's cells: /network/cluster-map
