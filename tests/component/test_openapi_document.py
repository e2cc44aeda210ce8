"""The API description as a client reads it: ``GET /openapi.json`` as raw text, parsed strictly (a key
twice in one object is an error: 401 beside "401" used to be written out twice), validated against the
OpenAPI 3.1 schema by a maintained validator, and keeping a route's own description of a status over
the generic one. For the embedded gateway, every service on its own, and the proxy's merged description."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from clustergrowth.errors import ERRORS
from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings
from gateway.describe import merge
from instance.app import create_app as gateway_app
from instance.registry import specs
from tests.backends import free_port
from tests.conftest import asgi_client
from tests.fronts import Served, front

BOOKINGS = "/api/v1/facilities/bookings"
SLOT_TAKEN = "the slot is taken; names the conflicting slot"


@pytest.fixture
def settings(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(data_dir=tmp_path / "data", seed_demo=False)


def strict_json(text: str) -> Any:
    """``json.loads`` that refuses an object naming a key twice (JSON allows it; readers keep either one)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"duplicate keys {twice} in an object with keys {keys}")
        return dict(items)

    return json.loads(text, object_pairs_hook=pairs)


def described(text: str) -> dict[str, Any]:
    """The checks every description passes; returns it parsed."""
    spec = strict_json(text)
    assert spec["openapi"].startswith("3.1")
    OpenAPIV31SpecValidator(spec).validate()  # raises with the first violation of the 3.1 schema
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            codes = list(op.get("responses", {}))
            assert codes, f"{method.upper()} {path}: no responses"
            assert all(c.isdigit() and len(c) == 3 for c in codes), f"{method.upper()} {path}: {codes}"
    return spec


def booking_conflict(spec: dict[str, Any]) -> dict[str, Any]:
    return dict(spec["paths"][BOOKINGS]["post"]["responses"]["409"])


async def fetch(app: Any) -> str:
    """The raw text of the app's ``/openapi.json``, over HTTP semantics with its lifespan run."""
    async with asynccontextmanager(asgi_client)(app) as client:
        r = await client.get("/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    return r.text


def test_strict_json_refuses_a_key_twice() -> None:
    with pytest.raises(ValueError, match=r"duplicate keys \['401'\]"):
        strict_json('{"responses": {"401": {}, "200": {}, "401": {}}}')


async def test_the_embedded_gateway_describes_every_status_once_and_keeps_the_specific_words(
    settings: RuntimeSettings,
) -> None:
    spec = described(await fetch(gateway_app(settings)))
    conflict = booking_conflict(spec)
    assert conflict["description"] == SLOT_TAKEN
    assert conflict["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert spec["paths"][BOOKINGS]["post"]["responses"]["401"]["description"] == ERRORS[401]
    api = [op for path, ops in spec["paths"].items() if path.startswith("/api/v1/") for op in ops.values()]
    assert len(api) >= 50
    public = 0
    for op in api:  # every /api/v1 operation lists every problem the front door answers, and the token
        if op["x-roles"] == ["public"]:  # but the few that anyone may call without one (allow(PUBLIC))
            assert op["security"] == []
            public += 1
        else:
            assert op["security"] == [{"bearer": []}]
        assert {str(s) for s in ERRORS} <= set(op["responses"])
    assert public == 4  # training's credential checks: keys, issuer, status list, verify


@pytest.mark.parametrize("service", [s.name for s in specs()])
async def test_each_service_on_its_own_describes_every_status_once(service: str, settings: RuntimeSettings) -> None:
    spec = described(await fetch(next(s for s in specs() if s.name == service).app(settings)))
    assert any(p.startswith(f"/api/v1/{service}/") for p in spec["paths"])
    if service == "facilities":
        assert booking_conflict(spec)["description"] == SLOT_TAKEN


async def test_the_proxy_merges_the_running_services_descriptions_without_a_key_twice(
    settings: RuntimeSettings,
) -> None:
    served = {s.name: Served(partial(s.app, settings), free_port()) for s in specs()}
    for svc in served.values():
        await svc.start()
    try:
        gw = GatewaySettings(urls={name: svc.url for name, svc in served.items()})
        async with front("python", settings, gw) as f, f.client() as client:
            r = await client.get("/openapi.json")
            assert r.status_code == 200
            spec = described(r.text)
    finally:
        for svc in served.values():
            await svc.stop()
    assert "x-missing-services" not in spec["info"]
    assert {p.split("/")[3] for p in spec["paths"]} == set(served)
    assert booking_conflict(spec)["description"] == SLOT_TAKEN


def test_a_route_s_own_description_wins_over_the_generic_one_when_merged() -> None:
    part = {
        "paths": {BOOKINGS: {"post": {"responses": {"201": {"description": "made"}, "409": {"description": "own"}}}}}
    }
    spec = merge("t", {"facilities": part})
    responses = spec["paths"][BOOKINGS]["post"]["responses"]
    assert responses["409"]["description"] == "own" and responses["404"]["description"] == ERRORS[404]
    assert all(isinstance(code, str) for code in responses)
