"""The distributed mode's front door over real HTTP: the compiled front (``clustergrowth run edge``, built
from gateway/edge), which answers ``/api/v1`` and passes the description and docs to the Python gateway
(``clustergrowth run gateway`` with ``CG_GATEWAY_MODE=proxy``), started behind it here."""

from __future__ import annotations

import asyncio
import re
import resource
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

# httpcore before the services: pygal (councils dashboards) appends an import hook without find_spec,
# and httpcore's optional `import trio` reaching it is an ImportWarning (an error under pytest)
import httpcore  # noqa: F401
import httpx
import uvicorn

from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings
from gateway.front import edge_command
from instance.app import create_app
from instance.registry import upstream_urls
from tests.backends import free_port

# the fronts that answer /api/v1 (the Python gateway's proxy mode stopped being one: issue 20)
FRONTS = ["edge"]


QUOTA_ROOM_S = 15.0  # what a test of counted quotas may take: far above its few dozen requests


async def quota_window_with_room(window_s: int, room_s: float = QUOTA_ROOM_S) -> None:
    """Wait, when the current quota window (fixed, ``[k*window_s, (k+1)*window_s)`` of the wall clock) has
    less than ``room_s`` left, until the next one starts: a test that counts a quota down over several
    requests on a real front (whose clock cannot be set) then never sees the count start again mid-way."""
    left = window_s - time.time() % window_s
    if left < room_s:
        await asyncio.sleep(left + 0.05)


class Served:
    """A fresh app from ``make`` served over real HTTP on a fixed port, in this event loop."""

    def __init__(self, make: Callable[[], Any], port: int) -> None:
        self.make, self.port = make, port
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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


@dataclass
class Front:
    kind: str
    url: str

    def client(self, address: str = "127.0.0.1") -> httpx.AsyncClient:
        """A client whose requests come from ``address`` (any 127.x.y.z: the loopback answers them all)."""
        transport = httpx.AsyncHTTPTransport(local_address=address)
        return httpx.AsyncClient(transport=transport, base_url=self.url, timeout=10)

    async def metric(self, name: str, service: str) -> float:
        """One sample of the front's /metrics (0 if absent)."""
        async with self.client() as c:
            text = (await c.get("/metrics")).text
        m = re.search(rf'^{name}{{service="{service}"}} (\S+)$', text, re.M)
        return float(m.group(1)) if m else 0.0


@asynccontextmanager
async def front(
    kind: str, settings: RuntimeSettings, gw: GatewaySettings, limit_files: int | None = None
) -> AsyncIterator[Front]:
    """Start the compiled front with ``gw`` and the Python gateway behind it (``kind="edge"``), or the
    Python gateway alone (``kind="python"``: descriptions and docs only). ``limit_files``: the front's
    RLIMIT_NOFILE (as ``ulimit -n``)."""
    gw = gw.model_copy(update={"mode": "proxy"})
    python = Served(lambda: create_app(settings, gw), free_port())
    await python.start()
    if kind == "python":
        try:
            yield Front(kind, python.url)
        finally:
            await python.stop()
        return
    port = free_port()
    edge = gw.model_copy(update={"describe_url": python.url})
    command, env = edge_command(edge, upstream_urls(edge), "127.0.0.1", port, settings)

    def limit() -> None:
        if limit_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit_files, limit_files))

    proc = await asyncio.create_subprocess_exec(
        *command, env={**env, "CG_LOG_LEVEL": "WARNING"}, preexec_fn=limit if limit_files else None
    )
    try:
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as c:
            for _ in range(500):
                try:
                    if (await c.get(f"{url}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.01)
            else:
                raise RuntimeError(f"the compiled front did not start (exit code {proc.returncode})")
        yield Front(kind, url)
    finally:
        proc.terminate()
        async with asyncio.timeout(10):
            await proc.wait()
        await python.stop()
