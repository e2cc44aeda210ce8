"""The cluster explorer: the network's regions by sectors with the three stars (size, specialisation,
focus), each star's inputs, the sample sizes and a warning on cells with few SMEs; a chosen need's
mean maturity per cell as a chart; the cells as CSV (the API's own)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from web.app import Page, Web
from web.charts import chart_style
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

    style = chart_style(("#0b4f8a",), major_label_font_size=13, value_font_size=12)
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


# The tile map's grid: one tile per region, placed by rough geography (column west to east, row north to
# south), not to scale: no NUTS-2 geometry is packaged for offline use. Regions not listed here (added to
# the code list later) go on a last row, in code order.
TILES = {
    "IE04": (0, 0),
    "IE06": (1, 0),
    "IE05": (0, 1),
    "FR10": (3, 1),
    "ITC1": (4, 2),
    "ITH5": (5, 2),
    "ES11": (0, 3),
    "ES21": (1, 3),
    "ES51": (3, 3),
    "TR10": (7, 3),
    "TR51": (8, 3),
    "ES30": (1, 4),
    "ES52": (2, 4),
    "ES61": (1, 5),
}
LAST_ROW = 7
BIN_COLOURS = ("#d6e6f4", "#8fbbe0", "#3f88c5", "#0b4f8a")  # light to dark: low to high
NO_DATA_COLOUR = "#b0b0b0"


def tile_places(regions: list[str]) -> dict[str, tuple[int, int]]:
    """Each region's (column, row) on the grid; unknown ones side by side on the last row."""
    extra = sorted(r for r in regions if r not in TILES)
    return {r: TILES[r] if r in TILES else (extra.index(r), LAST_ROW) for r in regions}


def region_means(cells: list[dict[str, Any]], need: str) -> dict[str, tuple[float | None, int]]:
    """Each region's mean maturity (1-5) in a need over its assessed SMEs (cells' means weighted by their
    assessed SMEs), and how many SMEs that is; None where none was assessed."""
    sums: dict[str, list[float]] = {}
    for c in cells:
        total = sums.setdefault(c["region"], [0.0, 0])
        n = c.get("assessed_smes", 0)
        if n and need in c.get("mean_scores", {}):
            total[0] += c["mean_scores"][need] * n
            total[1] += n
    return {r: ((t / n) if n else None, int(n)) for r, (t, n) in sums.items()}


def need_bin(mean: float | None) -> int | None:
    """The map's colour class of a mean on the 1-5 scale: 1 to under 2, 2 to under 3, 3 to under 4, 4 to 5."""
    if mean is None:
        return None
    return min(int(mean) - 1, 3) if mean >= 1 else 0


def best_stars(cells: list[dict[str, Any]]) -> dict[str, int]:
    """Each region's strongest cell: the most stars (0-3) any of its sectors earns."""
    best: dict[str, int] = {}
    for c in cells:
        best[c["region"]] = max(best.get(c["region"], 0), c["strength"]["stars"])
    return best


def tile_map(
    places: dict[str, tuple[int, int]], classes: dict[str, int | None], legend: list[tuple[int | None, str]], title: str
) -> str:
    """The regions as tiles on the grid, one series per colour class, so that the legend says each
    colour's meaning (pygal XY, no lines, large dots); ``legend`` is each class and its name, light to dark
    (class 0 to 3), and None for "no data" in grey."""
    import pygal  # here, not at import: pygal installs an import hook without find_spec (ImportWarning later)

    style = chart_style(
        tuple(NO_DATA_COLOUR if key is None else BIN_COLOURS[key] for key, _name in legend),
        legend_font_size=13,
        value_font_size=12,
        value_label_font_size=12,
    )
    chart = pygal.XY(
        style=style,
        stroke=False,
        dots_size=22,
        title=title,
        width=760,
        height=520,
        js=[],
        show_x_labels=False,
        show_y_labels=False,
        show_x_guides=False,
        show_y_guides=False,
        print_labels=True,
        xrange=(-0.7, 8.7),
        range=(-LAST_ROW - 0.7, 0.7),
        legend_at_bottom=True,
        legend_at_bottom_columns=2,
        truncate_legend=-1,  # the legend's words in full, in every language
        explicit_size=True,
    )
    for key, name in legend:
        chart.add(
            name,
            [
                {"value": (col, -row), "label": region}
                for region, (col, row) in sorted(places.items())
                if classes.get(region) == key
            ],
        )
    return str(chart.render(is_unicode=True))


