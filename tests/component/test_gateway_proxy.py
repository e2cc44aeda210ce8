"""The distributed mode's front door (the compiled front; the Python gateway's proxy mode is gone, issue 20)
over real HTTP: forward and back on kept-alive connections, the request id, 503 at once when a
service is down while the others answer, 504 when one hangs."""

from __future__ import annotations

import asyncio

import pytest

from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings
from services.facilities.app import create_app as facilities_app
from services.mapping.app import create_app as mapping_app
from tests.backends import free_port
from tests.conftest import TokenFactory
from tests.fronts import FRONTS, Served, front

pytestmark = pytest.mark.parametrize("kind", FRONTS)
DESKS, INSTRUMENTS = "/api/v1/facilities/resources", "/api/v1/mapping/instruments"


async def test_proxy_forwards_to_the_service_and_back(
    kind: str, settings: RuntimeSettings, token: TokenFactory
) -> None:
    fac = Served(lambda: facilities_app(settings), free_port())
    await fac.start()
    try:
        async with front(kind, settings, GatewaySettings(urls={"facilities": fac.url})) as f, f.client() as client:
            before = await f.metric("gateway_upstream_connections_total", "facilities")
            headers = {"Authorization": token("alice", "student"), "X-Request-ID": "trace-me-1"}
            r = await client.get(DESKS, params={"kind": "hot_desk", "limit": 3}, headers=headers)
            assert r.status_code == 200 and len(r.json()) == 3
            assert r.headers["x-request-id"] == "trace-me-1" and 'rel="next"' in r.headers["link"]
            assert r.headers["x-content-type-options"] == "nosniff"
            nxt = r.headers["link"].split(">")[0].lstrip("<")  # the query string went through as it was
            assert (await client.get(nxt, headers=headers)).status_code == 200
            r = await client.get(DESKS, headers={"X-Request-ID": "bad id with spaces"})
            assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
            assert len(r.headers["x-request-id"]) == 32  # refused as given, made here
            p = await client.get("/api/v1/nosuchservice/x")
            assert p.status_code == 404 and p.headers["content-type"] == "application/problem+json"
            body = {"resource_id": "nope", "start": "2030-01-07T10:00:00Z", "end": "2030-01-07T11:00:00Z"}
            r = await client.post("/api/v1/facilities/bookings", json=body, headers=headers)
            assert r.status_code == 404 and r.json()["detail"]  # a body forwarded, a problem returned
            r = await client.head(DESKS, headers=headers)
            assert r.status_code == 405 and r.content == b""
            # one keep-alive connection served every request above
            assert await f.metric("gateway_upstream_connections_total", "facilities") == before + 1
    finally:
        await fac.stop()


async def test_proxy_answers_503_problem_when_the_service_is_down(kind: str, settings: RuntimeSettings) -> None:
    async with front(kind, settings, GatewaySettings(urls={"facilities": f"http://127.0.0.1:{free_port()}"})) as f:
        async with f.client() as client:
            r = await client.get(DESKS)
            assert r.status_code == 503 and r.headers["retry-after"] == "1"
            assert r.headers["content-type"] == "application/problem+json"
            assert "facilities" in r.json()["detail"]
            assert (await client.get("/healthz")).status_code == 200


