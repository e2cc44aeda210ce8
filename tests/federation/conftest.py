"""Two regions, IE05 (Cork) and ITH5 (Bologna), each with its own native Kafka broker and its own
FerretDB, and one Kafka MirrorMaker 2 process replicating the event topics both ways (a dedicated
MirrorMaker cluster config does both directions). Started once for the package's integration tests,
in parallel; a backend that cannot be had is an error, never a skip."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from clustergrowth.bus.federation import alias
from clustergrowth.settings import RuntimeSettings
from tests import backends


@dataclass
class Region:
    code: str  # NUTS-2 code: IE05, ITH5
    kafka: backends.NativeProcess
    bootstrap: str
    mongo_url: str

    def settings(self, tmp_path: Path, **over: object) -> RuntimeSettings:
        """This region's runtime settings: its own broker and store, no topic prefix (the replicated
        names are <alias>.<topic>, as in production)."""
        values: dict[str, object] = {
            "region": self.code,
            "data_dir": tmp_path / self.code / "data",
            "store": "mongo",
            "mongo_write_locks": True,
            "mongo_url": self.mongo_url,
            "bus": "kafka",
            "kafka_bootstrap": self.bootstrap,
            "relay_interval_s": 0.05,
            **over,
        }
        return RuntimeSettings(**values)  # type: ignore[arg-type]

    def database(self, what: str) -> str:
        return f"{self.code.lower()}_{what}_{uuid.uuid4().hex[:6]}"


@dataclass
class Network:
    ie05: Region
    ith5: Region
    mirrormaker: backends.NativeProcess


@pytest.fixture(scope="package")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    base = tmp_path_factory.mktemp("federation")
    started: list[backends.NativeProcess] = []
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            kafkas = {code: pool.submit(backends.native_kafka_region, base, code.lower()) for code in ("IE05", "ITH5")}
            ferrets = {code: pool.submit(backends.native_ferretdb, base / code) for code in ("IE05", "ITH5")}
            regions = {}
            for code in ("IE05", "ITH5"):
                kproc, bootstrap = kafkas[code].result()
                fproc, url = ferrets[code].result()
                started += [kproc, fproc]
                regions[code] = Region(code, kproc, bootstrap, url)
        mm2 = backends.native_mirrormaker(base, {alias(c): r.bootstrap for c, r in regions.items()})
        started.append(mm2)
        mm2.start()
        yield Network(regions["IE05"], regions["ITH5"], mm2)
    finally:
        for p in reversed(started):
            p.stop()
