"""Shared fixtures: settings per test, tokens, and real backends for integration tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from clustergrowth.auth import DevIssuer
from clustergrowth.settings import RuntimeSettings
from tests import backends


@pytest.fixture
def settings(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(data_dir=tmp_path / "data", region="IE05", seed_demo=True, relay_interval_s=0.05)


TokenFactory = Callable[..., str]


@pytest.fixture
def token(settings: RuntimeSettings) -> TokenFactory:
    """token(sub, *roles, region="IE05", org=None) -> bearer header value."""
    issuer = DevIssuer(settings.data_dir)

    def make(sub: str, *roles: str, region: str = "IE05", org: str | None = None) -> str:
        return "Bearer " + issuer.mint(settings, sub, list(roles), region, org)

    return make


async def asgi_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client bound to an app, with its lifespan run around it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


USED: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which real backends the integration, contract and fault tests ran against."""
    for name, how in sorted(USED.items()):
        terminalreporter.write_line(f"backend {name}: {how}")


@pytest.fixture(scope="session")
def backend_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("backends")


@pytest.fixture(scope="session")
def kafka_bootstrap(backend_dir: Path) -> Iterator[str]:
    """A real Kafka broker: from CG_TEST_KAFKA, a container, or a native KRaft process."""
    if os.environ.get("CG_TEST_KAFKA"):
        USED["kafka"] = f"from CG_TEST_KAFKA at {os.environ['CG_TEST_KAFKA']}"
        yield os.environ["CG_TEST_KAFKA"]
        return
    if backends.docker_available():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("apache/kafka:4.2.0").with_kraft() as kafka:
            USED["kafka"] = "apache/kafka:4.2.0 container (testcontainers)"
            yield kafka.get_bootstrap_server()
        return
    proc, bootstrap = backends.native_kafka(backend_dir)
    USED["kafka"] = f"native KRaft broker ({Path(backends.provision('kafka')).parent.name}) at {bootstrap}"
    try:
        yield bootstrap
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def mongo_url(backend_dir: Path) -> Iterator[str]:
    """A real MongoDB-protocol server: from CG_TEST_MONGO_URL, a MongoDB container, or native FerretDB."""
    if os.environ.get("CG_TEST_MONGO_URL"):
        USED["mongo"] = f"from CG_TEST_MONGO_URL at {os.environ['CG_TEST_MONGO_URL']}"
        yield os.environ["CG_TEST_MONGO_URL"]
        return
    if backends.docker_available():
        from testcontainers.mongodb import MongoDbContainer

        with ExitStack() as stack:
            mongo = stack.enter_context(MongoDbContainer("mongo:8.0"))
            USED["mongo"] = "mongo:8.0 container (testcontainers)"
            yield mongo.get_connection_url()
        return
    proc, url = backends.native_ferretdb(backend_dir)
    USED["mongo"] = f"native FerretDB ({Path(backends.provision('ferretdb')).parent.name}, SQLite handler) at {url}"
    try:
        yield url
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def redis_url(backend_dir: Path) -> Iterator[str]:
    """A real Redis: from CG_TEST_REDIS_URL, a container, or Debian's redis-server unpacked under .cache."""
    if os.environ.get("CG_TEST_REDIS_URL"):
        USED["redis"] = f"from CG_TEST_REDIS_URL at {os.environ['CG_TEST_REDIS_URL']}"
        yield os.environ["CG_TEST_REDIS_URL"]
        return
    if backends.docker_available():
        from testcontainers.redis import RedisContainer

        with RedisContainer("redis:7") as redis:
            USED["redis"] = "redis:7 container (testcontainers)"
            yield f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0"
        return
    proc, url = backends.native_redis(backend_dir)
    USED["redis"] = f"native redis-server (Debian's package, unpacked) at {url}"
    try:
        yield url
    finally:
        proc.stop()
