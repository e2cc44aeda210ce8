"""The compiled front's own input: bad HTTP from clients and bad configuration."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings
from tests.fronts import front

CLI = str(Path(sys.executable).parent / "clustergrowth")


async def raw(url: str, data: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(65536), 5)
    writer.close()
    return answer


async def test_malformed_requests_get_a_problem_and_the_connection_closes(settings: RuntimeSettings) -> None:
    async with front("edge", settings, GatewaySettings()) as f:
        bad_line = await raw(f.url, b"NONSENSE\r\n\r\n")
        assert bad_line.startswith(b"HTTP/1.1 400 ") and b"application/problem+json" in bad_line
        absolute = await raw(f.url, b"GET http://elsewhere.example/api/v1/facilities/x HTTP/1.1\r\nHost: a\r\n\r\n")
        assert absolute.startswith(b"HTTP/1.1 400 ") and b"origin-form" in absolute
        huge = await raw(f.url, b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"x" * 70_000 + b"\r\n\r\n")
        assert huge.startswith(b"HTTP/1.1 431 ")
        both = b"POST /api/v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
        assert (await raw(f.url, both)).startswith(b"HTTP/1.1 400 ")  # ambiguous framing is never forwarded


def test_a_bad_configuration_refuses_to_start_naming_the_setting(tmp_path: Path) -> None:
    env = {**os.environ, "CG_DATA_DIR": str(tmp_path), "CG_GATEWAY_CORS_ORIGINS": '["*"]'}
    r = subprocess.run([CLI, "run", "edge", "--port", "1"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "cors_origins" in r.stderr and "never allowed" in r.stderr
    env = {**os.environ, "CG_DATA_DIR": str(tmp_path), "CG_GATEWAY_DESCRIBE_URL": "ftp://docs"}
    r = subprocess.run([CLI, "run", "edge", "--port", "1"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "describe_url" in r.stderr
