"""The mapping service's own subcommand: ``clustergrowth rebuild mapping``."""

from __future__ import annotations

import argparse
import asyncio
import json

from clustergrowth.component import Command
from clustergrowth.settings import RuntimeSettings


async def _rebuild() -> int:
    from services.mapping.app import MappingService
    from services.mapping.settings import MappingSettings

    service = MappingService(RuntimeSettings(), MappingSettings(run_relay=False, run_consumers=False))
    try:
        await service.bus.start()
        print(json.dumps(await service.rebuild()))
    finally:
        await service.bus.close()
        await service.store.close()
    return 0


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("projection", choices=["mapping"], help="mapping: the cluster map")


REBUILD = Command(
    "rebuild",
    "rebuild a projection from the event log (replay) while the service keeps serving",
    _configure,
    lambda args: asyncio.run(_rebuild()),
)