async def test_a_stopped_service_gets_503_at_once_while_the_others_answer(
    kind: str, settings: RuntimeSettings, token: TokenFactory
) -> None:
    fac = Served(lambda: facilities_app(settings), free_port())
    mapping = Served(lambda: mapping_app(settings.model_copy(update={"seed_demo": False})), free_port())
    await fac.start()
    await mapping.start()
    gw = GatewaySettings(
        urls={"facilities": fac.url, "mapping": mapping.url}, breaker_failures=2, breaker_cooldown_s=0.5
    )
    h = {"Authorization": token("alice", "student")}
    try:
        async with front(kind, settings, gw) as f, f.client() as client:
            assert (await client.get(DESKS, headers=h)).status_code == 200
            spec = (await client.get("/openapi.json")).json()  # merged from the running services
            assert DESKS in spec["paths"] and INSTRUMENTS in spec["paths"]
            assert spec["paths"][DESKS]["get"]["security"] == [{"bearer": []}]
            assert spec["paths"][DESKS]["get"]["x-roles"] == ["any"]
            assert "application/problem+json" in spec["paths"][DESKS]["get"]["responses"]["503"]["content"]
            assert "x-missing-services" in spec["info"]  # matching is not running here
            docs = await client.get("/docs")
            assert "/docs/assets/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text  # no CDN
            assert "script-src 'self' 'sha256-" in docs.headers["content-security-policy"]  # the page's own
            assert (await client.get("/docs/assets/swagger-ui-bundle.js")).status_code == 200
            await fac.stop()
            loop = asyncio.get_running_loop()
            for _ in range(3):
                t0 = loop.time()
                r = await client.get(DESKS, headers=h)
                assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
                assert int(r.headers["retry-after"]) >= 1 and loop.time() - t0 < 1.0
            assert await f.metric("gateway_upstream_circuit_open", "facilities") == 1  # no more connection attempts
            assert (await client.get(INSTRUMENTS, headers=h)).status_code == 200
            assert (await client.get("/healthz")).status_code == 200
            spec = (await client.get("/openapi.json")).json()
            assert DESKS not in spec["paths"] and "facilities" in spec["info"]["x-missing-services"]
            await fac.start()  # back: after the cool-down one trial request closes the circuit
            await asyncio.sleep(0.6)
            assert (await client.get(DESKS, headers=h)).status_code == 200
            assert await f.metric("gateway_upstream_circuit_open", "facilities") == 0
    finally:
        await fac.stop()
        await mapping.stop()


async def test_a_hung_service_gets_504_after_its_route_timeout(
    kind: str, settings: RuntimeSettings, token: TokenFactory
) -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        await asyncio.sleep(30)  # accepts, reads, never answers

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    gw = GatewaySettings(urls={"facilities": f"http://127.0.0.1:{port}"}, timeouts={"facilities": 0.3})
    try:
        async with front(kind, settings, gw) as f, f.client() as client:
            r = await client.get(DESKS, headers={"Authorization": token("a", "student")})
            assert r.status_code == 504 and r.headers["content-type"] == "application/problem+json"
    finally:
        server.close()


async def test_a_streamed_answer_is_passed_on_as_it_comes(kind: str, settings: RuntimeSettings) -> None:
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    release = asyncio.Event()

    async def chunks():  # type: ignore[no-untyped-def]
        yield b"first,"
        await release.wait()
        yield b"second"

    async def feed(request):  # type: ignore[no-untyped-def]
        return StreamingResponse(chunks(), media_type="text/csv")

    svc = Served(lambda: Starlette(routes=[Route("/api/v1/facilities/feed", feed)]), free_port())
    await svc.start()
    try:
        async with front(kind, settings, GatewaySettings(urls={"facilities": svc.url})) as f, f.client() as client:
            async with client.stream("GET", "/api/v1/facilities/feed") as r:
                assert r.status_code == 200 and r.headers["transfer-encoding"] == "chunked"
                parts = r.aiter_raw()
                assert await asyncio.wait_for(anext(parts), 5) == b"first,"  # before the rest exists
                release.set()
                assert b"".join([c async for c in parts]) == b"second"
    finally:
        await svc.stop()


async def test_a_service_sees_the_peer_address_as_x_forwarded_for_and_nothing_the_client_said(
    kind: str, settings: RuntimeSettings
) -> None:
    """Both fronts drop the client's own X-Forwarded-For and set the address of the connection they
    answered: a client cannot make a service believe it comes from elsewhere."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def echo(request):  # type: ignore[no-untyped-def]
        return JSONResponse({"x-forwarded-for": request.headers.getlist("x-forwarded-for")})

    svc = Served(lambda: Starlette(routes=[Route("/api/v1/facilities/echo", echo)]), free_port())
    await svc.start()
    address = "127.0.0.21"  # not the loopback address the test's ASGI server trusts for proxy headers
    try:
        async with (
            front(kind, settings, GatewaySettings(urls={"facilities": svc.url})) as f,
            f.client(address) as client,
        ):
            r = await client.get("/api/v1/facilities/echo")
            assert r.status_code == 200 and r.json() == {"x-forwarded-for": [address]}
            told = [("X-Forwarded-For", "203.0.113.9"), ("x-forwarded-for", "198.51.100.1, 10.0.0.1")]
            for headers in (told[:1], told):
                r = await client.get("/api/v1/facilities/echo", headers=headers)
                assert r.status_code == 200 and r.json() == {"x-forwarded-for": [address]}, (headers, r.json())
    finally:
        await svc.stop()
