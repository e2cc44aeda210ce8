"""Bounded inputs in the Python front: request heads refused while they arrive, or when they arrive
too slowly (a real ``clustergrowth run`` process, raw sockets, its memory read from /proc),
X-Forwarded-For believed only from trusted proxies, strict JSON bodies (non-finite numbers, deep
nesting) refused before any handler, through the embedded gateway and a standalone service, and
request bodies over the limit refused by a standalone service too."""

from __future__ import annotations

import asyncio
import codecs
import json
import math
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
import uvicorn
from fastapi import Body, FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st

from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings
from instance.app import create_app
from services.mapping.app import create_app as mapping_app
from tests.backends import free_port
from tests.conftest import asgi_client

CLI = str(Path(sys.executable).parent / "clustergrowth")
SMES = "/api/v1/mapping/smes"
MB = 1 << 20


# --- a real process ---------------------------------------------------------------------------------


@dataclass
class Process:
    pid: int
    port: int

    def rss(self) -> int:
        """Resident memory of the server process (VmRSS), in bytes."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


def read_all(s: socket.socket) -> bytes:
    """What the server sends until it closes (a reset after its answer ends it too)."""
    out = b""
    while True:
        try:
            data = s.recv(65536)
        except OSError:
            return out
        if not data:
            return out
        out += data


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            s.sendall(data)
        except OSError:  # refused and closed while we were still sending
            pass
        return read_all(s)


def parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict((k.lower(), v.strip()) for k, _, v in (h.partition(":") for h in lines[1:]))
    return int(lines[0].split(" ")[1]), headers, body


def refused(answer: bytes, status: int) -> dict[str, Any]:
    """``answer`` is a complete problem+json refusal with ``status`` that closes the connection."""
    got, headers, body = parse(answer)
    assert got == status, answer[:300]
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert len(body) == int(headers["content-length"])
    problem: dict[str, Any] = json.loads(body)
    assert problem["status"] == status and problem["title"] and problem["detail"]
    return problem


def get(port: int, target: str = "/healthz", fields: list[bytes] | None = None) -> bytes:
    """A GET with ``fields`` (each ``name:value``, no optional space) and Connection: close."""
    lines = [f"GET {target} HTTP/1.1".encode(), b"Host:t", *(fields or []), b"Connection:close", b"", b""]
    return exchange(port, b"\r\n".join(lines))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """``clustergrowth run`` (embedded gateway, SQLite) on a free loopback port."""
    yield from run_process(tmp_path_factory, {})


def run_process(tmp_path_factory: pytest.TempPathFactory, settings: dict[str, str]) -> Iterator[Process]:
    """``clustergrowth run`` with the default limits, or ``settings`` (environment variables)."""
    data = tmp_path_factory.mktemp("bounded")
    port = free_port()
    env = {**os.environ, "CG_DATA_DIR": str(data), "CG_SEED_DEMO": "false", "PORT": str(port)}
    for name in [k for k in env if k.startswith("CG_HTTP_") or k in ("CG_TRUSTED_PROXIES", "FORWARDED_ALLOW_IPS")]:
        del env[name]
    env.update(settings)
    with open(data / "server.log", "wb") as log:
        proc = subprocess.Popen([CLI, "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (data / "server.log").read_text()
            try:
                if parse(get(port))[0] == 200:
                    break
            except (OSError, IndexError, ValueError):
                pass
            assert time.monotonic() < deadline, "clustergrowth run did not answer /healthz"
            time.sleep(0.1)
        yield Process(proc.pid, port)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def grow_head(
    port: int, limit: int, chunk: int = 64 << 10, start: bytes = b"GET /healthz HTTP/1.1\r\nHost:t\r\nX-Grow:"
) -> tuple[int, bytes]:
    """Send ``start`` (by default: a request head), then a header value that never ends, ``chunk`` bytes
    at a time, until the server answers or closes or ``limit`` bytes are sent; then read the answer.
    Returns (bytes sent, answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(start)
        return grow(s, limit, chunk), read_all(s)


def grow(s: socket.socket, limit: int, chunk: int = 64 << 10) -> int:
    """Send ``x`` ``chunk`` bytes at a time until the server answers or closes or ``limit`` bytes are
    sent; the bytes sent."""
    sent, piece = 0, b"x" * chunk
    while sent < limit:
        if select.select([s], [], [], 0)[0]:  # an answer, or the close
            break
        try:
            s.sendall(piece)
        except OSError:
            break
        sent += chunk
    return sent


def test_a_head_growing_to_256_mb_is_refused_early_and_memory_stays_flat(server: Process) -> None:
    before = server.rss()
    highest = before
    for _ in range(4):  # as reported, four such requests took the process from 131 MB to 1.19 GB
        sent, answer = grow_head(server.port, 256 * MB)
        highest = max(highest, server.rss())
        problem = refused(answer, 431)
        assert "65536 bytes" in problem["detail"]
        assert sent < 16 * MB, f"{sent} bytes were sent before the answer"
    after = server.rss()
    assert max(highest, after) - before < 16 * MB, (before, highest, after)
    assert parse(get(server.port))[0] == 200


def test_too_many_header_fields_are_431_and_the_limit_itself_is_served(server: Process) -> None:
    # Host and Connection are two of the fields
    at_limit = [b"X-F%d:v" % i for i in range(98)]
    assert parse(get(server.port, fields=at_limit))[0] == 200
    problem = refused(get(server.port, fields=[*at_limit, b"X-One-More:v"]), 431)
    assert "more than 100 header fields" in problem["detail"]
    assert parse(get(server.port))[0] == 200


def test_a_long_request_line_is_414_at_one_byte_over(server: Process) -> None:
    def target(line_length: int) -> str:
        base = len("GET /healthz?p= HTTP/1.1")
        return "/healthz?p=" + "a" * (line_length - base)

    assert parse(get(server.port, target(8192)))[0] == 200
    problem = refused(get(server.port, target(8193)), 414)
    assert "8192 bytes" in problem["detail"]
    refused(get(server.port, target(1 * MB)), 414)
    assert parse(get(server.port))[0] == 200


def test_a_large_head_that_arrives_whole_is_431_at_one_byte_over(server: Process) -> None:
    def head_of(size: int) -> list[bytes]:
        fixed = len(b"GET /healthz HTTP/1.1\r\nHost:t\r\nConnection:close\r\n\r\n")
        fields: list[bytes] = []
        left = size - fixed
        while left > 0:
            value = min(left - len(b"X-Pad-00:\r\n"), 60000)
            fields.append(b"X-Pad-%02d:" % len(fields) + b"v" * value)
            left -= len(fields[-1]) + 2
        assert left == 0
        return fields

    assert parse(get(server.port, fields=head_of(65536)))[0] == 200
    refused(get(server.port, fields=head_of(65537)), 431)
    refused(get(server.port, fields=head_of(1 * MB)), 431)
    assert parse(get(server.port))[0] == 200


def test_the_limits_hold_for_later_requests_on_a_connection(server: Process) -> None:
    """A kept-alive connection: a request, then (pipelined in one write) a request with a body and
    a head that never ends; both requests are answered, then the head is refused."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost:t\r\n\r\n")
        first = s.recv(65536)
        assert parse(first)[0] == 200
        body = b"{}" + b" " * 200_000
        post = b"POST /healthz HTTP/1.1\r\nHost:t\r\nContent-Type:text/plain\r\nContent-Length:%d\r\n\r\n" % len(body)
        try:
            s.sendall(post + body + b"GET /healthz HTTP/1.1\r\nHost:t\r\nX-Grow:" + b"x" * (2 * MB))
        except OSError:
            pass
        answers = read_all(s)
    second, _, rest = answers.partition(b"HTTP/1.1 431 ")
    assert parse(second)[0] == 405, answers[:300]  # the POST was read whole and answered
    refused(b"HTTP/1.1 431 " + rest, 431)


# --- the rest of a chunked request: chunk lines and the trailer ---------------------------------------


@contextmanager
def peak_rss(process: Process) -> Iterator[list[int]]:
    """[resident memory before, the highest seen] while the block runs (sampled every 10 ms)."""
    seen = [process.rss()] * 2
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.01):
            seen[1] = max(seen[1], process.rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield seen
    finally:
        stop.set()
        sampler.join(5)
        seen[1] = max(seen[1], process.rss())


CHUNKED_GET = b"GET /healthz HTTP/1.1\r\nHost:t\r\nTransfer-Encoding:chunked\r\n\r\n"
CHUNKED_JSON_GET = CHUNKED_GET.replace(b"\r\n\r\n", b"\r\nContent-Type:application/json\r\n\r\n")


@pytest.mark.parametrize(
    "start",
    [
        pytest.param(CHUNKED_GET + b"0\r\nX-T:", id="trailer"),  # as reported
        pytest.param(CHUNKED_JSON_GET + b"5\r\nhello\r\n0\r\nX-T:", id="trailer-after-a-json-body"),
        pytest.param(CHUNKED_JSON_GET + b"5;ext=", id="chunk-extension"),
    ],
)
def test_a_trailer_or_chunk_line_growing_without_end_is_431_early_and_memory_stays_flat(
    server: Process, start: bytes
) -> None:
    """As reported: httptools held a trailer field whole while it arrived (RSS 118 → 467 MiB for
    178 MiB sent), growing it by concatenation (a concurrent /healthz took seconds). The bytes of a
    request that are not body count against the head limit."""
    with peak_rss(server) as rss:
        for _ in range(2):
            sent, answer = grow_head(server.port, 64 * MB, start=start)
            problem = refused(answer, 431)
            assert "65536 bytes" in problem["detail"]
            assert sent < 16 * MB, f"{sent} bytes were sent before the answer"
    assert rss[1] - rss[0] < 16 * MB, rss
    assert parse(get(server.port))[0] == 200


def test_a_body_at_the_limit_in_small_chunks_with_a_trailer_is_served(server: Process) -> None:
    """Chunk-size lines count against the head limit: with the defaults, 1 MB in chunks of 100 bytes
    (and a trailer) passes; the same body in chunks of 10 bytes does not."""

    def chunked(piece: int) -> bytes:
        body = b"".join(b"%x\r\n" % piece + b"d" * piece + b"\r\n" for _ in range(1_000_000 // piece))
        return CHUNKED_GET.replace(b"\r\n\r\n", b"\r\nConnection:close\r\n\r\n") + body + b"0\r\nX-T:1\r\n\r\n"

    assert parse(exchange(server.port, chunked(100)))[0] == 200
    problem = refused(exchange(server.port, chunked(10)), 431)
    assert "chunk-size lines" in problem["detail"]


def test_a_trailer_after_the_answer_is_cut_without_a_second_answer(server: Process) -> None:
    """A chunked GET over the body limit is answered 413 while its body arrives; its trailer then
    never ends: the connection is closed (the request was answered, there is nothing to add)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        size = 1_000_001
        s.sendall(CHUNKED_GET + b"%x\r\n" % size + b"d" * size + b"\r\n")
        problem = json.loads(parse(response(s))[2])
        assert problem["status"] == 413 and "larger than 1000000 bytes" in problem["detail"]
        s.sendall(b"0\r\nX-T:")
        sent = grow(s, 64 * MB)
        rest = read_all(s)
    assert sent < 16 * MB and rest == b"", (sent, rest[:200])
    assert parse(get(server.port))[0] == 200


# --- slow request heads -----------------------------------------------------------------------------

HEAD_TIMEOUT_S = 1.5  # the impatient server's; the clients below keep well away from it on either side
HEAD = b"GET /healthz HTTP/1.1\r\nHost:t\r\n\r\n"


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """``clustergrowth run`` that waits at most HEAD_TIMEOUT_S for a request head."""
    yield from run_process(tmp_path_factory, {"CG_HTTP_HEAD_TIMEOUT_S": str(HEAD_TIMEOUT_S)})


def trickle(s: socket.socket, data: bytes, gap_s: float) -> int:
    """Send ``data`` one byte every ``gap_s`` seconds until the server answers or closes; the bytes sent."""
    for i in range(len(data)):
        if select.select([s], [], [], gap_s)[0]:  # an answer, or the close
            return i
        try:
            s.sendall(data[i : i + 1])
        except OSError:
            return i
    return len(data)


def response(s: socket.socket) -> bytes:
    """One whole response (head and Content-Length body) read from a kept-alive connection."""
    out = b""
    while b"\r\n\r\n" not in out:
        data = s.recv(65536)
        assert data, f"closed after {out!r}"
        out += data
    _, headers, body = parse(out)
    while len(body) < int(headers["content-length"]):
        data = s.recv(65536)
        assert data, f"closed after {out!r}"
        out, body = out + data, body + data
    return out


def closed_without_answer(s: socket.socket) -> None:
    """The server closes the connection (within 20 s) and sends nothing before."""
    s.settimeout(20)
    assert s.recv(65536) == b""


def test_a_head_sent_a_byte_at_a_time_is_408_and_the_connection_closed(impatient: Process) -> None:
    # one byte every 0.3 s: the whole head would take 10 s, far past the deadline
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=30) as s:
        sent = trickle(s, HEAD, 0.3)
        answer = read_all(s)
    assert sent < len(HEAD), f"the whole head was sent and answered {answer[:100]!r}"
    problem = refused(answer, 408)
    assert problem["type"].endswith("/request-timeout")
    assert "1.5 s" in problem["detail"]
    # the same on a kept-alive connection, counted from the first byte of the later head
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=30) as s:
        s.sendall(HEAD)
        assert parse(response(s))[0] == 200
        sent = trickle(s, HEAD, 0.3)
        answer = read_all(s)
    assert sent < len(HEAD)
    refused(answer, 408)
    assert parse(get(impatient.port))[0] == 200


