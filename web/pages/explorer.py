"""The cluster explorer: the network's regions by sectors with the three stars (size, specialisation,
focus), each star's inputs, the sample sizes and a warning on cells with few SMEs; a chosen need's
mean maturity per cell as a chart; the cells as CSV (the API's own)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from web.app import Page, Web
from web.platform import Problem

FEW_SMES = 5  # a cell with fewer registered SMEs than this is flagged: its means and shares are fragile
NEEDS = (
    "innovation",
    "digitalisation",
    "internationalisation",
    "talent",
    "finance",
    "rnd_facilities",
    "collaboration",
    "sustainability",
)


def need_chart(cells: list[dict[str, Any]], need: str, title: str) -> str:
    """Mean maturity (1-5) of one need per cell, bars from 1 on a fixed axis, labelled with n (pygal)."""
    import pygal  # here, not at import: pygal installs an import hook without find_spec (ImportWarning later)
    from pygal.style import Style

    style = Style(
        background="white",
        plot_background="white",
        colors=("#0b4f8a",),
        font_family="sans-serif",
        label_font_size=13,
        major_label_font_size=13,
        value_font_size=12,
        title_font_size=15,
    )
    rows = [c for c in cells if need in c.get("mean_scores", {})][::-1]
    bars = pygal.HorizontalBar(
        style=style,
        range=(1, 5),
        zero=1,
        show_legend=False,
        title=title,
        width=760,
        height=80 + 28 * max(len(rows), 1),
        js=[],
        print_values=True,
        value_formatter=lambda v: f"{v:.1f}",
        y_labels=[1, 2, 3, 4, 5],
        explicit_size=True,
    )
    bars.x_labels = [f"{c['region']} × {c['sector']} (n={c['assessed_smes']})" for c in rows]
    bars.add("", [c["mean_scores"][need] for c in rows])
    return str(bars.render(is_unicode=True))


def need_names(page: Page) -> dict[str, str]:
    _ = page._
    return {
        "innovation": _("Innovation and technology adoption"),
        "digitalisation": _("Digitalisation"),
        "internationalisation": _("Internationalisation and market access"),
        "talent": _("Talent and skills"),
        "finance": _("Access to finance"),
        "rnd_facilities": _("R&D and facilities access"),
        "collaboration": _("Collaboration and networking"),
        "sustainability": _("Sustainability"),
    }


def routes(web: Web) -> list[Route]:
    def choices(page: Page) -> tuple[str, str]:
        q = page.request.query_params
        region = q.get("region", "")
        region = region if len(region) == 4 and region.isalnum() else ""
        need = q.get("need", "") if q.get("need", "") in NEEDS else "talent"
        return region, need

    async def cells_for(page: Page, region: str) -> list[dict[str, Any]]:
        cells = await page.api.get("/mapping/cluster-map", {"region": region} if region else None)
        return sorted(cells, key=lambda c: (c["region"], c["sector"]))

    async def explorer(page: Page) -> Response:
        region, need = choices(page)
        everything = await cells_for(page, "")
        regions = sorted({c["region"] for c in everything})
        cells = [c for c in everything if not region or c["region"] == region]
        sectors = sorted({c["sector"] for c in cells})
        grid = {(c["region"], c["sector"]): c for c in cells}
        return page.render(
            "explorer/explorer.html",
            cells=cells,
            grid=grid,
            regions=regions,
            shown=[r for r in regions if not region or r == region],
            sectors=sectors,
            region=region,
            need=need,
            needs=need_names(page),
            few=FEW_SMES,
            query=page.request.url.query,
        )

    async def chart(page: Page) -> Response:
        region, need = choices(page)
        cells = await cells_for(page, region)
        title = page._("Mean maturity (1-5) in %(need)s, by region and sector") % {"need": need_names(page)[need]}
        return Response(
            need_chart(cells, need, title),
            media_type="image/svg+xml",
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
        )

    async def csv(page: Page) -> Response:
        region, _need = choices(page)
        params = {"format": "csv", **({"region": region} if region else {})}
        r = await page.http.get("/api/v1/mapping/cluster-map", params=params, headers=page.api._headers())
        if r.status_code >= 400:
            raise Problem.from_response(r)
        return Response(
            r.content,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="cluster-map{"-" + region if region else ""}.csv"'},
        )

    return [
        Route("/explorer", web.page(explorer)),
        Route("/explorer/chart.svg", web.page(chart)),
        Route("/explorer/cells.csv", web.page(csv)),
    ]
