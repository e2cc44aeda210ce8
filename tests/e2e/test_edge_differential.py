"""Differential test of the compiled front against nginx (issue 20): the same malformed and edge-case
requests go to both, each proxying to its own recording upstream (h11 parses what arrives), and what
reaches the upstreams is compared: refused by both, or forwarded equivalently (method, target, body).
Where the two differ on purpose, the difference is written down below with its reason, and asserted
as written (a change either way fails the test)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import h11
import pytest

from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings
from tests.backends import free_port, provision
from tests.fronts import front

Seen = tuple[str, str, bytes]  # method, target, body as the upstream read them

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_max_body_size 1000000;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  large_client_header_buffers 4 64k;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://127.0.0.1:{upstream};
      proxy_http_version 1.1;
    }}
  }}
}}
"""

H = b"Host: a\r\n"
P = b"/api/v1/facilities/x"
CASES: dict[str, bytes] = {
    "plain GET": b"GET " + P + b"?q=1 HTTP/1.1\r\n" + H + b"\r\n",
    "POST with a length": b"POST " + P + b" HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n\r\nabc",
    "POST chunked": b"POST " + P + b" HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "two different Content-Lengths": b"POST "
    + P
    + b" HTTP/1.1\r\n"
    + H
    + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "Content-Length and Transfer-Encoding": b"POST "
    + P
    + b" HTTP/1.1\r\n"
    + H
    + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "a signed Content-Length": b"POST " + P + b" HTTP/1.1\r\n" + H + b"Content-Length: +3\r\n\r\nabc",
    "an obs-fold line": b"GET " + P + b" HTTP/1.1\r\n" + H + b"X-A: b\r\n c\r\n\r\n",
    "a bad chunk size": b"POST "
    + P
    + b" HTTP/1.1\r\n"
    + H
    + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "an overflowing chunk size": b"POST "
    + P
    + b" HTTP/1.1\r\n"
    + H
    + b"Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nabc\r\n0\r\n\r\n",
    "gzip, chunked": b"POST " + P + b" HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "absolute-form": b"GET http://elsewhere.example" + P + b"?q=2 HTTP/1.1\r\n" + H + b"\r\n",
    "huge header (70 kB)": b"GET " + P + b" HTTP/1.1\r\n" + H + b"X-Big: " + b"x" * 70_000 + b"\r\n\r\n",
    "an invalid method": b"G(T " + P + b" HTTP/1.1\r\n" + H + b"\r\n",
    "a NUL in a value": b"GET " + P + b" HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n",
    "a control character in the target": b"GET " + P + b"\x01 HTTP/1.1\r\n" + H + b"\r\n",
    "a space before the colon": b"GET " + P + b" HTTP/1.1\r\n" + H + b"X-A : b\r\n\r\n",
    "no Host": b"GET " + P + b" HTTP/1.1\r\n\r\n",
    "bare LF line ends": b"GET " + P + b" HTTP/1.1\n" + H.replace(b"\r\n", b"\n") + b"\n",
    "HTTP/1.0 with a transfer coding": b"POST " + P + b" HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "HTTP/2.0 in an HTTP/1 line": b"GET " + P + b" HTTP/2.0\r\n" + H + b"\r\n",
    "a body over the cap": b"POST " + P + b" HTTP/1.1\r\n" + H + b"Content-Length: 1000001\r\n\r\n",
}

# Both accept bare LF line ends (RFC 9112 §2.2 allows it; the service gets a request written with CRLF),
# and both refuse a space before a field's colon (§5.1), gzip before chunked (nginx 501, the front 400),
# and a 70 kB head (nginx 400, the front 431).
# What the two do differently on purpose, case by case: (front, nginx), each "refused" or "forwarded".
DIFFERENCES: dict[str, tuple[str, str, str]] = {
    "Content-Length and Transfer-Encoding": (
        "forwarded",
        "refused",
        "RFC 9112 §6.1 lets a server reject the message or read it by Transfer-Encoding alone and close the "
        "connection after it; hyper does the latter, nginx the former. Either way nothing after the body is "
        "read as another request, and the service gets the body hyper read (here empty) with its own length.",
    ),
}


