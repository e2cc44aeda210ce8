"""Two regions, IE05 (Cork) and ITH5 (Bologna), each with its own native Kafka broker and its own
FerretDB, and one Kafka MirrorMaker 2 process replicating the event topics both ways (a dedicated
MirrorMaker cluster config does both directions). Started once for the package's integration tests,
in parallel; a backend that cannot be had is an error, never a skip. Each region's people come from
its own OpenID Connect issuer (``issuers``, served over HTTP by the test), and each region's instance
trusts the other's (``instance``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from clustergrowth.bus.federation import alias
from clustergrowth.settings import RuntimeSettings, TrustedIssuer
from instance.app import create_app
from tests import backends
from tests.component.test_federated_identity import PartnerIssuer

GRANTS = {"student": ["student"], "staff": ["sme_member"]}  # partner role -> roles granted here


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
    started_at: datetime  # before any of its processes started


@pytest.fixture(scope="package")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    base = tmp_path_factory.mktemp("federation")
    began = datetime.now(UTC)
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
        yield Network(regions["IE05"], regions["ITH5"], mm2, began)
    finally:
        for p in reversed(started):
            p.stop()


@pytest.fixture
async def issuers() -> AsyncIterator[dict[str, PartnerIssuer]]:
    """Each region's own issuer (region code -> issuer), on one local HTTP server."""
    port = backends.free_port()
    outer = FastAPI()
    out = {}
    for code, realm in (("IE05", "mtu"), ("ITH5", "unibo")):
        out[code] = PartnerIssuer(base=f"http://127.0.0.1:{port}/realms/{realm}")
        out[code].rotate()
        outer.mount(f"/realms/{realm}", out[code].app())
    server = uvicorn.Server(uvicorn.Config(outer, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    yield out
    server.should_exit = True
    await task


def instance(region: Region, partner: Region, issuers: dict[str, PartnerIssuer], tmp_path: Path) -> FastAPI:
    """A region's whole instance (gateway and services) on its broker and FerretDB: its home issuer is its
    own, the partner's is trusted with ``GRANTS``."""
    settings = region.settings(
        tmp_path,
        auth_issuer=issuers[region.code].base,
        auth_jwks_min_refresh_s=0,
        auth_partners=[TrustedIssuer(issuer=issuers[partner.code].base, region=partner.code, roles=GRANTS)],
    )
    return create_app(settings)


def token(issuers: dict[str, PartnerIssuer], code: str, sub: str, *roles: str, **claims: str) -> dict[str, str]:
    """A bearer header from region ``code``'s issuer for one of its people."""
    return issuers[code].token(sub, *roles, region=code, **claims)
