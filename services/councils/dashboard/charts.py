"""A chart per indicator, drawn by pygal: the indicator's inputs stacked per quarter (so a bar's height
is the indicator's value), quarters on the x axis, the unit on the y axis, one legend entry per input."""

from __future__ import annotations

from typing import Any

import pygal


def indicator_svg(council_id: str, indicator: dict[str, Any]) -> str:
    """The SVG of one indicator of a council's dashboard (``dashboard(...)["indicators"][key]``)."""
    rows = indicator["by_quarter"]
    chart = pygal.StackedBar(
        title=f"{indicator['title']} — council {council_id}",
        x_title="Quarter (UTC)",
        y_title=indicator["unit"],
        legend_at_bottom=True,
        legend_at_bottom_columns=1,
        truncate_legend=-1,
        js=[],  # no script fetched from elsewhere: the chart is a static image
        value_formatter=lambda v: f"{v:.0f}",
        min_scale=1,
        max_scale=10,
        no_data_text="No activity yet",
    )
    chart.x_labels = [r["quarter"] for r in rows]
    names = list(rows[0]["inputs"]) if rows else []
    for name in names:
        chart.add(name.replace("_", " "), [r["inputs"][name] for r in rows])
    svg: str = chart.render(is_unicode=True)
    return svg
