"""The re-assessment chart, drawn by pygal: per practice the baseline, the re-assessment and the plan's
target as bars, practices on the x axis, the instrument's score (with its scale) on the y axis, a legend."""

from __future__ import annotations

import sys
from typing import Any

import pygal

# see services/councils/dashboard/charts.py: pygal's legacy import finder makes missing imports warn
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]


def comparison_svg(c: dict[str, Any]) -> str:
    lo, hi = c["scale"]["min"], c["scale"]["max"]
    unit = f"score ({lo:g}-{hi:g}, {c['instrument'].upper()} scale)"
    chart = pygal.Bar(
        title=f"Re-assessment {c['assessment_id']} against baseline {c['baseline_assessment_id']}",
        x_title="Practice",
        y_title=unit,
        range=(lo, hi),
        legend_at_bottom=True,
        truncate_legend=-1,
        x_label_rotation=40,
        js=[],
        value_formatter=lambda v: f"{v:.2f}",
    )
    rows = c["practices"]
    chart.x_labels = [r["practice"].replace("_", " ") for r in rows]
    chart.add("baseline", [r["baseline"] for r in rows])
    chart.add("re-assessment", [r["current"] for r in rows])
    chart.add("plan target", [r["target"] for r in rows])
    svg: str = chart.render(is_unicode=True)
    return svg
