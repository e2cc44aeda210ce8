"""The gateway in proxy mode (distributed): forwards to the service, keeps the request id, 503 when down."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import uvicorn

from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings, create_app
from services.facilities.app import create_app as facilities_app
from services.mapping.app import create_app as mapping_app
from tests.backends import free_port
from tests.conftest import TokenFactory, asgi_client


async def test_proxy_forwards_to_the_service_and_back(settings: RuntimeSettings, token: TokenFactory) -> None:
    fac = Served(lambda: facilities_app(settings), free_port())
    await fac.start()
    try:
        gateway = create_app(settings, GatewaySettings(mode="proxy", facilities_url=f"http://127.0.0.1:{fac.port}"))
        async for client in asgi_client(gateway):
            headers = {"Authorization": token("alice", "student"), "X-Request-ID": "trace-me-1"}
            r = await client.get(
                "/api/v1/facilities/resources", params={"kind": "hot_desk", "limit": 3}, headers=headers
            )
            assert r.status_code == 200 and len(r.json()) == 3
            assert r.headers["x-request-id"] == "trace-me-1" and 'rel="next"' in r.headers["link"]
            assert r.headers["x-content-type-options"] == "nosniff"
            r = await client.get("/api/v1/facilities/resources")
            assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
            p = await client.get("/api/v1/nosuchservice/x")
            assert p.status_code == 404 and p.headers["content-type"] == "application/problem+json"
            body = {"resource_id": "nope", "start": "2030-01-07T10:00:00Z", "end": "2030-01-07T11:00:00Z"}
            r = await client.post("/api/v1/facilities/bookings", json=body, headers=headers)
            assert r.status_code == 404 and r.json()["detail"]  # a body forwarded, a problem returned
            pool = gateway.state.upstreams["facilities"]
            assert len(pool.idle) == 1  # one keep-alive connection served every request above
    finally:
        await fac.stop()


async def test_proxy_answers_503_problem_when_the_service_is_down(settings: RuntimeSettings) -> None:
    gateway = create_app(settings, GatewaySettings(mode="proxy", facilities_url=f"http://127.0.0.1:{free_port()}"))
    async for client in asgi_client(gateway):
        r = await client.get("/api/v1/facilities/resources")
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert r.headers["content-type"] == "application/problem+json"
        assert "facilities" in r.json()["detail"]
        assert (await client.get("/healthz")).status_code == 200


class Served:
    """A fresh app from ``make`` served over real HTTP on a fixed port, in this event loop."""

    def __init__(self, make: Callable[[], Any], port: int) -> None:
        self.make, self.port = make, port
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.server = uvicorn.Server(uvicorn.Config(self.make(), host="127.0.0.1", port=self.port, log_level="warning"))
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            await self.task
        self.server = self.task = None


async def test_a_stopped_service_gets_503_at_once_while_the_others_answer(
    settings: RuntimeSettings, token: TokenFactory
) -> None:
    fac = Served(lambda: facilities_app(settings), free_port())
    mapping = Served(lambda: mapping_app(settings.model_copy(update={"seed_demo": False})), free_port())
    await fac.start()
    await mapping.start()
    gw = GatewaySettings(
        mode="proxy",
        facilities_url=f"http://127.0.0.1:{fac.port}",
        mapping_url=f"http://127.0.0.1:{mapping.port}",
        breaker_failures=2,
        breaker_cooldown_s=0.5,
    )
    h = {"Authorization": token("alice", "student")}
    desks, instruments = "/api/v1/facilities/resources", "/api/v1/mapping/instruments"
    try:
        async for client in asgi_client(create_app(settings, gw)):
            assert (await client.get(desks, headers=h)).status_code == 200
            spec = (await client.get("/openapi.json")).json()  # merged from the running services
            assert desks in spec["paths"] and instruments in spec["paths"]
            assert spec["paths"][desks]["get"]["security"] == [{"bearer": []}]
            assert spec["paths"][desks]["get"]["x-roles"] == ["any"]
            assert "application/problem+json" in spec["paths"][desks]["get"]["responses"]["503"]["content"]
            assert "x-missing-services" in spec["info"]  # matching is not running here
            assert "swagger" in (await client.get("/docs")).text.lower()
            await fac.stop()
            for _ in range(3):
                r = await client.get(desks, headers=h)
                assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
                assert int(r.headers["retry-after"]) >= 1
            upstreams = client._transport.app.state.upstreams  # type: ignore[attr-defined]
            assert upstreams["facilities"].breaker.state == "open"  # no more connection attempts
            assert (await client.get(instruments, headers=h)).status_code == 200
            assert (await client.get("/healthz")).status_code == 200
            spec = (await client.get("/openapi.json")).json()
            assert desks not in spec["paths"] and "facilities" in spec["info"]["x-missing-services"]
            await fac.start()  # back: after the cool-down one trial request closes the circuit
            await asyncio.sleep(0.6)
            assert (await client.get(desks, headers=h)).status_code == 200
            assert upstreams["facilities"].breaker.state == "closed"
    finally:
        await fac.stop()
        await mapping.stop()


async def test_a_hung_service_gets_504_after_its_route_timeout(settings: RuntimeSettings, token: TokenFactory) -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        await asyncio.sleep(30)  # accepts, reads, never answers

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    gw = GatewaySettings(mode="proxy", facilities_url=f"http://127.0.0.1:{port}", timeouts={"facilities": 0.3})
    try:
        async for client in asgi_client(create_app(settings, gw)):
            r = await client.get("/api/v1/facilities/resources", headers={"Authorization": token("a", "student")})
            assert r.status_code == 504 and r.headers["content-type"] == "application/problem+json"
    finally:
        server.close()
