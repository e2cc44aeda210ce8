"""What the facilities component tests share: the app with the service's clock fixed, the people who
book and manage, a meeting room bookable ten weeks ahead, and reading the service's own event topic.

Fixtures are imported by name where they are used (``from tests.component.facilities_fixtures import
alice``); a module that needs another one (its own clock, a person from another region) defines it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.settings import RuntimeSettings
from instance.app import create_app
from tests.conftest import TokenFactory, asgi_client

API = "/api/v1/facilities"
TOPIC = "facilities.events"  # this region's own topic (partners' replicas are <alias>.facilities.events)
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday 2 March 2026 08:00 UTC: Cork is on UTC in March


@pytest.fixture
async def app(settings: RuntimeSettings) -> AsyncIterator[FastAPI]:
    yield create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app through httpx's ASGI transport, the facilities service's clock fixed at ``NOW``."""
    async for c in asgi_client(app):
        app.state.facilities.clock = lambda: NOW
        yield c


@pytest.fixture
def alice(token: TokenFactory) -> dict[str, str]:
    return {"Authorization": token("alice", "student", region="IE05", org="MTU")}


@pytest.fixture
def bob(token: TokenFactory) -> dict[str, str]:
    return {"Authorization": token("bob", "academic", region="IE05", org="UCC")}


@pytest.fixture
def manager(token: TokenFactory) -> dict[str, str]:
    return {"Authorization": token("mgr", "facility_manager", org="Munster Technological University")}


@pytest.fixture
async def room(client: httpx.AsyncClient, manager: dict[str, str]) -> str:
    """A meeting room bookable 90 days ahead (the seeded ones: 30), so ten weeks fit its policy."""
    body = {"site_id": "ork-rubicon", "name": "Room Tuesday", "kind": "meeting_room", "policy": {"max_days_ahead": 90}}
    r = await client.post(f"{API}/resources", json=body, headers=manager)
    assert r.status_code == 201, r.text
    rid: str = r.json()["id"]
    return rid


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


async def events(settings: RuntimeSettings, name: str) -> list[dict[str, Any]]:
    """The data of every ``name`` event on this region's facilities topic, in log order."""
    bus = SqliteBus(settings.data_dir / "events.sqlite")
    try:
        return [e.data async for _, e in bus.read([TOPIC]) if e.name == name]
    finally:
        await bus.close()


async def wait_for_events(
    settings: RuntimeSettings,
    name: str,
    n: int,
    where: Callable[[dict[str, Any]], bool] = lambda data: True,
    timeout_s: float = 30.0,
) -> list[dict[str, Any]]:
    """The ``name`` events that ``where`` picks, once there are at least ``n`` of them; fails the test
    when they do not arrive within ``timeout_s`` (the relay publishes in the background)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        got = [e for e in await events(settings, name) if where(e)]
        if len(got) >= n:
            return got
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{len(got)} of {n} {name} events after {timeout_s}s")
        await asyncio.sleep(0.05)
