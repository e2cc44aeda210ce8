"""NUTS and NACE code lists, shipped as data files next to the service."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"


@dataclass(frozen=True)
class CodeLists:
    """The region and activity codes an SME may use."""

    regions: dict[str, dict[str, object]]
    nace: dict[str, str]

    def region_name(self, code: str) -> str:
        return str(self.regions[code]["name"])

    def country_of(self, nuts2: str) -> str:
        return str(self.regions[nuts2]["country"])

    def nuts3_of(self, nuts2: str) -> dict[str, str]:
        n3 = self.regions[nuts2]["nuts3"]
        assert isinstance(n3, dict)
        return n3


def division(nace: str) -> str:
    """The NACE division (the sector of the cluster map): ``C28.29`` -> ``C28``."""
    return nace.split(".")[0]


@cache
def code_lists() -> CodeLists:
    nuts = json.loads((DATA / "nuts2021.json").read_text())
    nace = json.loads((DATA / "nace_rev2.json").read_text())
    return CodeLists(regions=nuts["regions"], nace=nace["codes"])
