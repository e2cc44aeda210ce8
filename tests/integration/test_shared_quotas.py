"""Quotas across gateway replicas: two gateways sharing a real Redis hold one quota between them, and a
gateway whose Redis is gone keeps answering, counting in its own memory instead. The replicas are the
embedded gateway and the compiled front (the distributed mode's /api/v1; issue 20 retired the Python
gateway's proxy mode), and the front reaches a rediss:// store with its password and CA."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
import redis.asyncio
from pydantic import SecretStr

from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings
from instance.app import create_app
from tests import backends
from tests.backends import free_port
from tests.conftest import TokenFactory
from tests.fronts import front, quota_window_with_room
from tests.integration.test_tls import REDIS_PASSWORD, Ca

pytestmark = pytest.mark.integration
WINDOW_S: int = GatewaySettings.model_fields["rate_window_s"].default  # the quotas' window: counted from its start


def quota_settings(store: str | None) -> GatewaySettings:
    return GatewaySettings(
        urls={"facilities": f"http://127.0.0.1:{free_port()}"},  # nobody there: 503 until the quota says 429
        rate_store_url=store,
        rate_per_principal=10,
        rate_writes_per_principal=10,
        rate_per_address=1000,
        breaker_failures=1000,
    )


def replica(settings: RuntimeSettings, store: str | None) -> object:
    """An embedded gateway (the services in-process): its answers are 200 until the quota says 429."""
    return create_app(settings.model_copy(update={"seed_demo": False}), quota_settings(store))


async def clients(stack: AsyncExitStack, *apps: object) -> AsyncIterator[httpx.AsyncClient]:
    for app in apps:
        await stack.enter_async_context(app.router.lifespan_context(app))  # type: ignore[attr-defined]
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        yield await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://gw"))


async def test_two_replicas_share_one_quota(settings: RuntimeSettings, token: TokenFactory, redis_url: str) -> None:
    h = {"Authorization": token("shared-quota", "student")}
    async with AsyncExitStack() as stack:
        a, b = [c async for c in clients(stack, replica(settings, redis_url), replica(settings, redis_url))]
        await quota_window_with_room(WINDOW_S)
        statuses = []
        for i in range(14):
            r = await (a if i % 2 else b).get("/api/v1/facilities/resources", headers=h)
            statuses.append(r.status_code)
        assert statuses.count(200) == 10 and statuses[10:] == [429] * 4, statuses
        r = await a.get("/api/v1/facilities/resources", headers={"Authorization": token("someone-else", "student")})
        assert r.status_code == 200  # another token has its own quota


async def test_a_replica_without_its_quota_store_keeps_answering(
    settings: RuntimeSettings, token: TokenFactory
) -> None:
    h = {"Authorization": token("lonely", "student")}
    gone = f"redis://127.0.0.1:{free_port()}/0"
    async with AsyncExitStack() as stack:
        (c,) = [x async for x in clients(stack, replica(settings, gone))]
        await quota_window_with_room(WINDOW_S)
        statuses = [(await c.get("/api/v1/facilities/resources", headers=h)).status_code for _ in range(12)]
        assert statuses == [200] * 10 + [429] * 2, statuses  # never a 500; the quota still holds, per replica
        assert (await c.get("/healthz")).status_code == 200


async def test_an_embedded_gateway_and_a_compiled_front_share_one_quota(
    settings: RuntimeSettings, token: TokenFactory, redis_url: str
) -> None:
    """The compiled front keys its counters as the Python gateway does, so mixed replicas hold one quota
    (the front's service is not running: 503 until the quota says 429; the embedded one answers 200)."""
    h = {"Authorization": token("mixed-replicas", "student")}
    async with (
        AsyncExitStack() as stack,
        front("edge", settings, quota_settings(redis_url)) as edge,
        edge.client() as b,
    ):
        (a,) = [c async for c in clients(stack, replica(settings, redis_url))]
        await quota_window_with_room(WINDOW_S)
        statuses = [
            (await (a if i % 2 else b).get("/api/v1/facilities/resources", headers=h)).status_code for i in range(14)
        ]
        assert statuses[:10] == [503, 200] * 5 and statuses[10:] == [429] * 4, statuses
        r = await b.get("/api/v1/facilities/resources", headers={"Authorization": token("another", "student")})
        assert r.status_code == 503


async def test_a_compiled_front_without_its_quota_store_keeps_answering(
    settings: RuntimeSettings, token: TokenFactory
) -> None:
    h = {"Authorization": token("lonely-edge", "student")}
    gone = f"redis://127.0.0.1:{free_port()}/0"
    async with front("edge", settings, quota_settings(gone)) as f, f.client() as c:
        await quota_window_with_room(WINDOW_S)
        statuses = [(await c.get("/api/v1/facilities/resources", headers=h)).status_code for _ in range(12)]
        assert statuses == [503] * 10 + [429] * 2, statuses
        assert (await c.get("/healthz")).status_code == 200


async def test_a_compiled_front_counts_in_a_rediss_store_with_its_password_and_ca(
    settings: RuntimeSettings, token: TokenFactory, tmp_path: Path
) -> None:
    """rediss:// through the redis crate (rustls): the password from CG_REDIS_PASSWORD, the private CA
    from CG_REDIS_CA_FILE. Two fronts share the count; a front given a stranger's CA cannot reach the
    store and counts in its own memory (so its quota is its own)."""
    folder = tmp_path / "pki"
    folder.mkdir()
    ours, stranger = Ca(folder, "region-ca"), Ca(folder, "stranger-ca")
    cert, key = ours.issue("server", server=True)
    proc, url = backends.native_redis_tls(tmp_path, backends.TlsFiles(ours.path, cert, key), REDIS_PASSWORD)
    secured = settings.model_copy(update={"redis_password": SecretStr(REDIS_PASSWORD), "redis_ca_file": ours.path})
    strange = secured.model_copy(update={"redis_ca_file": stranger.path})
    h = {"Authorization": token("over-tls", "student")}
    try:
        async with (
            front("edge", secured, quota_settings(url)) as one,
            front("edge", secured, quota_settings(url)) as two,
            front("edge", strange, quota_settings(url)) as alone,
            one.client() as a,
            two.client() as b,
            alone.client() as c,
        ):
            await quota_window_with_room(WINDOW_S)  # both counts below in one window
            statuses = [
                (await (a if i % 2 else b).get("/api/v1/facilities/resources", headers=h)).status_code
                for i in range(12)
            ]
            assert statuses == [503] * 10 + [429] * 2, statuses  # one count over TLS, in Redis
            client = redis.asyncio.from_url(url, password=REDIS_PASSWORD, ssl_ca_certs=str(ours.path))
            try:
                assert any([k async for k in client.scan_iter("cg:quota:principal:tok:*")])
            finally:
                await client.aclose()
            statuses = [(await c.get("/api/v1/facilities/resources", headers=h)).status_code for _ in range(11)]
            assert statuses == [503] * 10 + [429], statuses  # its own memory: the store's 12 are not seen
    finally:
        proc.stop()
