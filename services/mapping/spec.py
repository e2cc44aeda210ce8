"""The mapping service as the registry knows it (light: its component is imported only when built)."""

from __future__ import annotations

from clustergrowth.component import ServiceSpec
from services.mapping import cli

SPEC = ServiceSpec(
    "mapping",
    port=8102,
    title="SME Cluster Growth — mapping",
    component_path="services.mapping.app:MappingService",
    commands=(cli.REBUILD,),
)