def spotlight_chart(
    needs: list[dict[str, Any]],
    names: dict[str, str],
    series: tuple[str, str],
    title: str,
    number: Callable[[float], str] = lambda v: f"{v:.1f}",
    long_legend: bool = False,
) -> str:
    """Mean maturity per need (a region's, or a council's SMEs') beside the network's on the fixed 1-5 axis
    (pygal), each series named in the legend; ``number`` writes a mean (a page passes its language's decimal
    sign); ``long_legend`` puts one legend entry a line, for series names long in every language (a council's
    with its sample size), the chart taller by that line."""
    import pygal  # here, not at import: pygal installs an import hook without find_spec (ImportWarning later)

    style = chart_style(("#0b4f8a", "#b35900"), major_label_font_size=13, legend_font_size=13, value_font_size=12)
    bars = pygal.HorizontalBar(
        style=style,
        range=(1, 5),
        zero=1,
        title=title,
        width=760,
        height=(160 if long_legend else 140) + 44 * max(len(needs), 1),
        js=[],
        print_values=True,
        value_formatter=number,
        y_labels=[1, 2, 3, 4, 5],
        legend_at_bottom=True,
        legend_at_bottom_columns=1 if long_legend else None,
        truncate_legend=-1,
        explicit_size=True,
    )
    rows = needs[::-1]
    bars.x_labels = [names.get(n["dimension"], n["dimension"]) for n in rows]
    bars.add(series[0], [n["mean_maturity"] for n in rows])
    bars.add(series[1], [n["network_mean_maturity"] for n in rows])
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

    def colour_by(page: Page) -> str:
        return "stars" if page.request.query_params.get("by") == "stars" else "need"

    def map_legend(page: Page, by: str) -> list[tuple[int | None, str]]:
        if by == "stars":
            return [
                (n, page.ngettext("best cell: %(n)s star", "best cell: %(n)s stars", n) % {"n": n}) for n in range(4)
            ]
        return [
            (0, page._("mean 1 to under 2")),
            (1, page._("mean 2 to under 3")),
            (2, page._("mean 3 to under 4")),
            (3, page._("mean 4 to 5")),
            (None, page._("no SME assessed")),
        ]

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
        by = colour_by(page)
        spot = await page.api.get("/mapping/spotlight", {"region": region}) if region else None
        return page.render(
            "explorer/explorer.html",
            by=by,
            means=region_means(everything, need),
            stars=best_stars(everything),
            spot=spot,
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

    def svg(body: str) -> Response:
        return Response(
            body,
            media_type="image/svg+xml",
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
        )

    async def map_svg(page: Page) -> Response:
        _region, need = choices(page)
        by = colour_by(page)
        cells = await cells_for(page, "")
        regions = sorted({c["region"] for c in cells})
        if by == "stars":
            best = best_stars(cells)
            classes: dict[str, int | None] = {r: best[r] for r in regions}
            title = page._("Partner regions by their strongest cell's stars (0-3)")
        else:
            means = region_means(cells, need)
            classes = {r: need_bin(means[r][0]) for r in regions}
            title = page._("Partner regions by mean maturity (1-5) in %(need)s") % {"need": need_names(page)[need]}
        return svg(tile_map(tile_places(regions), classes, map_legend(page, by), title))

    async def spotlight_svg(page: Page) -> Response:
        region, _need = choices(page)
        if not region:
            raise Problem(422, "Unprocessable Content", "choose a region", fields={"region": "is required"})
        spot = await page.api.get("/mapping/spotlight", {"region": region})
        needs = [n for n in spot["needs"] if n.get("mean_maturity") is not None]
        title = page._("Growth needs in %(region)s: mean maturity (1-5) beside the network's") % {"region": region}
        series = (region, page._("Network"))
        return svg(spotlight_chart(needs, need_names(page), series, title))

    async def csv(page: Page) -> Response:
        region, _need = choices(page)
        params = {"format": "csv", **({"region": region} if region else {})}
        r = await page.api.call("GET", "/mapping/cluster-map", params=params)
        return Response(
            r.content,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="cluster-map{"-" + region if region else ""}.csv"'},
        )

    return [
        Route("/explorer", web.page(explorer)),
        Route("/explorer/chart.svg", web.page(chart)),
        Route("/explorer/cells.csv", web.page(csv)),
        Route("/explorer/map.svg", web.page(map_svg)),
        Route("/explorer/spotlight.svg", web.page(spotlight_svg)),
    ]