def test_steady_clients_are_served_and_the_deadline_is_per_head(impatient: Process) -> None:
    """Eight requests on one connection, each head sent in three pieces over about 0.2 s: the
    connection outlives the deadline, no head comes near it."""
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=30) as s:
        for _ in range(8):
            for piece in (HEAD[:4], HEAD[4:20], HEAD[20:]):
                s.sendall(piece)
                time.sleep(0.1)
            assert parse(response(s))[0] == 200


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(impatient: Process) -> None:
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=30) as s:
        closed_without_answer(s)
    assert parse(get(impatient.port))[0] == 200  # closed by the server's choice, not by its end


def test_an_idle_kept_alive_connection_is_left_to_the_keep_alive_timeout(impatient: Process) -> None:
    """Idle between requests is not a slow head: a pause longer than the head deadline (and well
    inside uvicorn's 5 s keep-alive) leaves the connection usable; idle on, it is closed by the
    keep-alive timeout, without a 408."""
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=30) as s:
        s.sendall(HEAD)
        assert parse(response(s))[0] == 200
        time.sleep(HEAD_TIMEOUT_S + 1)
        s.sendall(HEAD)
        assert parse(response(s))[0] == 200
        closed_without_answer(s)
    assert parse(get(impatient.port))[0] == 200