class Recorder:
    """An HTTP/1.1 upstream that records each request it reads (by h11) and answers 200 ``ok``."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        method, target, body = "", "", b""
        with contextlib.suppress(ConnectionError, h11.ProtocolError, asyncio.IncompleteReadError):
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await reader.read(65536)
                    conn.receive_data(data)
                    if not data and conn.their_state is h11.IDLE:
                        break
                    continue
                if isinstance(event, h11.Request):
                    method, target, body = event.method.decode(), event.target.decode("latin-1"), b""
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    self.seen.append((method, target, body))
                    headers = [("content-length", "2"), ("content-type", "text/plain")]
                    writer.write(conn.send(h11.Response(status_code=200, headers=headers)) or b"")
                    writer.write(conn.send(h11.Data(data=b"ok")) or b"")
                    writer.write(conn.send(h11.EndOfMessage()) or b"")
                    await writer.drain()
                    if conn.our_state is h11.MUST_CLOSE:
                        break
                    conn.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed):
                    break
        writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def nginx_binary() -> str:
    """Debian's nginx, unpacked under .cache by ``deploy/native/provision.sh nginx`` (``make backends``)."""
    return provision("nginx")


@contextlib.asynccontextmanager
async def nginx(upstream: int, tmp: Path) -> AsyncIterator[int]:
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, upstream=upstream))
    proc = await asyncio.create_subprocess_exec(
        nginx_binary(), "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "error.log")
    )
    try:
        for _ in range(200):
            with contextlib.suppress(OSError):
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("nginx did not start")
        yield port
    finally:
        proc.terminate()
        async with asyncio.timeout(10):
            await proc.wait()


async def send(port: int, data: bytes) -> bytes:
    """Sends ``data`` on a new connection; what comes back until it closes or is quiet for 0.3 s (5 s for
    the first byte)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    out, wait = b"", 5.0
    with contextlib.suppress(TimeoutError, ConnectionError):
        while chunk := await asyncio.wait_for(reader.read(65536), wait):
            out, wait = out + chunk, 0.3
    writer.close()
    return out


async def observe(port: int, recorder: Recorder, data: bytes) -> tuple[str, list[Seen], bytes]:
    before = len(recorder.seen)
    answer = await send(port, data)
    await asyncio.sleep(0.05)  # the upstream records after it answers
    seen = recorder.seen[before:]
    return ("forwarded" if seen else "refused"), seen, answer


async def test_the_front_and_nginx_pass_on_the_same_requests(settings: RuntimeSettings, tmp_path: Path) -> None:
    ours, theirs = Recorder(), Recorder()
    await ours.start()
    await theirs.start()
    gw = GatewaySettings(urls={"facilities": f"http://127.0.0.1:{ours.port}"}, rate_limits=False)
    table = []
    try:
        async with front("edge", settings, gw) as f, nginx(theirs.port, tmp_path) as nginx_port:
            edge_port = int(f.url.rsplit(":", 1)[1])
            for case, data in CASES.items():
                a, a_seen, a_answer = await observe(edge_port, ours, data)
                b, b_seen, b_answer = await observe(nginx_port, theirs, data)
                table.append((case, a, b, a_answer[:12], b_answer[:12]))
                if case in DIFFERENCES:
                    expected = DIFFERENCES[case][:2]
                    assert (a, b) == expected, (case, a_answer[:300], b_answer[:300])
                else:
                    assert a == b, (case, a_answer[:300], b_answer[:300])
                if a == b == "forwarded":
                    assert a_seen == b_seen, (case, a_seen, b_seen)  # method, target and body alike
                if a == "refused":
                    assert a_answer[:12] in (b"HTTP/1.1 400", b"HTTP/1.1 413", b"HTTP/1.1 431", b""), (case, a_answer)
    finally:
        print("\n".join(f"{c:40} front={a:9} nginx={b:9} {x!r} {y!r}" for c, a, b, x, y in table))
        await ours.stop()
        await theirs.stop()
