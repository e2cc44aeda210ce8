"""The facilities service as the registry knows it (light: its component is imported only when built)."""

from __future__ import annotations

from clustergrowth.component import ServiceSpec
from services.facilities import cli

SPEC = ServiceSpec(
    "facilities",
    port=8101,
    title="SME Cluster Growth — facilities",
    component_path="services.facilities.app:FacilitiesService",
    commands=(cli.REBUILD,),
)
