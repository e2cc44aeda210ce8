"""The dashboard's SVG charts, parsed as XML: a title naming the indicator and the council, the quarters
on the x axis, the unit as the y axis title, whole-number y labels up to the largest value, one legend
entry and one series per input, each bar's value as given."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from services.councils.dashboard.charts import indicator_svg
from services.councils.dashboard.indicators import DEFINITIONS

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    assert svg.startswith("<?xml")
    return ET.fromstring(svg.encode())


def texts(el: ET.Element) -> list[str]:
    return [t.text for t in el.iter(f"{SVG}text") if t.text and t.text.strip()]


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class", "").split()[:2] == cls.split()[:2]]


def indicator(rows: list[tuple[str, dict[str, int]]]) -> dict[str, Any]:
    by_quarter = [{"quarter": q, "value": sum(i.values()), "inputs": i} for q, i in rows]
    return {**DEFINITIONS["sme_university"], "by_quarter": by_quarter}


ROWS = [
    ("2026-Q1", {"engagements_completed": 0, "sme_bookings_at_university_sites": 2, "meetings_attended": 1}),
    ("2026-Q2", {"engagements_completed": 2, "sme_bookings_at_university_sites": 0, "meetings_attended": 0}),
    ("2026-Q3", {"engagements_completed": 7, "sme_bookings_at_university_sites": 4, "meetings_attended": 1}),
]


def test_the_chart_has_a_title_axes_with_units_and_a_legend() -> None:
    root = parse(indicator_svg("c-cork", indicator(ROWS)))
    titles = [t.text for t in root.iter(f"{SVG}text") if "title" in (t.get("class") or "").split()]
    assert titles == ["SME ↔ university interactions — council c-cork", "Quarter (UTC)", "interactions per quarter"]
    (x_axis,) = groups(root, "axis x")
    assert texts(x_axis) == ["2026-Q1", "2026-Q2", "2026-Q3"]
    (y_axis,) = groups(root, "axis y")
    # the largest stack is 12 (7 + 4 + 1): labels every 2 (ceil(12 / 10)) from 0 to 12
    assert texts(y_axis) == ["0", "2", "4", "6", "8", "10", "12"]
    (legends,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "legends"]
    assert texts(legends) == ["engagements completed", "sme bookings at university sites", "meetings attended"]


def test_one_series_per_input_with_each_quarters_value() -> None:
    root = parse(indicator_svg("c-cork", indicator(ROWS)))
    plotted = {}
    for g in root.iter(f"{SVG}g"):
        cls = g.get("class", "").split()
        values = [d.text for d in g.iter(f"{SVG}desc") if d.get("class") == "value"]
        if cls[:1] == ["series"] and values:
            plotted[cls[1]] = values
    assert plotted == {"serie-0": ["0", "2", "7"], "serie-1": ["2", "0", "4"], "serie-2": ["1", "0", "1"]}


def test_small_values_get_a_label_per_unit_and_an_empty_dashboard_says_so() -> None:
    root = parse(indicator_svg("c-cork", indicator([("2026-Q1", {"a": 1})])))
    (y_axis,) = groups(root, "axis y")
    assert texts(y_axis) == ["0", "1"]
    zero = parse(indicator_svg("c-cork", indicator([("2026-Q1", {"a": 0})])))
    assert texts(groups(zero, "axis y")[0]) == ["0", "1"]  # an axis of at least one unit
    empty = parse(indicator_svg("c-cork", indicator([])))
    assert "No activity yet" in texts(empty)


def test_the_chart_fetches_no_script() -> None:
    root = parse(indicator_svg("c-cork", indicator(ROWS)))
    assert [s.get("{http://www.w3.org/1999/xlink}href") or s.get("href") for s in root.iter(f"{SVG}script")] in (
        [],
        [None],
    )