def test_a_trailer_sent_a_byte_at_a_time_is_408_and_a_steady_chunked_request_is_served(impatient: Process) -> None:
    """As reported, a trailer sent a byte a second held its connection for ever: the time from the
    last body byte to the end of the request is bounded like a head."""
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=30) as s:
        s.sendall(CHUNKED_JSON_GET + b"2\r\n{}\r\n")
        tail = b"0\r\nX-T:" + b"x" * 20 + b"\r\n\r\n"
        sent = trickle(s, tail, 0.3)
        answer = read_all(s)
    assert sent < len(tail), f"the whole trailer was sent and answered {answer[:100]!r}"
    problem = refused(answer, 408)
    assert "trailer" in problem["detail"] and "1.5 s" in problem["detail"]
    # each piece well inside the deadline: served, though the whole request takes longer than it
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=30) as s:
        for piece in (CHUNKED_JSON_GET, b"2\r\n{", b"}\r\n1\r\n ", b"\r\n0\r\n", b"X-T:1\r\n", b"\r\n"):
            s.sendall(piece)
            time.sleep(0.4)
        assert parse(response(s))[0] == 200
    assert parse(get(impatient.port))[0] == 200


def test_settings_bound_the_limits() -> None:
    from pydantic import ValidationError

    s = RuntimeSettings()
    assert (s.http_max_head_bytes, s.http_max_headers, s.http_max_request_line_bytes) == (65536, 100, 8192)
    assert (s.http_head_timeout_s, s.http_max_body_bytes) == (10, 1_000_000)
    assert s.trusted_proxies == []
    for bad in (
        {"http_head_timeout_s": 0},
        {"http_head_timeout_s": float("nan")},
        {"http_head_timeout_s": float("inf")},
        {"http_head_timeout_s": 3600},
        {"http_max_body_bytes": 100},
        {"http_max_head_bytes": 100},
        {"http_max_head_bytes": 64 * MB},
        {"http_max_headers": 0},
        {"http_max_request_line_bytes": 10},
        {"http_max_head_bytes": 8192, "http_max_request_line_bytes": 16384},
        {"trusted_proxies": ["*"]},
        {"trusted_proxies": ["proxy.example"]},
    ):
        with pytest.raises(ValidationError):
            RuntimeSettings(**bad)
    assert RuntimeSettings(trusted_proxies="10.1.2.3/8, ::1").trusted_proxies == ["10.0.0.0/8", "::1"]


