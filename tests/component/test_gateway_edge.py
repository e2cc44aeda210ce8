"""The compiled front's own input: bad HTTP from clients and bad configuration."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings
from services.facilities.app import create_app as facilities_app
from tests.backends import free_port
from tests.conftest import TokenFactory
from tests.fronts import Served, front

CLI = str(Path(sys.executable).parent / "clustergrowth")


async def raw(url: str, data: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(65536), 5)
    writer.close()
    return answer


async def until_closed(url: str, data: bytes) -> bytes:
    """Everything the front sends back until it closes the connection."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer


async def test_malformed_requests_are_refused_and_the_connection_closes(settings: RuntimeSettings) -> None:
    """What hyper's parser refuses gets hyper's own answer (a bare 400, 431 for a head too large: no
    problem body, hyper writes it before any rule runs) and the connection closes; what it leaves to the
    front's rules (Host, transfer codings, the head's size, the body) gets a problem+json."""
    async with front("edge", settings, GatewaySettings()) as f:
        bare = {
            "a request line that is none": b"NONSENSE\r\n\r\n",
            "two lengths": b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            "a signed length": b"POST /api/v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nabcd",
            "a folded line": b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
            "a space before the colon": b"GET /healthz HTTP/1.1\r\nHost : a\r\n\r\n",
            "a control character": b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
            "HTTP/1.0 with a transfer coding": b"POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        }
        for case, data in bare.items():
            answer = await until_closed(f.url, data)
            assert answer.startswith(b"HTTP/1.1 400 ") and answer.endswith(b"\r\n\r\n"), (case, answer)
        many = b"GET /healthz HTTP/1.1\r\nHost: a\r\n" + b"X-A: b\r\n" * 101 + b"\r\n"  # hyper: 100 fields
        assert (await until_closed(f.url, many)).startswith(b"HTTP/1.1 431 ")
        problems = {
            "no Host": (b"GET /healthz HTTP/1.1\r\n\r\n", 400, b"Host"),
            "two Hosts": (b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, b"Host"),
            "gzip, chunked": (
                b"POST /api/v1/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                400,
                b"only Transfer-Encoding: chunked",
            ),
            "a bad chunk size": (
                b"POST /api/v1/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                400,
                b"could not be read",
            ),
            "a head over 64 KiB": (
                b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"x" * 70_000 + b"\r\n\r\n",
                431,
                b"larger than 65536 bytes",
            ),
        }
        for case, (data, status, words) in problems.items():
            answer = await until_closed(f.url, data)
            assert answer.startswith(b"HTTP/1.1 %d " % status), (case, answer[:300])
            assert b"application/problem+json" in answer and words in answer, (case, answer[:600])
        # Content-Length and Transfer-Encoding together: read by the transfer coding alone and the
        # connection closed after the answer (RFC 9112 §6.1), so what follows is never read as a request
        smuggle = (
            b"POST /api/v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
        )
        answer = await until_closed(f.url, smuggle)
        assert answer.startswith(b"HTTP/1.1 404 ") and answer.count(b"HTTP/1.1 ") == 1, answer
        assert b"connection: close" in answer.lower()


async def test_framing_on_the_wire_chunked_bodies_pipelining_expect_and_http10(
    settings: RuntimeSettings, token: TokenFactory
) -> None:
    fac = Served(lambda: facilities_app(settings), free_port())
    await fac.start()
    auth = token("alice", "student").encode()
    booking = b'{"resource_id": "nope", "start": "2030-01-07T10:00:00Z", "end": "2030-01-07T11:00:00Z"}'
    try:
        async with front("edge", settings, GatewaySettings(urls={"facilities": fac.url})) as f:
            # a chunked body is read, re-framed with a length and reaches the service (which reads it:
            # the problem names the resource); the pipelined request behind it is answered in order
            chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (booking[:10], booking[10:])) + b"0\r\n\r\n"
            data = (
                b"POST /api/v1/facilities/bookings HTTP/1.1\r\nHost: a\r\nAuthorization: " + auth + b"\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                + chunked
                + b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
            )
            answer = await until_closed(f.url, data)
            first, _, second = answer.partition(b"HTTP/1.1 200 ")
            assert first.startswith(b"HTTP/1.1 404 ") and b"nope" in first
            assert b'{"status":"ok"}' in second and b"connection: close" in second.lower()
            assert b"\r\ndate: " in second.lower()  # the front's own answers are dated (RFC 9110)
            # Expect: 100-continue gets the go-ahead before the body is read
            expect = (
                b"POST /api/v1/facilities/bookings HTTP/1.1\r\nHost: a\r\nAuthorization: " + auth + b"\r\n"
                b"Content-Type: application/json\r\nExpect: 100-continue\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n" % len(booking)
            )
            host, port = f.url.removeprefix("http://").split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(expect)
            assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(booking)
            assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 404 ")
            writer.close()
            # an HTTP/1.0 client gets its answer, as HTTP/1.0 (hyper answers in the client's version, which
            # RFC 9110 §2.5 allows), delimited by the close that follows it
            old = await until_closed(
                f.url, b"GET /api/v1/facilities/resources?limit=1 HTTP/1.0\r\nAuthorization: " + auth + b"\r\n\r\n"
            )
            assert old.startswith(b"HTTP/1.0 200 ") and b"transfer-encoding" not in old.lower()
    finally:
        await fac.stop()


def test_a_bad_configuration_refuses_to_start_naming_the_setting(tmp_path: Path) -> None:
    env = {**os.environ, "CG_DATA_DIR": str(tmp_path), "CG_GATEWAY_CORS_ORIGINS": '["*"]'}
    r = subprocess.run([CLI, "run", "edge", "--port", "1"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "cors_origins" in r.stderr and "never allowed" in r.stderr
    env = {**os.environ, "CG_DATA_DIR": str(tmp_path), "CG_GATEWAY_DESCRIBE_URL": "ftp://docs"}
    r = subprocess.run([CLI, "run", "edge", "--port", "1"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "describe_url" in r.stderr
