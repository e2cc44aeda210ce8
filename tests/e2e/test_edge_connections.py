"""The compiled front's connections over real sockets (issue 20): a flood from one address stops at the
per-address cap with 503 while /healthz still answers; idle sockets beyond a low ``ulimit -n`` do not
stop /healthz; connections that send nothing are closed after the head deadline; absolute-form targets
are served; a head with bare LF line ends is answered at once; HTTP/2 without TLS (h2c) is spoken."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket

import httpx
import pytest

from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings
from tests.fronts import Front, front

PER_ADDRESS = 256  # the front's default cap per client address (gateway/edge/src/config.rs)


def host_port(f: Front) -> tuple[str, int]:
    host, port = f.url.removeprefix("http://").split(":")
    return host, int(port)


def opened(f: Front, n: int, source: str) -> list[socket.socket]:
    """``n`` connected sockets from ``source`` that send nothing."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(host_port(f), timeout=5, source_address=(source, 0))
        socks.append(s)
    return socks


def ask(s: socket.socket, head: bytes) -> bytes:
    """Sends ``head`` and reads until the front closes (5 s at most)."""
    s.settimeout(5)
    s.sendall(head)
    out = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := s.recv(65536):
            out += chunk
    return out


async def healthz(f: Front, address: str) -> int:
    async with f.client(address) as c:
        return (await c.get("/healthz")).status_code


async def test_a_flood_from_one_address_gets_503_past_its_cap_while_others_are_served(
    settings: RuntimeSettings,
) -> None:
    async with front("edge", settings, GatewaySettings()) as f:
        flood = opened(f, PER_ADDRESS, "127.0.0.31")  # exactly at the cap: all held
        try:
            # the cap +1: answered 503 problem+json with Retry-After, then closed
            over = socket.create_connection(host_port(f), timeout=5, source_address=("127.0.0.31", 0))
            answer = ask(over, b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
            over.close()
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503 "), answer[:200]
            assert b"retry-after: 1" in head.lower() and b"application/problem+json" in head
            assert "as many connections open as one client may" in json.loads(body)["detail"]
            assert await healthz(f, "127.0.0.32") == 200  # another address is served
            # one of the held connections is still served (the cap refuses, it does not close)
            assert ask(flood[0], b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").startswith(
                b"HTTP/1.1 200 "
            )
        finally:
            for s in flood:
                s.close()
        # the flood gone, the address is served again (the front counts closed connections out)
        for _ in range(100):
            if await healthz(f, "127.0.0.31") == 200:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the address stayed refused after its connections closed")


async def test_idle_sockets_beyond_a_low_file_limit_do_not_stop_healthz(settings: RuntimeSettings) -> None:
    """With ``ulimit -n 256`` (the cap becomes 256 - 96 = 160), 600 sockets that send nothing from three
    addresses: the longest idle make room for new ones, so /healthz is answered all along."""
    async with front("edge", settings, GatewaySettings(), limit_files=256) as f:
        held: list[socket.socket] = []
        try:
            for i in range(3):
                held += opened(f, 200, f"127.0.0.{41 + i}")
                assert await healthz(f, "127.0.0.49") == 200, f"after {len(held)} idle sockets"
            assert await healthz(f, "127.0.0.41") == 200
        finally:
            for s in held:
                s.close()


async def test_a_connection_that_sends_nothing_is_closed_after_the_head_deadline(settings: RuntimeSettings) -> None:
    async with front("edge", settings, GatewaySettings()) as f:
        (s,) = opened(f, 1, "127.0.0.51")
        s.settimeout(15)
        t0 = asyncio.get_running_loop().time()
        assert await asyncio.to_thread(s.recv, 1) == b""  # closed, nothing sent back
        waited = asyncio.get_running_loop().time() - t0
        s.close()
        assert 9 <= waited <= 14, waited  # HEAD_TIMEOUT is 10 s


async def test_absolute_form_targets_are_served_as_their_path(settings: RuntimeSettings) -> None:
    """RFC 9112 §3.2.2: a server MUST accept the absolute form; the target's path is what is routed."""
    async with front("edge", settings, GatewaySettings()) as f:
        with socket.create_connection(host_port(f), timeout=5) as s:
            answer = ask(s, b"GET http://elsewhere.example/healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b'{"status":"ok"}'), answer
        with socket.create_connection(host_port(f), timeout=5) as s:
            answer = ask(s, b"GET http://a/api/v1/nosuch/x?y=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 404 ") and b'no service \\"nosuch\\"' in answer, answer


async def test_a_head_with_bare_lf_line_ends_is_answered_at_once(settings: RuntimeSettings) -> None:
    """RFC 9112 §2.2: a recipient MAY recognize a single LF as a line terminator. hyper's parser (httparse)
    does, so the request is served (not held until a deadline, as the old front did for 10 s); it is
    safe because the front sends the service a request it writes itself, with CRLF."""
    async with front("edge", settings, GatewaySettings()) as f:
        with socket.create_connection(host_port(f), timeout=5) as s:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            answer = await asyncio.to_thread(ask, s, b"GET /healthz HTTP/1.1\nHost: a\nConnection: close\n\n")
            assert loop.time() - t0 < 3  # not the 10 s head deadline
        assert answer.startswith(b"HTTP/1.1 200 "), answer


async def test_http2_without_tls_is_spoken(settings: RuntimeSettings) -> None:
    async with front("edge", settings, GatewaySettings()) as f:
        transport = httpx.AsyncHTTPTransport(http1=False, http2=True)
        async with httpx.AsyncClient(transport=transport, base_url=f.url) as c:
            r = await c.get("/healthz")
            assert (r.http_version, r.status_code, r.json()) == ("HTTP/2", 200, {"status": "ok"})
            assert r.headers["x-content-type-options"] == "nosniff" and len(r.headers["x-request-id"]) == 32
            r = await c.get("/api/v1/nosuch/x")
            assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
