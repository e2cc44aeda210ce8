"""Routes of aggregates: peer-group statistics that pass disclosure control (analysts, coordinators),
and the region's counts (coordinators)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Query

from clustergrowth.auth import CurrentPrincipal, RuledRouter, allow
from contracts.training import InstrumentId
from services.training.handlers import benchmarks as h
from services.training.handlers.context import ANALYSTS, COORDINATORS
from services.training.routes.common import PROBLEMS, Ctx

router = RuledRouter(responses=PROBLEMS)
Level = Literal["division_region_size", "section_region_size", "section_country_size", "council", "network"]


@router.get(
    "/benchmarks",
    **allow(*ANALYSTS),
    summary="One peer group's statistics, as far as disclosure control allows (n, means, quartiles)",
)
async def group_statistics(
    who: CurrentPrincipal,
    t: Ctx,
    instrument: InstrumentId,
    level: Level,
    nace_division: str | None = Query(None, pattern=r"^[A-U][0-9]{2}$"),
    nace_section: str | None = Query(None, pattern=r"^[A-U]$"),
    region: str | None = Query(None, pattern=r"^[A-Z]{2}[0-9A-Z]{2}$"),
    country: str | None = Query(None, pattern=r"^[A-Z]{2}$"),
    size_class: Literal["micro", "small", "medium", "large"] | None = None,
    council: str | None = Query(None, min_length=1, max_length=80),
) -> dict[str, Any]:
    params = {
        "nace_division": nace_division,
        "nace_section": nace_section,
        "region": region,
        "country": country,
        "size_class": size_class,
        "council": council,
    }
    return await h.of_group(t, instrument, level, params)


@router.get("/summary", **allow(*COORDINATORS), summary="This region's counts: SMEs, assessments, plans")
async def region_summary(who: CurrentPrincipal, t: Ctx) -> dict[str, Any]:
    return await h.region_summary(t)
