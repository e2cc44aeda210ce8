"""Quotas across gateway replicas: two gateways sharing a real Redis hold one quota between them, and a
gateway whose Redis is gone keeps answering, counting in its own memory instead."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest

from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings
from instance.app import create_app
from tests.backends import free_port
from tests.conftest import TokenFactory
from tests.fronts import front

pytestmark = pytest.mark.integration


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
    return create_app(settings, quota_settings(store).model_copy(update={"mode": "proxy"}))


async def clients(stack: AsyncExitStack, *apps: object) -> AsyncIterator[httpx.AsyncClient]:
    for app in apps:
        await stack.enter_async_context(app.router.lifespan_context(app))  # type: ignore[attr-defined]
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        yield await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://gw"))


async def test_two_replicas_share_one_quota(settings: RuntimeSettings, token: TokenFactory, redis_url: str) -> None:
    h = {"Authorization": token("shared-quota", "student")}
    async with AsyncExitStack() as stack:
        a, b = [c async for c in clients(stack, replica(settings, redis_url), replica(settings, redis_url))]
        statuses = []
        for i in range(14):
            r = await (a if i % 2 else b).get("/api/v1/facilities/resources", headers=h)
            statuses.append(r.status_code)
        assert statuses.count(503) == 10 and statuses[10:] == [429] * 4, statuses
        r = await a.get("/api/v1/facilities/resources", headers={"Authorization": token("someone-else", "student")})
        assert r.status_code == 503  # another token has its own quota


async def test_a_replica_without_its_quota_store_keeps_answering(
    settings: RuntimeSettings, token: TokenFactory
) -> None:
    h = {"Authorization": token("lonely", "student")}
    gone = f"redis://127.0.0.1:{free_port()}/0"
    async with AsyncExitStack() as stack:
        (c,) = [x async for x in clients(stack, replica(settings, gone))]
        statuses = [(await c.get("/api/v1/facilities/resources", headers=h)).status_code for _ in range(12)]
        assert statuses == [503] * 10 + [429] * 2, statuses  # never a 500; the quota still holds, per replica
        assert (await c.get("/healthz")).status_code == 200


async def test_a_python_replica_and_a_compiled_front_share_one_quota(
    settings: RuntimeSettings, token: TokenFactory, redis_url: str
) -> None:
    """The compiled front keys its counters as the Python gateway does, so mixed replicas hold one quota."""
    h = {"Authorization": token("mixed-replicas", "student")}
    async with (
        front("python", settings, quota_settings(redis_url)) as py,
        front("edge", settings, quota_settings(redis_url)) as edge,
        py.client() as a,
        edge.client() as b,
    ):
        statuses = [
            (await (a if i % 2 else b).get("/api/v1/facilities/resources", headers=h)).status_code for i in range(14)
        ]
        assert statuses.count(503) == 10 and statuses[10:] == [429] * 4, statuses
        r = await b.get("/api/v1/facilities/resources", headers={"Authorization": token("another", "student")})
        assert r.status_code == 503


async def test_a_compiled_front_without_its_quota_store_keeps_answering(
    settings: RuntimeSettings, token: TokenFactory
) -> None:
    h = {"Authorization": token("lonely-edge", "student")}
    gone = f"redis://127.0.0.1:{free_port()}/0"
    async with front("edge", settings, quota_settings(gone)) as f, f.client() as c:
        statuses = [(await c.get("/api/v1/facilities/resources", headers=h)).status_code for _ in range(12)]
        assert statuses == [503] * 10 + [429] * 2, statuses
        assert (await c.get("/healthz")).status_code == 200
