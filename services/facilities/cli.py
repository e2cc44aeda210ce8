"""The facilities service's own subcommand: ``clustergrowth rebuild-partner-resources`` (the network
catalogue: partners' resources and their signs of life, folded again from their replicas of
facilities.events on this region's bus; each partner's last heartbeat is kept)."""

from __future__ import annotations

import argparse
import asyncio
import json

from clustergrowth.component import Command
from clustergrowth.settings import RuntimeSettings


async def _rebuild() -> int:
    from contracts import facilities as ev
    from services.facilities.app import FacilitiesService
    from services.facilities.settings import FacilitiesSettings

    service = FacilitiesService(RuntimeSettings(), FacilitiesSettings(run_relay=False, run_consumers=False))
    try:
        await service.bus.start()
        print(json.dumps(await service.network.rebuild(service.bus, ev.TOPIC)))
    finally:
        await service.bus.close()
        await service.store.close()
    return 0


def _configure(p: argparse.ArgumentParser) -> None:
    """No arguments: the region's settings come from its CG_* variables, as the service's."""


REBUILD = Command(
    "rebuild-partner-resources",
    "rebuild the network catalogue from partners' replicated facilities.events",
    _configure,
    lambda args: asyncio.run(_rebuild()),
)
