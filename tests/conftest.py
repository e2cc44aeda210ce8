"""Shared fixtures: settings per test, tokens, and real backends for integration tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
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


def _backend(
    name: str,
    env: str,
    container: Callable[[], AbstractContextManager[tuple[str, str]]],
    native: Callable[[], tuple[backends.NativeProcess, str, str]],
) -> Iterator[str]:
    """A real backend's address: from the environment, else a container, else a native process."""
    if os.environ.get(env):
        USED[name] = f"from {env} at {os.environ[env]}"
        yield os.environ[env]
        return
    if backends.docker_available():
        with container() as (address, how):
            USED[name] = how
            yield address
        return
    proc, address, how = native()
    USED[name] = how
    try:
        yield address
    finally:
        proc.stop()


@contextmanager
def _kafka_container() -> Iterator[tuple[str, str]]:
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer("apache/kafka:4.2.0").with_kraft() as kafka:
        yield kafka.get_bootstrap_server(), "apache/kafka:4.2.0 container (testcontainers)"


@contextmanager
def _mongo_container() -> Iterator[tuple[str, str]]:
    from testcontainers.mongodb import MongoDbContainer

    with MongoDbContainer("mongo:8.0") as mongo:
        yield mongo.get_connection_url(), "mongo:8.0 container (testcontainers)"


@contextmanager
def _redis_container() -> Iterator[tuple[str, str]]:
    from testcontainers.redis import RedisContainer

    with RedisContainer("redis:7") as redis:
        url = f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0"
        yield url, "redis:7 container (testcontainers)"


@pytest.fixture(scope="session")
def kafka_bootstrap(backend_dir: Path) -> Iterator[str]:
    """A real Kafka broker: from CG_TEST_KAFKA, a container, or a native KRaft process."""

    def native() -> tuple[backends.NativeProcess, str, str]:
        proc, bootstrap = backends.native_kafka(backend_dir)
        return proc, bootstrap, f"native KRaft broker ({Path(backends.provision('kafka')).parent.name}) at {bootstrap}"

    yield from _backend("kafka", "CG_TEST_KAFKA", _kafka_container, native)


@pytest.fixture(scope="session")
def mongo_url(backend_dir: Path) -> Iterator[str]:
    """A real MongoDB-protocol server: from CG_TEST_MONGO_URL, a MongoDB container, or native FerretDB."""

    def native() -> tuple[backends.NativeProcess, str, str]:
        proc, url = backends.native_ferretdb(backend_dir)
        version = Path(backends.provision("ferretdb")).parent.name
        return proc, url, f"native FerretDB ({version}, SQLite handler) at {url}"

    yield from _backend("mongo", "CG_TEST_MONGO_URL", _mongo_container, native)


@pytest.fixture(scope="session")
def redis_url(backend_dir: Path) -> Iterator[str]:
    """A real Redis: from CG_TEST_REDIS_URL, a container, or Debian's redis-server unpacked under .cache."""

    def native() -> tuple[backends.NativeProcess, str, str]:
        proc, url = backends.native_redis(backend_dir)
        return proc, url, f"native redis-server (Debian's package, unpacked) at {url}"

    yield from _backend("redis", "CG_TEST_REDIS_URL", _redis_container, native)
