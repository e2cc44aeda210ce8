"""The councils service's own subcommand: ``clustergrowth rebuild-partner-councils`` (partners' councils and
the initiatives they lead, from their replicas of councils.events on this region's bus)."""

from __future__ import annotations

import argparse
import asyncio
import json

from clustergrowth.component import Command
from clustergrowth.settings import RuntimeSettings


async def _rebuild() -> int:
    from services.councils.app import CouncilsService
    from services.councils.settings import CouncilsSettings

    service = CouncilsService(RuntimeSettings(), CouncilsSettings(run_relay=False, run_consumers=False))
    try:
        await service.bus.start()
        print(json.dumps(await service.rebuild_partners()))
    finally:
        await service.bus.close()
        await service.store.close()
    return 0


def _configure(p: argparse.ArgumentParser) -> None:
    """No arguments: the region's settings come from its CG_* variables, as the service's."""


REBUILD = Command(
    "rebuild-partner-councils",
    "rebuild the partner councils and initiatives from partners' replicated councils.events",
    _configure,
    lambda args: asyncio.run(_rebuild()),
)
