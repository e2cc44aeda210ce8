"""The booking route's lean path (``clustergrowth.leanroute``) answers as FastAPI's own handler does.

Two instances on data folders of their own, the facilities clock fixed, get the same requests in the same
order: one as built, the other with a dependency override in force (an override of a function no route
uses: FastAPI's handler then serves every request, as the lean path leaves them to it). The oracle is
FastAPI's own answer: status, problem or booking, Content-Type and Location (booking ids, random, are
named by their order of appearance). FastAPI's ``solve_dependencies`` is counted, so the test also shows
which requests the lean path took (the well-formed ones) and that the other instance solved those.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import APIRouter, Query, Response

from clustergrowth.auth import CurrentPrincipal, DevIssuer, allow
from clustergrowth.leanroute import LeanRoute, _shape
from clustergrowth.settings import RuntimeSettings
from instance.app import create_app
from services.facilities.commands import BookResource
from tests.component.facilities_fixtures import API, NOW
from tests.conftest import asgi_client

DESK = "ork-rubicon-desk-1"
WED_10 = NOW + timedelta(days=2, hours=2)  # Wednesday 4 March 2026, 10:00 in Cork (UTC)


def slot(hour_from_10: int = 0, minutes: int = 60, resource: str = DESK) -> dict[str, str]:
    start = WED_10 + timedelta(hours=hour_from_10)
    end = start + timedelta(minutes=minutes)
    return {"resource_id": resource, "start": start.isoformat(), "end": end.isoformat()}


JSON = "application/json"
SLOT_6, SLOT_7 = json.dumps(slot(6)).encode(), json.dumps(slot(7)).encode()
# (name, who: "alice" | "none" | "bad", content type or None, body bytes, answered by the lean path: the
# function called, or the token's refusal raised, without FastAPI's dependency solving)
CASES: list[tuple[str, str, str | None, bytes, bool]] = [
    ("booked", "alice", JSON, json.dumps(slot(0)).encode(), True),
    ("the same slot again: 409", "alice", JSON, json.dumps(slot(0)).encode(), True),
    ("charset parameter", "alice", "application/json; charset=utf-8", json.dumps(slot(1)).encode(), True),
    ("a +json subtype", "alice", "application/vnd.booking+json", json.dumps(slot(2)).encode(), True),
    ("unknown resource: 404", "alice", JSON, json.dumps(slot(3, resource="no-such-desk")).encode(), True),
    ("end before start: 422 by the rules", "alice", JSON, json.dumps(slot(4, minutes=-30)).encode(), True),
    ("outside opening hours", "alice", JSON, json.dumps(slot(12)).encode(), True),
    ("no token", "none", JSON, json.dumps(slot(5)).encode(), True),
    ("a refused token", "bad", JSON, json.dumps(slot(5)).encode(), True),
    ("text/plain", "alice", "text/plain", json.dumps(slot(5)).encode(), False),
    ("no Content-Type", "alice", None, json.dumps(slot(5)).encode(), False),
    ("an empty Content-Type: none, to FastAPI", "alice", "", json.dumps(slot(5)).encode(), False),
    ("not JSON", "alice", JSON, b'{"resource_id": ', False),
    ("empty body", "alice", JSON, b"", False),
    ("an array", "alice", JSON, b"[]", False),
    ("a field missing", "alice", JSON, json.dumps({"resource_id": DESK, "start": slot(5)["start"]}).encode(), False),
    ("a field of the wrong type", "alice", JSON, json.dumps({**slot(5), "start": 5}).encode(), False),
    ("a field not in the command", "alice", JSON, json.dumps({**slot(5), "seats": 2}).encode(), False),
    ("no token and an invalid body: the token's answer, FastAPI's", "none", JSON, b"[]", False),
    ("no token and not JSON: the body's answer", "none", JSON, b"{", False),
    ("NaN: refused before the route", "alice", JSON, b'{"resource_id": NaN}', False),
    ("a byte-order mark: FastAPI's parser reads it, pydantic's not", "alice", JSON, b"\xef\xbb\xbf" + SLOT_6, False),
    ("a key twice: the last counts in both parsers", "alice", JSON, b'{"resource_id": "x", ' + SLOT_7[1:], True),
    ("19 digits in a row: to FastAPI", "alice", JSON, json.dumps({**slot(8), "resource_id": 10**30}).encode(), False),
    ("booked after all that", "alice", JSON, json.dumps(slot(5)).encode(), True),
]


@pytest.fixture
async def instances(tmp_path: Path) -> AsyncIterator[dict[str, tuple[httpx.AsyncClient, RuntimeSettings]]]:
    out: dict[str, tuple[httpx.AsyncClient, RuntimeSettings]] = {}
    clients = []
    for name in ("lean", "fastapi"):
        settings = RuntimeSettings(data_dir=tmp_path / name, region="IE05", seed_demo=True)
        app = create_app(settings)
        if name == "fastapi":
            app.dependency_overrides[_never_a_dependency] = _never_a_dependency
        gen = asgi_client(app)
        client = await gen.__anext__()
        app.state.facilities.clock = lambda: NOW
        clients.append(gen)
        out[name] = (client, settings)
    yield out
    for gen in clients:
        await gen.aclose()


def _never_a_dependency() -> None:
    """Overridden in the FastAPI-only instance: no route depends on it, so nothing else changes."""


def normalised(r: httpx.Response, ids: dict[str, str]) -> dict[str, Any]:
    def name_ids(text: str) -> str:
        return re.sub(r"[0-9a-f]{32}", lambda m: ids.setdefault(m.group(0), f"<id {len(ids)}>"), text)

    return {
        "status": r.status_code,
        "content-type": r.headers.get("content-type"),
        "location": name_ids(r.headers.get("location", "")),
        "body": name_ids(r.text),
    }


async def test_the_lean_path_answers_every_request_as_fastapi_does(
    instances: dict[str, tuple[httpx.AsyncClient, RuntimeSettings]], monkeypatch: pytest.MonkeyPatch
) -> None:
    solved: dict[str, int] = {"n": 0}
    original = fastapi.routing.solve_dependencies

    async def counting(*args: Any, **kwargs: Any) -> Any:
        solved["n"] += 1
        return await original(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    answers: dict[str, list[dict[str, Any]]] = {"lean": [], "fastapi": []}
    taken: list[bool] = []
    for name, who, content_type, body, lean in CASES:
        for instance in ("lean", "fastapi"):
            client, settings = instances[instance]
            headers = {} if content_type is None else {"Content-Type": content_type}
            if who == "alice":
                headers["Authorization"] = "Bearer " + DevIssuer(settings.data_dir).mint(
                    settings, "alice", ["student"], "IE05", "MTU"
                )
            elif who == "bad":
                headers["Authorization"] = "Bearer not.a.token"
            before = solved["n"]
            r = await client.post(f"{API}/bookings", content=body, headers=headers)
            if instance == "lean":
                taken.append(solved["n"] == before)
            elif lean:  # what the lean path takes, FastAPI's handler takes in the other instance
                assert solved["n"] > before, name
            answers[instance].append({"case": name, **normalised(r, {})})
    assert answers["lean"] == answers["fastapi"]
    # FastAPI's handler solves the dependencies of every request it serves, save those refused before that
    # (a body that is not JSON, by FastAPI's reading; NaN, by the strict-JSON middleware before the route)
    before_solving = {"not JSON", "no token and not JSON: the body's answer", "NaN: refused before the route"}
    assert taken == [lean or name in before_solving for name, *_, lean in CASES]
    statuses = [a["status"] for a in answers["lean"]]
    assert statuses[:3] == [201, 409, 201] and statuses[-1] == 201 and 401 in statuses and 422 in statuses


# Route functions of the shape test (module level: their string annotations resolve in these globals)
async def _with_query(who: CurrentPrincipal, body: BookResource, q: str = Query("")) -> Response:
    return Response()


async def _not_a_response(who: CurrentPrincipal, body: BookResource) -> dict[str, str]:
    return {}


async def _two_bodies(who: CurrentPrincipal, body: BookResource, other: BookResource) -> Response:
    return Response()


async def _fits(who: CurrentPrincipal, body: BookResource) -> Response:
    return Response()


def test_a_function_of_another_shape_is_refused_when_the_route_is_built() -> None:
    router = APIRouter()
    for endpoint in (_with_query, _not_a_response, _two_bodies):
        with pytest.raises(TypeError, match="LeanRoute"):
            router.add_api_route("/x", endpoint, methods=["POST"], route_class_override=LeanRoute, **allow("any"))
    router.add_api_route("/y", _fits, methods=["POST"], route_class_override=LeanRoute, **allow("any"))
    assert _shape(router.routes[-1]) == ("who", None, "body")
