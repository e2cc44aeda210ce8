"""The training service's own subcommand: ``clustergrowth rebuild-benchmarks`` (the peer groups, from this
region's log and every partner's replica of it that exists on the bus)."""

from __future__ import annotations

import argparse
import asyncio
import json

from clustergrowth.component import Command
from clustergrowth.settings import RuntimeSettings


async def _rebuild() -> int:
    from services.training.app import TrainingService
    from services.training.settings import TrainingSettings

    service = TrainingService(RuntimeSettings(), TrainingSettings(run_relay=False, run_consumers=False))
    try:
        await service.bus.start()
        print(json.dumps(await service.rebuild_peers()))
    finally:
        await service.bus.close()
        await service.store.close()
    return 0


def _configure(p: argparse.ArgumentParser) -> None:
    """No arguments: the region's settings come from its CG_* variables, as the service's."""


REBUILD = Command(
    "rebuild-benchmarks",
    "rebuild the peer benchmark's groups from this region's training.events and partners' replicas of it "
    "(replay into a new generation while the service keeps serving)",
    _configure,
    lambda args: asyncio.run(_rebuild()),
)
