"""The matching service as the registry knows it (light: its component is imported only when built)."""

from __future__ import annotations

from clustergrowth.component import ServiceSpec
from services.matching import cli

SPEC = ServiceSpec(
    "matching",
    port=8103,
    title="SME Cluster Growth — matching",
    component_path="services.matching.app:MatchingService",
    commands=(cli.ALLOCATE,),
)
