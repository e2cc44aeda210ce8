"""The route template a request is counted under in http_requests_total: the full path template, also
for routes included under routers' prefixes (since FastAPI 0.165 an included route keeps its own path)."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from prometheus_client.parser import text_string_to_metric_families

from clustergrowth.web import install_edge, route_template


def labelled(app: FastAPI, *paths: str) -> set[str]:
    """Request each path through the app, then read the route labels back from /metrics (not from the
    code under test)."""
    import asyncio

    async def go() -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            for p in paths:
                await c.get(p)
            return (await c.get("/metrics")).text

    text = asyncio.run(go())
    out = set()
    for family in text_string_to_metric_families(text):
        if family.name == "http_requests":
            out |= {s.labels["route"] for s in family.samples if s.name == "http_requests_total"}
    return out


def test_included_routes_are_counted_under_their_full_template() -> None:
    inner, outer, app = APIRouter(), APIRouter(), FastAPI()

    @inner.get("/{series_id}")
    def series(series_id: str) -> dict[str, str]:
        return {}

    @outer.get("/sites/{site_id}")
    def site(site_id: str) -> dict[str, str]:
        return {}

    @outer.get("/{thing_id}")
    def thing(thing_id: str) -> dict[str, str]:
        return {}

    outer.include_router(inner, prefix="/series")
    app.include_router(outer, prefix="/api/v1/zeta")
    other = APIRouter()

    @other.get("/{thing_id}")
    def other_thing(thing_id: str) -> dict[str, str]:
        return {}

    app.include_router(other, prefix="/api/v1/omega")
    install_edge(app, [])
    got = labelled(app, "/api/v1/zeta/sites/s-1", "/api/v1/zeta/series/x", "/api/v1/zeta/t", "/api/v1/omega/t")
    assert {
        "/api/v1/zeta/sites/{site_id}",
        "/api/v1/zeta/series/{series_id}",
        "/api/v1/zeta/{thing_id}",
        "/api/v1/omega/{thing_id}",
    } <= got
    assert "/{thing_id}" not in got and "/sites/{site_id}" not in got


def test_template_from_path_and_route() -> None:
    r = SimpleNamespace
    assert route_template("/api/v1/f/sites/abc", r(path_format="/sites/{site_id}")) == "/api/v1/f/sites/{site_id}"
    assert route_template("/healthz", r(path_format="/healthz")) == "/healthz"  # top level: nothing added
    assert route_template("/api/v1/f/", r(path_format="/")) == "/api/v1/f/"
    # a {x:path} route spans any number of segments: its own template
    assert route_template("/api/v1/a/b/c", r(path_format="/api/v1/{rest:path}")) == "/api/v1/{rest:path}"
    assert route_template("/x", None) == "unmatched"
    assert route_template("/x", r(path="/x")) == "/x"  # a Starlette route without path_format


def test_a_static_routes_template_is_kept_per_path_and_the_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from clustergrowth import web

    r = SimpleNamespace(path_format="/bookings")
    monkeypatch.setattr(web, "_templates", {})
    assert route_template("/api/v1/facilities/bookings", r) == "/api/v1/facilities/bookings"
    assert route_template("/api/v1/facilities/bookings", r) == "/api/v1/facilities/bookings"  # kept
    assert route_template("/api/v1/other/bookings", r) == "/api/v1/other/bookings"  # another path: its own
    assert route_template("/api/v1/f/sites/abc", SimpleNamespace(path_format="/sites/{site_id}")) == (
        "/api/v1/f/sites/{site_id}"
    )
    assert set(web._templates) == {
        ("/api/v1/facilities/bookings", "/bookings"),
        ("/api/v1/other/bookings", "/bookings"),
    }
    monkeypatch.setattr(web, "_CHILDREN_MAX", 3)
    for i in range(10):
        assert route_template(f"/api/v1/s{i}/bookings", r) == f"/api/v1/s{i}/bookings"
    assert len(web._templates) == 3
