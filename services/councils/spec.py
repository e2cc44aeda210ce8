"""The councils service as the registry knows it (light: its component is imported only when built)."""

from __future__ import annotations

from clustergrowth.component import ServiceSpec
from services.councils import cli

SPEC = ServiceSpec(
    "councils",
    port=8104,
    title="SME Cluster Growth — councils",
    component_path="services.councils.app:CouncilsService",
    commands=(cli.REBUILD,),
)