# --- X-Forwarded-For --------------------------------------------------------------------------------


async def echo_client(scope: Any, receive: Any, send: Any) -> None:
    """An app that answers with the client address uvicorn gave it."""
    if scope["type"] != "http":
        return
    body = json.dumps(scope["client"][0]).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def serve(app: Any, runtime: RuntimeSettings) -> AsyncIterator[str]:
    """``app`` under uvicorn with the options ``clustergrowth run`` uses, in this event loop."""
    from clustergrowth.httpserver import uvicorn_options

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **uvicorn_options(runtime))
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_x_forwarded_for_is_believed_only_from_trusted_proxies(tmp_path: Path) -> None:
    spoof = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    async with serve(echo_client, RuntimeSettings(data_dir=tmp_path)) as url, httpx.AsyncClient() as c:
        assert (await c.get(url, headers=spoof)).json() == "127.0.0.1"  # uvicorn alone believes 127.0.0.1
    trusted = RuntimeSettings(data_dir=tmp_path, trusted_proxies=["127.0.0.0/8"])
    async with serve(echo_client, trusted) as url, httpx.AsyncClient() as c:
        assert (await c.get(url, headers=spoof)).json() == "203.0.113.9"


async def test_limits_follow_the_settings(tmp_path: Path) -> None:
    tight = RuntimeSettings(
        data_dir=tmp_path, http_max_head_bytes=4096, http_max_headers=16, http_max_request_line_bytes=1024
    )
    async with serve(echo_client, tight) as url, httpx.AsyncClient() as c:
        assert (await c.get(url, headers={f"x-{i}": "v" for i in range(10)})).status_code == 200
        r = await c.get(url, headers={f"x-{i}": "v" for i in range(20)})
        assert r.status_code == 431 and r.headers["content-type"] == "application/problem+json"
        assert (await c.get(url, headers={"x-big": "v" * 5000})).status_code == 431
        assert (await c.get(url + "/?" + "q" * 1100)).status_code == 414
        assert (await c.get(url)).status_code == 200


# --- strict JSON bodies -----------------------------------------------------------------------------


