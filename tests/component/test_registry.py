"""The registry drives everything: each registered service is mounted by the embedded gateway, listed by
readiness, proxied in the distributed mode, runnable by the CLI, and its routes carry role rules and
cursor paging — tested per service, so a new service is covered without writing these again. A
throwaway service added with one registry line (its own folder, written by the fixture) is served."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from clustergrowth.auth import RuledRoute, current_principal
from clustergrowth.component import ServiceSpec
from clustergrowth.leanroute import LeanRoute
from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings
from instance import registry
from instance.app import create_app
from instance.cli import main as cli_main
from tests.conftest import TokenFactory, asgi_client

SPECS = registry.specs()


@pytest.fixture(scope="module")
def spec_doc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    settings = RuntimeSettings(data_dir=tmp_path_factory.mktemp("reg") / "data", seed_demo=False)
    yield create_app(settings, GatewaySettings(rate_limits=False)).openapi()


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_each_registered_service_is_mounted_with_rules_and_paging(spec: ServiceSpec, spec_doc: dict[str, Any]) -> None:
    ops = [
        (m, p, op)
        for p, item in spec_doc["paths"].items()
        if p.startswith(f"/api/v1/{spec.name}/")
        for m, op in item.items()
    ]
    assert len(ops) >= 3, spec.name
    assert all(op.get("x-roles") for _, _, op in ops), spec.name
    for method, path, op in ops:
        ok = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
        if method == "get" and ok.get("type") == "array":
            names = {p["name"] for p in op.get("parameters", [])}
            assert {"limit", "cursor"} <= names, path
    assert spec.component.roles() == {r for _, _, op in ops for r in op["x-roles"]}


def _api_routes(router: Any) -> Iterator[APIRoute]:
    for route in router.routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # FastAPI 0.165 keeps an included router as one lazy entry
            yield from _api_routes(route.original_router)


def _reaches_principal(dependency: Any) -> bool:
    return dependency.call is current_principal or any(map(_reaches_principal, dependency.dependencies))


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_each_registered_services_routes_check_the_token_first_and_solve_it_once(spec: ServiceSpec) -> None:
    """Its routes come from RuledRouters; on each one but a public route the first dependency FastAPI
    solves is the principal or a rule reading it (so no other dependency runs for a caller without a
    valid token), and ``current_principal`` is among its direct dependencies at most once."""
    routes = list(_api_routes(spec.component.router))
    assert routes, spec.name
    for route in routes:
        assert type(route) in (RuledRoute, LeanRoute), (spec.name, route.path)  # LeanRoute: the booking route
        direct = route.dependant.dependencies
        assert sum(d.call is current_principal for d in direct) <= 1, (spec.name, route.path)
        if (route.openapi_extra or {}).get("x-roles") != ["public"]:
            assert direct and _reaches_principal(direct[0]), (spec.name, route.path)


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_each_registered_service_is_proxied_and_runnable(spec: ServiceSpec) -> None:
    assert registry.upstream_urls(GatewaySettings())[spec.name] == f"http://127.0.0.1:{spec.port}"
    assert registry.upstream_urls(GatewaySettings(urls={spec.name: "http://x:1"}))[spec.name] == "http://x:1"
    with pytest.raises(SystemExit) as e:
        cli_main(["run", spec.name, "--help"])
    assert e.value.code == 0


async def test_readiness_lists_every_registered_service(settings: RuntimeSettings) -> None:
    async for client in asgi_client(create_app(settings, GatewaySettings(rate_limits=False))):
        checks = (await client.get("/readyz")).json()["checks"]
        assert set(checks) == {s.name for s in SPECS}


ECHO = """
from fastapi import APIRouter, Request

from clustergrowth.auth import CurrentPrincipal, allow
from clustergrowth.component import ServiceComponent
from clustergrowth.context import Context
from clustergrowth.settings import ServiceSettings

router = APIRouter()


class EchoSettings(ServiceSettings):
    database: str = "echo"


@router.get("/hello", **allow("any"))
async def hello(request: Request, who: CurrentPrincipal) -> dict[str, str]:
    return {"service": request.app.state.echo.service, "person": who.id}


class EchoService(ServiceComponent):
    name = "echo"
    router = router
    settings_class = EchoSettings
    events_topic = "echo.events"

    def __init__(self, settings, own=None, *, store=None, bus=None):
        super().__init__(settings, own, store=store, bus=bus)
        self.context = Context(self.store, settings.region, service="echo")


"""
ECHO_SPEC = """
from clustergrowth.component import ServiceSpec

SPEC = ServiceSpec("echo", port=8199, title="echo", component_path="echo_service.app:EchoService")
"""


@pytest.fixture
def echo_registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A throwaway service in its own folder, and the one registry line that adds it."""
    folder = tmp_path / "extra" / "echo_service"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "app.py").write_text(textwrap.dedent(ECHO))
    (folder / "spec.py").write_text(textwrap.dedent(ECHO_SPEC))
    monkeypatch.syspath_prepend(str(tmp_path / "extra"))
    monkeypatch.setattr(registry, "SERVICES", (*registry.SERVICES, "echo_service"))
    yield
    sys.modules.pop("echo_service.app", None)
    sys.modules.pop("echo_service.spec", None)
    sys.modules.pop("echo_service", None)


async def _client(settings: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(create_app(settings, GatewaySettings(rate_limits=False))):
        yield c


async def test_a_service_added_by_one_registry_line_is_served_proxied_and_runnable(
    echo_registered: None, settings: RuntimeSettings, token: TokenFactory
) -> None:
    assert "echo" in {s.name for s in registry.specs()}
    async for client in _client(settings):
        r = await client.get("/api/v1/echo/hello", headers={"Authorization": token("ann", "student")})
        assert r.status_code == 200 and r.json()["service"] == "echo", r.text
        assert (await client.get("/api/v1/echo/hello")).status_code == 401  # the kernel's identity applies
        assert "echo" in (await client.get("/readyz")).json()["checks"]
        assert "/api/v1/echo/hello" in (await client.get("/openapi.json")).json()["paths"]
    assert registry.upstream_urls(GatewaySettings())["echo"] == "http://127.0.0.1:8199"
    with pytest.raises(SystemExit) as e:
        cli_main(["run", "echo", "--help"])
    assert e.value.code == 0


def test_the_import_floors_hold_every_registered_service_to_independence(echo_registered: None) -> None:
    """The layer contract of ``make lint`` is written from the registry: a new service is in it."""
    from instance.layers import config

    modules = config().split("[importlinter:contract:services]")[1]
    assert all(f"\n    {m}" in modules for m in registry.SERVICES) and "echo_service" in modules
