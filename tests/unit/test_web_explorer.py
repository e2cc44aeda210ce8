"""The explorer's tile map: a mean's colour class at and around each bound of the 1-5 scale, a region's
mean over its assessed SMEs (weights written out by hand), its strongest cell, and where each tile goes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from web.pages.explorer import LAST_ROW, TILES, best_stars, need_bin, region_means, tile_map, tile_places


@pytest.mark.parametrize(
    ("mean", "expected"),
    [
        (None, None),
        (1.0, 0),
        (1.999, 0),
        (2.0, 1),  # a bound starts the class above it
        (2.001, 1),
        (2.999, 1),
        (3.0, 2),
        (3.999, 2),
        (4.0, 3),
        (4.999, 3),
        (5.0, 3),  # the top of the scale stays in the last class
    ],
)
def test_a_means_colour_class(mean: float | None, expected: int | None) -> None:
    assert need_bin(mean) == expected


def cell(region: str, n: int, scores: dict[str, float], stars: int = 0) -> dict[str, Any]:
    return {"region": region, "assessed_smes": n, "mean_scores": scores, "strength": {"stars": stars}}


def test_a_regions_mean_weighs_each_cell_by_its_assessed_smes() -> None:
    cells = [
        cell("ES30", 2, {"finance": 2.0}),
        cell("ES30", 1, {"finance": 5.0}),  # (2 x 2.0 + 1 x 5.0) / 3 = 3.0, not the cells' plain mean 3.5
        cell("ES30", 4, {"talent": 1.0}),  # no finance answer: not counted
        cell("FR10", 0, {}),  # registered, none assessed
    ]
    assert region_means(cells, "finance") == {"ES30": (3.0, 3), "FR10": (None, 0)}


def test_a_regions_strongest_cell() -> None:
    cells = [cell("ITH5", 3, {}, stars=1), cell("ITH5", 3, {}, stars=3), cell("TR10", 3, {}, stars=0)]
    assert best_stars(cells) == {"ITH5": 3, "TR10": 0}


def test_known_regions_keep_their_place_and_unknown_ones_line_up_last() -> None:
    places = tile_places(["ZZ99", "IE05", "AA01"])
    assert places == {"IE05": TILES["IE05"], "AA01": (0, LAST_ROW), "ZZ99": (1, LAST_ROW)}
    assert len(set(TILES.values())) == len(TILES)  # no two regions share a tile


def test_the_map_has_a_legend_entry_per_class_and_a_tile_per_region() -> None:
    legend: list[tuple[int | None, str]] = [(0, "low"), (1, "lower"), (2, "upper"), (3, "high"), (None, "no data")]
    svg = tile_map({"IE05": (0, 1), "ITH5": (5, 2)}, {"IE05": 1, "ITH5": None}, legend, "Title")
    assert all(f">{name}<" in svg for _, name in legend)
    # one series per class, coloured light to dark, "no data" grey (pygal's series colours in its style)
    for n, colour in enumerate(("#d6e6f4", "#8fbbe0", "#3f88c5", "#0b4f8a", "#b0b0b0")):
        assert f".color-{n}" in svg and colour in svg
    assert ">IE05<" in svg and ">ITH5<" in svg
    assert not re.search(r"<script[^>]*\ssrc=", svg)  # nothing fetched from elsewhere
