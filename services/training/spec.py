"""The training service as the registry knows it (light: its component is imported only when built)."""

from __future__ import annotations

from clustergrowth.component import ServiceSpec
from services.training import cli

SPEC = ServiceSpec(
    "training",
    port=8105,
    title="SME Cluster Growth — training",
    component_path="services.training.app:TrainingService",
    commands=(cli.REBUILD,),
)