@pytest.fixture
def bare(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(data_dir=tmp_path / "data", seed_demo=False, relay_interval_s=0.05)


@pytest.fixture
def admin(bare: RuntimeSettings) -> dict[str, str]:
    from clustergrowth.auth import DevIssuer

    return {"Authorization": "Bearer " + DevIssuer(bare.data_dir).mint(bare, "ra", ["region_admin"], "IE05", None)}


@pytest.fixture
async def client(bare: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(create_app(bare)):
        yield c


def sme_text(turnover: str = "6000000", clusters: str = '["precision"]', name: str = "Rubicon Ltd") -> str:
    """A valid RegisterSME body as JSON text, with the turnover and clusters spelled as given."""
    return (
        f'{{"legal_name": {json.dumps(name)}, "country": "IE", "region": "IE05", "nuts3": "IE053",'
        f' "nace_primary": "C28.29", "headcount": 40, "turnover_eur": {turnover}, "balance_sheet_eur": 4e6,'
        f' "founded": 2009, "clusters": {clusters}, "councils": ["Cork"],'
        f' "contact": {{"name": "Aoife Example", "email": "aoife@example.org"}},'
        f' "consent": {{"lawful_basis": "consent"}}}}'
    )


def nested(levels: int) -> str:
    """``levels`` arrays, one inside the other, around a string."""
    return "[" * levels + '"x"' + "]" * levels


async def post(
    client: httpx.AsyncClient, headers: dict[str, str], text: str | bytes, content_type: str = "application/json"
) -> httpx.Response:
    body = text.encode() if isinstance(text, str) else text
    return await client.post(SMES, content=body, headers={**headers, "content-type": content_type})


def refused_body(r: httpx.Response, reason: str) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    errors = r.json()["errors"]
    assert [e["field"] for e in errors] == ["body"], errors
    assert reason in errors[0]["reason"], errors


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" * 400 + ".5"])
async def test_non_finite_numbers_are_422_naming_the_body_and_nothing_is_stored(
    client: httpx.AsyncClient, admin: dict[str, str], literal: str
) -> None:
    refused_body(await post(client, admin, sme_text(turnover=literal)), "non-finite number")
    refused_body(await post(client, admin, sme_text(turnover=literal), "application/json; charset=utf-8"), "non-finite")
    refused_body(await post(client, admin, sme_text(turnover=literal), "application/vnd.api+json"), "non-finite")
    utf16 = sme_text(turnover=literal).encode("utf-16")  # the framework reads UTF-16 JSON too
    refused_body(await post(client, admin, utf16), "non-finite number")
    assert (await client.get(SMES, headers=admin)).json() == []


async def test_an_unpaired_surrogate_is_422_naming_the_body_and_nothing_is_stored(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Python's JSON reads it into a str that is not Unicode text; the store's encoder (and BSON) refuse that."""
    refused_body(await post(client, admin, sme_text(name="Rubicon \ud800 Ltd")), "unpaired surrogate")
    assert (await client.get(SMES, headers=admin)).json() == []
    paired = await post(client, admin, sme_text(name="Rubicon \ud83d\ude00 Ltd"))
    assert paired.status_code == 201, paired.text
    assert paired.json()["legal_name"] == "Rubicon \U0001f600 Ltd"


JSON_SPELLINGS = [
    b"application/json\xa0",  # as reported: the framework strips it, the check used not to
    b"application/json\x85",
    b"application/json\t",
    b"\xa0application/json",
    b"application/json; charset=utf-8",
    b"application/json;",
    b"APPLICATION/JSON",
    b'Application/Json ; charset="utf-8"',
    b"application/vnd.x+json",
    b"application/json\x1c",
    None,  # no Content-Type: parsed as JSON where a route's strict_content_type is off
    b"",  # the same for the framework
]


@pytest.mark.parametrize("content_type", JSON_SPELLINGS, ids=repr)
async def test_every_spelling_the_framework_parses_as_json_is_checked(
    client: httpx.AsyncClient, admin: dict[str, str], content_type: bytes | None
) -> None:
    """As reported: ``application/json\\xa0`` made the check pass the body by while the framework
    parsed it, and ``1e999`` reached the store (500)."""
    headers = {b"authorization": admin["Authorization"].encode()}
    if content_type is not None:
        headers[b"content-type"] = content_type
    r = await client.post(SMES, content=sme_text(turnover="1e999").encode(), headers=headers)
    refused_body(r, "non-finite number")
    assert (await client.get(SMES, headers=admin)).json() == []


@pytest.mark.parametrize("content_type", [b"text/plain", b"application/jsonx", b"application/json, text/plain"])
async def test_a_body_the_framework_does_not_parse_as_json_is_left_to_it(
    client: httpx.AsyncClient, admin: dict[str, str], content_type: bytes
) -> None:
    headers = {b"authorization": admin["Authorization"].encode(), b"content-type": content_type}
    r = await client.post(SMES, content=sme_text(turnover="1e999").encode(), headers=headers)
    assert r.status_code == 422, r.text  # the framework's answer: the body is not the model
    assert "non-finite" not in r.text
    assert (await client.get(SMES, headers=admin)).json() == []


def _framework_app(strict: bool) -> Any:
    app = FastAPI(strict_content_type=strict)

    @app.post("/echo")
    async def echo(payload: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        return payload

    return app


_FRAMEWORK = {strict: _framework_app(strict) for strict in (True, False)}


def parsed_by_the_framework(content_type: bytes | None, strict: bool) -> bool:
    """Whether FastAPI itself parses a body with ``content_type`` as JSON: ``{}`` is taken as a dict
    only if it was."""
    headers = [] if content_type is None else [(b"content-type", content_type)]
    status, _ = asyncio.run(call(_FRAMEWORK[strict], "POST", "/echo", [*headers, (b"content-length", b"2")], [b"{}"]))
    assert status in (200, 422), status
    return status == 200


_TYPE_PIECES = [
    "application",
    "APPLICATION",
    "text",
    "/",
    "json",
    "+json",
    "vnd.x",
    ";",
    " charset=utf-8",
    "\t",
    "\xa0",
    "\x85",
    " ",
    ",",
    '"',
    "x",
    "\x00",
    "\x0b",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_TYPE_PIECES), max_size=6).map("".join))
def test_the_check_decides_json_exactly_as_the_framework(content_type: str) -> None:
    from clustergrowth.strictjson import is_json_content_type

    raw = content_type.encode("latin-1")
    framework = parsed_by_the_framework(raw, strict=True)
    assert framework == parsed_by_the_framework(raw, strict=False) or not raw  # they differ only without one
    assert is_json_content_type(raw) == (framework or not raw), raw


def test_without_a_content_type_the_check_covers_both_framework_settings() -> None:
    from clustergrowth.strictjson import is_json_content_type

    assert parsed_by_the_framework(None, strict=False) and not parsed_by_the_framework(None, strict=True)
    assert is_json_content_type(None)


@pytest.mark.parametrize(("depth", "refused"), [(31, False), (32, False), (33, True), (100_000, True)])
async def test_nesting_deeper_than_32_levels_is_422_naming_the_body(
    client: httpx.AsyncClient, admin: dict[str, str], depth: int, refused: bool
) -> None:
    # the body object is one level, so ``clusters`` holds depth - 1 levels
    text = sme_text(clusters=nested(depth - 1)) if depth < 1000 else nested(depth)
    r = await post(client, admin, text)
    if refused:
        refused_body(r, "nested deeper than 32 levels")
    else:  # not refused for its depth: the model says what is wrong with clusters
        assert r.status_code == 422, r.text
        assert {e["field"] for e in r.json()["errors"]} != {"body"}, r.text
    assert (await client.get(SMES, headers=admin)).json() == []


async def test_strict_bodies_are_still_served(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    """Finite exponents, the largest double, and NaN, Infinity and brackets inside strings pass."""
    name = "NaN Infinity 1e999 " + "[" * 40 + "{" * 40
    r = await post(client, admin, sme_text(turnover="1.7976931348623157e308", name=name))
    assert r.status_code == 201, r.text
    r = await post(client, admin, sme_text(turnover="6.5E+6", clusters=json.dumps(["c"] * 20), name="Second Ltd"))
    assert r.status_code == 201, r.text
    assert sorted(s["legal_name"] for s in (await client.get(SMES, headers=admin)).json()) == [name, "Second Ltd"]


async def test_a_standalone_service_refuses_them_too(bare: RuntimeSettings, admin: dict[str, str]) -> None:
    async for c in asgi_client(mapping_app(bare)):
        refused_body(await post(c, admin, sme_text(turnover="Infinity")), "non-finite number")
        refused_body(await post(c, admin, sme_text(clusters=nested(40))), "nested deeper than 32 levels")
        assert (await c.get(SMES, headers=admin)).json() == []


# --- request bodies -------------------------------------------------------------------------------


def padded(size: int, name: str = "Rubicon Ltd") -> bytes:
    """A valid RegisterSME body of exactly ``size`` bytes (white space after the object)."""
    text = sme_text(name=name).encode()
    assert len(text) <= size
    return text + b" " * (size - len(text))


async def streamed(body: bytes, piece: int = 500) -> AsyncIterator[bytes]:
    """``body`` in pieces, without a Content-Length (chunked)."""
    for i in range(0, len(body), piece):
        yield body[i : i + piece]


def too_large(r: httpx.Response, limit: int) -> None:
    assert r.status_code == 413, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 413 and f"larger than {limit} bytes" in problem["detail"], problem


async def test_a_standalone_service_refuses_a_body_over_the_limit_and_stores_nothing(
    bare: RuntimeSettings, admin: dict[str, str]
) -> None:
    json_type = {**admin, "content-type": "application/json"}
    limited = bare.model_copy(update={"http_max_body_bytes": 2048})
    async for c in asgi_client(mapping_app(limited)):
        too_large(await post(c, admin, padded(2049)), 2048)  # by Content-Length
        too_large(await c.post(SMES, content=streamed(padded(2049)), headers=json_type), 2048)  # while it streams
        too_large(await c.post(SMES, content=streamed(padded(10 * MB), 64 << 10), headers=json_type), 2048)
        assert (await c.get(SMES, headers=admin)).json() == []
        # at the limit, both ways, it is served
        assert (await post(c, admin, padded(2048))).status_code == 201
        r = await c.post(SMES, content=streamed(padded(2048, "Second Ltd")), headers=json_type)
        assert r.status_code == 201, r.text
        assert len((await c.get(SMES, headers=admin)).json()) == 2
    async for c in asgi_client(mapping_app(bare)):  # the default
        too_large(await post(c, admin, padded(1_000_001)), 1_000_000)
        r = await c.post(SMES, content=streamed(padded(1_000_001), 64 << 10), headers=json_type)
        too_large(r, 1_000_000)
        assert len((await c.get(SMES, headers=admin)).json()) == 2  # the two above, nothing more


def test_a_get_with_a_json_body_of_256_mb_is_413_early_and_memory_stays_flat(server: Process) -> None:
    """As reported: the body limit let GET, HEAD and OPTIONS by, and the strict-JSON check read a JSON
    body whole (RSS 181 → 628 MiB for one GET /healthz declaring 256 MiB, no token needed)."""
    head = b"GET /healthz HTTP/1.1\r\nHost:t\r\nContent-Type:application/json\r\nContent-Length:%d\r\n\r\n"
    with peak_rss(server) as rss:
        for _ in range(2):
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
                s.sendall(head % (256 * MB))
                sent = grow(s, 256 * MB)
                status, _, body = parse(response(s))
            assert status == 413 and "larger than 1000000 bytes" in json.loads(body)["detail"], body
            assert sent < 16 * MB, f"{sent} bytes were sent before the answer"
    assert rss[1] - rss[0] < 16 * MB, rss
    assert parse(get(server.port))[0] == 200


async def call(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], pieces: list[bytes], complete: bool = True
) -> tuple[int, int]:
    """``app`` called as uvicorn calls it, its body in ``pieces`` (then, unless ``complete``, the client
    leaves): (the status it answers, 0 if none, the body bytes it read)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"t"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    left, pulled, sent = list(pieces), 0, []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if not left:
            return {"type": "http.disconnect"}
        body = left.pop(0)
        pulled += len(body)
        return {"type": "http.request", "body": body, "more_body": bool(left) or not complete}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return (sent[0]["status"] if sent else 0), pulled


@pytest.mark.parametrize("mode", ["embedded", "proxy", "service"])
async def test_a_body_over_the_limit_is_413_whatever_the_method_and_nothing_reads_past_the_limit(
    bare: RuntimeSettings, mode: str
) -> None:
    """Any request that carries a body (a Content-Length, or chunked) is held to the limit, the
    gateway's own too; by Content-Length nothing of the body is read, chunked at most the limit and a
    piece."""
    if mode == "service":
        app, limit = mapping_app(bare.model_copy(update={"http_max_body_bytes": 2048})), 2048
    else:
        gw = GatewaySettings(mode=mode, max_body_bytes=4096)
        app, limit = create_app(bare.model_copy(update={"http_max_body_bytes": 8192}), gw), 4096
    json_type = [(b"content-type", b"application/json")]
    for path in ("/healthz", SMES):
        for method in ("GET", "HEAD", "OPTIONS", "DELETE", "POST"):
            for content_type in (json_type, [(b"content-type", b"text/plain")], []):
                over = [*content_type, (b"content-length", b"%d" % (limit + 1))]
                assert await call(app, method, path, over, [b" " * (limit + 1)]) == (413, 0), (method, path)
                chunked = [*content_type, (b"transfer-encoding", b"chunked")]
                status, pulled = await call(app, method, path, chunked, [b" " * 1000] * 20)
                assert status == 413 and pulled <= limit + 1000, (method, path, pulled)
    # at the limit, and without a body, the limit lets a request by
    at_limit = [*json_type, (b"content-length", b"%d" % limit)]
    assert await call(app, "GET", "/healthz", at_limit, [b" " * limit]) == (200, limit)
    assert await call(app, "GET", "/healthz", [], []) == (200, 0)
    chunked_at_limit = [*json_type, (b"transfer-encoding", b"chunked")]
    assert await call(app, "GET", "/healthz", chunked_at_limit, [b" " * (limit // 2)] * 2) == (200, limit)


@pytest.mark.parametrize("mode", ["embedded", "service"])
async def test_a_request_whose_client_left_during_its_body_reaches_no_handler(
    bare: RuntimeSettings, admin: dict[str, str], mode: str
) -> None:
    """What the app sees when the server refuses a request's trailer (or the client goes): its reads
    say ``http.disconnect``. The body limit used to hand on what had come as the whole body, and the
    handler stored it, though the client had been answered 408 or 431."""
    app = create_app(bare) if mode == "embedded" else mapping_app(bare)
    headers = [
        (b"authorization", admin["Authorization"].encode()),
        (b"content-type", b"application/json"),
        (b"transfer-encoding", b"chunked"),
    ]
    async for c in asgi_client(app):
        body = sme_text().encode()
        status, pulled = await call(app, "POST", SMES, headers, [body[:100], body[100:]], complete=False)
        assert pulled == len(body) and status != 201
        assert (await c.get(SMES, headers=admin)).json() == []
        assert await call(app, "POST", SMES, headers, [body[:100], body[100:]]) == (201, len(body))


async def test_the_strict_json_check_reads_no_body_outside_the_body_limit() -> None:
    from clustergrowth.strictjson import StrictJsonMiddleware

    async def never(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("reached")

    with pytest.raises(RuntimeError, match="inside BodyLimitMiddleware"):
        await call(StrictJsonMiddleware(never), "POST", "/", [(b"content-length", b"2")], [b"{}"])
    # without a body, or with one that is not JSON, there is nothing to read
    for headers in ([], [(b"content-type", b"text/plain"), (b"content-length", b"2")]):
        with pytest.raises(AssertionError, match="reached"):
            await call(StrictJsonMiddleware(never), "POST", "/", headers, [b"{}"])


@pytest.mark.parametrize("mode", ["embedded", "proxy"])
def test_the_gateway_keeps_its_own_body_limit_and_only_one(bare: RuntimeSettings, mode: str) -> None:
    from clustergrowth.bodylimit import BodyLimitMiddleware

    app = create_app(
        bare.model_copy(update={"http_max_body_bytes": 5000}), GatewaySettings(mode=mode, max_body_bytes=4096)
    )
    assert [m.kwargs["max_bytes"] for m in app.user_middleware if m.cls is BodyLimitMiddleware] == [4096]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", None),
        ("{}", None),
        ("not json [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ NaN", None),  # the framework answers for bad JSON
        ("[1e308, 1e-999, 2.5E+3]", None),
        ("1" * 400, None),  # an integer, not a double
        ("[1.8e308]", "non-finite"),
        ("[1E309]", "non-finite"),  # the exponent mark in capitals
        ("[" + "9" * 308 + ".0]", None),  # 308 digits: ~1e308, a double
        ("[" + "9" * 309 + ".0]", "non-finite"),  # 309 digits without an exponent: too large for a double
        ("[-" + "9" * 309 + ".5]", "non-finite"),
        ('{"a": [-Infinity]}', "non-finite"),
        ('{"NaN": "Infinity", "x": "1e999"}', None),
        ('{"a":' * 32 + "1" + "}" * 32, None),
        ('{"a":' * 33 + "1" + "}" * 33, "nested deeper"),
        ("[" * 32 + "]" * 32, None),
        ("[" * 33 + "]" * 33, "nested deeper"),
        ('["' + "[" * 100 + '"]', None),
        ("[" + "[]," * 1000 + "[]]", None),  # wide, not deep
        ("[" * 1_000_000, "nested deeper"),  # not JSON, but deeper than the interpreter goes
        ('{"a": "x", "b":-1e999}', "non-finite"),  # after a colon and a minus
        ("[1,\n 2E400]", "non-finite"),  # after a comma and whitespace
        ('{"resource_id": "res-30e5c1f2"}', None),  # hex digits in an id: not a number (not parsed)
        ("\ufeff1e999", "non-finite"),  # after a byte-order mark, which the framework's parser drops
        ("\ufeff -1E400", "non-finite"),
        ('"\\ud7ff \\ue000"', None),  # just outside the surrogates, either side
        ('"\\ud800"', "unpaired surrogate"),  # the first
        ('["\\uDFFF"]', "unpaired surrogate"),  # the last, in capitals
        ('{"\\udbff": 1}', "unpaired surrogate"),  # in a key
        ('"\\ud83d\\ude00"', None),  # a pair: one character (U+1F600)
        ('"\\ude00\\ud83d"', "unpaired surrogate"),  # the same two, the wrong way round
        ('"\\\\ud800"', None),  # an escaped backslash and the text "ud800"
        ('"Alcal\u00e1 \\u00e1"', None),
    ],
)
def test_body_problem(text: str, reason: str | None) -> None:
    from clustergrowth.strictjson import body_problem

    got = body_problem(text.encode())
    assert got is None if reason is None else (got is not None and reason in got), got


# the scan's rule as a regular expression: 309 digits in a row, or digits (with points, after a minus) that begin
# where a JSON number may (the start, whitespace, "[", ":" or ",") followed by an exponent's mark
_RISKY_NUMBER = re.compile(rb"(?<!\d)\d{309}|(?:\A|[ \t\r\n\[:,])-?[0-9.]*[0-9][eE]")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.integers(0, 255).map(lambda b: bytes([b]))  # every byte value
        | st.sampled_from([bytes([c]) for c in b"0123456789eE"])  # digits and exponent marks, often
        | st.sampled_from([bytes([c]) for c in b"-.:,[ \t\r\nax"])  # what may come before a number, or not
        | st.sampled_from([b"5" * 307, b"3" * 308, b"8" * 309]),  # runs just under, at and over the limit
        max_size=24,
    ).map(b"".join)
)
def test_the_number_scan_is_the_regular_expression(body: bytes) -> None:
    """Digits read as one, substring tests and a walk back from each digit before an exponent's mark find
    exactly what the regular expression finds."""
    from clustergrowth.strictjson import _risky_number

    assert _risky_number(body) == (_RISKY_NUMBER.search(body.removeprefix(codecs.BOM_UTF8)) is not None), body


_exponent_numbers = st.builds(
    lambda sign, mantissa, mark, exponent: f"{sign}{mantissa}{mark}{exponent}",
    st.sampled_from(["", "-"]),
    st.sampled_from(["0", "1", "9.5", "12.25", "4" * 20]),
    st.sampled_from(["e", "E", "e+", "E-", "e-"]),
    st.integers(0, 420),
)
_members = st.one_of(
    _exponent_numbers,
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(['"res-30e5c1f2"', '"a 1e999"', '"x:2E400"', "true", "null"]),  # numbers inside text: not numbers
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["", " ", "\n", "\t", "\r\n "]), _members), min_size=1, max_size=6),
    st.booleans(),
    st.booleans(),
)
def test_an_overflowing_number_is_refused_wherever_it_stands(
    items: list[tuple[str, str]], bom: bool, obj: bool
) -> None:
    """The framework's own parser is the oracle: the body is refused exactly when json.loads reads an infinity."""
    from clustergrowth.strictjson import body_problem

    parts = [f"{space}{member}{space}" for space, member in items]
    text = "{" + ",".join(f'"k{i}":{p}' for i, p in enumerate(parts)) + "}" if obj else "[" + ",".join(parts) + "]"
    body = (codecs.BOM_UTF8 if bom else b"") + text.encode()
    doc = json.loads(body)
    values = doc.values() if obj else doc
    overflows = any(isinstance(v, float) and math.isinf(v) for v in values)
    got = body_problem(body)
    assert (got is not None and "non-finite" in got) if overflows else got is None, body


_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(alphabet='[]{}"\\aN1e', max_size=5)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=12,
)


def _depth(doc: Any) -> int:
    if isinstance(doc, dict):
        return 1 + max(map(_depth, doc.values()), default=0)
    if isinstance(doc, list):
        return 1 + max(map(_depth, doc), default=0)
    return 0


def _finite(doc: Any) -> bool:
    if isinstance(doc, dict):
        return all(map(_finite, doc.values()))
    if isinstance(doc, list):
        return all(map(_finite, doc))
    return not isinstance(doc, float) or (doc == doc and abs(doc) != float("inf"))


@settings(max_examples=300, deadline=None)
@given(_json, st.integers(min_value=0, max_value=40))
def test_body_problem_matches_the_rule(doc: Any, wrap: int) -> None:
    """Refused exactly when the document holds a non-finite number or nests deeper than 32 levels."""
    from clustergrowth.strictjson import body_problem

    for _ in range(wrap):
        doc = [doc]
    got = body_problem(json.dumps(doc).encode())
    if not _finite(doc):
        assert got is not None and "non-finite" in got
    elif _depth(doc) > 32:
        assert got is not None and "nested deeper" in got
    else:
        assert got is None
