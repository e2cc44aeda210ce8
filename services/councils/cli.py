"""The councils service's own subcommand: ``clustergrowth rebuild-partner-councils`` (partners' councils and
the initiatives they lead, from their replicas of councils.events on this region's bus)."""

from __future__ import annotations

from clustergrowth.component import offline_command

REBUILD = offline_command(
    "rebuild-partner-councils",
    "rebuild the partner councils and initiatives from partners' replicated councils.events",
    "services.councils.app:CouncilsService",
    lambda service: service.rebuild_partners(),
)
