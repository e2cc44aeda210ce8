"""The gateway in proxy mode (distributed): forwards to the service, keeps the request id, 503 when down."""

from __future__ import annotations

import httpx

from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings, create_app
from services.facilities.app import create_app as facilities_app
from tests.conftest import TokenFactory, asgi_client


async def test_proxy_forwards_to_the_service_and_back(settings: RuntimeSettings, token: TokenFactory) -> None:
    service = facilities_app(settings)
    async with service.router.lifespan_context(service):
        upstream = httpx.ASGITransport(app=service)
        gateway = create_app(
            settings, GatewaySettings(mode="proxy", facilities_url="http://facilities"), transport=upstream
        )
        async for client in asgi_client(gateway):
            headers = {"Authorization": token("alice", "student"), "X-Request-ID": "trace-me-1"}
            r = await client.get(
                "/api/v1/facilities/resources", params={"kind": "hot_desk", "limit": 3}, headers=headers
            )
            assert r.status_code == 200 and len(r.json()) == 3
            assert r.headers["x-request-id"] == "trace-me-1"
            r = await client.get("/api/v1/facilities/resources")
            assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
            assert (await client.get("/api/v1/nosuchservice/x")).status_code == 404


async def test_proxy_answers_503_problem_when_the_service_is_down(settings: RuntimeSettings) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    gateway = create_app(settings, GatewaySettings(mode="proxy"), transport=httpx.MockTransport(refuse))
    async for client in asgi_client(gateway):
        r = await client.get("/api/v1/facilities/resources")
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert r.headers["content-type"] == "application/problem+json"
        assert "facilities" in r.json()["detail"]
        assert (await client.get("/healthz")).status_code == 200
