"""A chart per indicator, drawn by pygal: the indicator's inputs stacked per quarter (so a bar's height
is the indicator's value), quarters on the x axis, the unit on the y axis, one legend entry per input."""

from __future__ import annotations

import sys
from typing import Any

import pygal

# pygal 3 appends a legacy import finder (no ``find_spec``) to ``sys.meta_path`` so that map plugins can
# be imported as ``pygal.maps.<name>``; maps are not used here, and that finder makes every later import
# of a module that does not exist warn (ImportWarning), which the test run turns into errors. Removed
# once, when this module is imported.
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]


def indicator_svg(council_id: str, indicator: dict[str, Any]) -> str:
    """The SVG of one indicator of a council's dashboard (``dashboard(...)["indicators"][key]``)."""
    rows = indicator["by_quarter"]
    top = max([r["value"] for r in rows], default=0) or 1
    step = -(-top // 10)  # whole units, at most about ten labels
    chart = pygal.StackedBar(
        title=f"{indicator['title']} — council {council_id}",
        x_title="Quarter (UTC)",
        y_title=indicator["unit"],
        legend_at_bottom=True,
        legend_at_bottom_columns=1,
        truncate_legend=-1,
        js=[],  # no script fetched from elsewhere: the chart is a static image
        value_formatter=lambda v: f"{v:.0f}",
        no_data_text="No activity yet",
    )
    chart.x_labels = [r["quarter"] for r in rows]
    if rows:  # (pygal cannot place labels on an axis with no data: it says no_data_text instead)
        chart.y_labels = list(range(0, top + step, step))
    names = list(rows[0]["inputs"]) if rows else []
    for name in names:
        chart.add(name.replace("_", " "), [r["inputs"][name] for r in rows])
    svg: str = chart.render(is_unicode=True)
    return svg
