"""The training service's own subcommand: ``clustergrowth rebuild-benchmarks`` (the peer groups, from this
region's log and every partner's replica of it that exists on the bus)."""

from __future__ import annotations

from clustergrowth.component import offline_command

REBUILD = offline_command(
    "rebuild-benchmarks",
    "rebuild the peer benchmark's groups from this region's training.events and partners' replicas of it "
    "(replay into a new generation while the service keeps serving)",
    "services.training.app:TrainingService",
    lambda service: service.rebuild_peers(),
)
