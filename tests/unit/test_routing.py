"""The indexed route dispatch (clustergrowth/routing.py) against FastAPI's own linear one: for every
route of every service app, of the all-in-one app and of a small app holding the awkward kinds (mounts,
a host route, a websocket, nested and prefix-less includes, an empty path, a parameter inside a
segment, routes with their own ``matches``), and paths made from each route (trailing slash added or
dropped, shortened, lengthened, a segment changed, under a root path), the same route is picked at
every level with the same scope; requests nothing matches get the same answer (404, 405, redirect);
the routes and the OpenAPI document are the same as without the index."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, WebSocket
from fastapi.routing import APIRoute, _IncludedRouter, iter_route_contexts
from starlette.responses import PlainTextResponse
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from clustergrowth.routing import IndexedDispatch, IndexedIncludedRouter, RouteIndex, index_routes, literal_prefix
from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings
from instance.app import create_app
from instance.registry import specs

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")  # HEAD is GET's wherever GET is
SAMPLE = {
    "StringConvertor": "x1",
    "PathConvertor": "p/q",
    "IntegerConvertor": "7",
    "FloatConvertor": "1.5",
    "UUIDConvertor": "12345678-1234-5678-1234-567812345678",
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", ("",)),
        ("/a", ("a",)),
        ("/a/", ("a", "")),
        ("/a/b", ("a", "b")),
        ("/a/{x}", ("a",)),
        ("/a/{x}/b", ("a",)),
        ("/pre{x}", ()),
        ("/a/pre{x}/b", ("a",)),
        ("a/b", ()),
        ("", ()),
    ],
)
def test_literal_prefix_stops_at_the_first_segment_with_a_parameter(path: str, expected: tuple[str, ...]) -> None:
    assert literal_prefix(path) == expected


def test_candidates_are_the_routes_of_every_node_on_the_path_in_their_order() -> None:
    class R:
        def __init__(self, path: str) -> None:
            self.path_format = path

        def matches(self, scope: Scope) -> tuple[Match, Scope]:  # not a known matcher: tried everywhere
            return Match.NONE, {}

    from starlette.routing import Route

    async def ep(scope: Scope, receive: Receive, send: Send) -> None: ...

    routes: list[Any] = [Route(p, ep) for p in ("/a/{x}", "/b", "/a/b", "/a", "/")]
    odd = R("/a/b")
    routes.insert(2, odd)
    index = RouteIndex(routes)
    a_x, b, a_b, a, root = routes[0], routes[1], routes[3], routes[4], routes[5]
    assert index.candidates("/a/b") == (a_x, odd, a_b, a)
    assert index.candidates("/a/c") == (a_x, odd, a)
    assert index.candidates("/b/c") == (b, odd)
    assert index.candidates("/") == (odd, root)
    assert index.candidates("/zz") == (odd,)
    assert index.candidates("") == tuple(routes)  # not a path: everything, in order
    assert index.candidates("zz") == tuple(routes)


# --- the apps --------------------------------------------------------------------------------------


class Lowercase(APIRoute):
    """A route with its own matching (case-insensitive): the index cannot know it, so tries it always."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        return super().matches({**scope, "path": scope["path"].lower()})


def awkward_app() -> FastAPI:
    app = FastAPI()

    def ep(name: str) -> Any:
        async def endpoint() -> dict[str, str]:
            return {"at": name}

        endpoint.__name__ = name
        return endpoint

    app.add_api_route("/", ep("root"), methods=["GET"])
    app.add_api_route("/a", ep("a"), methods=["GET"])
    app.add_api_route("/a/", ep("a_slash"), methods=["POST"])
    app.add_api_route("/a/{x}", ep("a_x"), methods=["GET"])
    app.add_api_route("/a/{x}/b", ep("a_x_b"), methods=["DELETE"])
    app.add_api_route("/a/b", ep("a_b"), methods=["PUT"])  # for GET, /a/{x} matches in part before
    app.add_api_route("/files/{p:path}", ep("files"), methods=["GET"])
    app.add_api_route("/n/{i:int}", ep("n_int"), methods=["GET"])
    app.add_api_route("/pre{x}", ep("pre"), methods=["GET"])
    app.add_api_route("/t/{x}/", ep("t_slash"), methods=["GET"])
    app.router.add_api_route("/CaSe", ep("case"), methods=["GET"], route_class_override=Lowercase)

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse(f"mounted {scope['path']}")(scope, receive, send)

    app.mount("/static", asgi)
    app.host("example.org", asgi)

    async def ws(websocket: WebSocket) -> None:
        await websocket.close()

    app.add_api_websocket_route("/ws", ws)

    inner = APIRouter()
    inner.add_api_route("/deep/{z}", ep("deep"), methods=["GET"])
    inner.mount("/assets", asgi)
    r = APIRouter()
    r.add_api_route("", ep("r_root"), methods=["GET"])
    r.add_api_route("/{rid}", ep("r_id"), methods=["GET"])
    r.add_api_route("/{rid}", ep("r_id_delete"), methods=["DELETE"])
    r.add_api_route("/items/{rid}", ep("r_item"), methods=["POST"])
    r.include_router(inner, prefix="/n")
    app.include_router(r, prefix="/r")
    bare = APIRouter()
    bare.add_api_route("/q/{a}", ep("q"), methods=["GET"])
    app.include_router(bare)
    odd = APIRouter(route_class=Lowercase)
    odd.add_api_route("/Odd", ep("odd"), methods=["GET"])
    app.include_router(odd, prefix="/c")
    app.add_api_route("/late/{x}", ep("late"), methods=["PATCH"])  # after the includes
    return index_routes(app)


def service_apps(settings: RuntimeSettings) -> dict[str, FastAPI]:
    apps = {s.name: s.app(settings) for s in specs()}
    apps["all-in-one"] = create_app(settings, GatewaySettings(rate_limits=False))
    apps["awkward"] = awkward_app()
    return apps


def unindexed(app: FastAPI) -> FastAPI:
    """FastAPI's own dispatch back on an app built with the index (used before any request)."""
    dispatch = app.router.middleware_stack
    assert isinstance(dispatch, IndexedDispatch)
    app.router.middleware_stack = dispatch.linear
    return app


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FastAPI]:
    return service_apps(RuntimeSettings(data_dir=tmp_path_factory.mktemp("data"), seed_demo=False))


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FastAPI]:
    """The same apps with FastAPI's own dispatch."""
    made = service_apps(RuntimeSettings(data_dir=tmp_path_factory.mktemp("twins"), seed_demo=False))
    return {name: unindexed(app) for name, app in made.items()}


# --- paths -----------------------------------------------------------------------------------------


def concrete(fmt: str, convertors: dict[str, Any]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE[type(convertors[m.group(1)]).__name__], fmt)


def variants(path: str) -> set[str]:
    segments = path.split("/")[1:]
    out = {path, path + "/", path.rstrip("/") or "/", path + "/zz", "/" + "/".join([*segments[:-1], "zz"])}
    out |= {"/" + "/".join(segments[:n]) for n in range(len(segments))}
    out.add("/" + "/".join([segments[0].upper(), *segments[1:]]))
    return out


def paths_of(app: FastAPI) -> list[str]:
    made: set[str] = {"/", "/zz", "/api", "/api/v1", "/api/v1/", "/api/v1/zz"}
    for rc in iter_route_contexts(app.routes):
        fmt = rc.path_format
        if isinstance(fmt, str) and fmt.startswith("/"):
            made |= variants(concrete(fmt, rc.param_convertors))
    return sorted(made)


# --- the comparison ----------------------------------------------------------------------------------


def _included(routes: Any) -> Iterator[_IncludedRouter]:
    for r in routes:
        if isinstance(r, _IncludedRouter):
            yield r
            yield from _included(r.effective_candidates())


@contextmanager
def linear(app: FastAPI) -> Iterator[None]:
    """FastAPI's own included routers for a while (the index swapped their class)."""
    swapped = [r for r in _included(app.router.routes) if type(r) is IndexedIncludedRouter]
    for r in swapped:
        r.__class__ = _IncludedRouter
    try:
        yield
    finally:
        for r in swapped:
            r.__class__ = IndexedIncludedRouter


def http_scope(method: str, path: str, root_path: str = "") -> Scope:
    return {"type": "http", "method": method, "path": root_path + path, "root_path": root_path, "headers": []}


def levels(top: tuple[Match, Any, Scope] | None, scope: Scope) -> list[tuple[Any, ...]]:
    """What is picked at each level: the app's route, then inside each included router its candidate."""
    if top is None:
        return []
    match, route, child = top
    out: list[tuple[Any, ...]] = [(match, id(route), child)]
    while isinstance(route, _IncludedRouter):
        match, child, route, context = route._match(dict(scope))
        out.append((match, id(route), id(context), child))
    return out


def linear_select(app: FastAPI, scope: Scope) -> tuple[Match, Any, Scope] | None:
    """Starlette's rule, as FastAPI's APIRouter.app applies it: the first full match, else the first partial."""
    partial = None
    for route in app.router.routes:
        match, child = route.matches(dict(scope))
        if match == Match.FULL:
            return match, route, child
        if match == Match.PARTIAL and partial is None:
            partial = (match, route, child)
    return partial


def test_every_path_picks_the_same_route_at_every_level_as_the_linear_scan(apps: dict[str, FastAPI]) -> None:
    seen = {Match.FULL: 0, Match.PARTIAL: 0, Match.NONE: 0}
    for name, app in apps.items():
        dispatch = app.router.middleware_stack
        assert isinstance(dispatch, IndexedDispatch), name
        scopes = [
            http_scope(method, path, root_path)
            for path in paths_of(app)
            for method, root_path in [*((m, "") for m in METHODS), ("GET", "/base")]
        ]
        with linear(app):
            expected = [levels(linear_select(app, scope), scope) for scope in scopes]
        for scope, want in zip(scopes, expected, strict=True):
            assert levels(dispatch.select(dict(scope)), scope) == want, (name, scope)
            seen[want[-1][0] if want else Match.NONE] += 1
    assert all(n > 500 for n in seen.values()), seen  # full and partial matches and misses were all tried


def test_the_index_is_what_dispatches_and_it_tries_fewer_routes(apps: dict[str, FastAPI]) -> None:
    app = apps["all-in-one"]
    dispatch = app.router.middleware_stack
    assert isinstance(dispatch, IndexedDispatch)
    index = dispatch.index()
    assert all(type(r) is IndexedIncludedRouter for r in app.router.routes if isinstance(r, _IncludedRouter))
    last = [r for r in app.router.routes if isinstance(r, _IncludedRouter)][-1]
    assert index.candidates(last.include_context.prefix + "/zz") == (last,)  # not the 13 routes before it
    bookings = "/api/v1/facilities/bookings"
    facilities = next(r for r in app.router.routes if getattr(r, "include_context", None) and "facil" in str(r))
    inner = facilities._index().candidates(bookings)
    assert 0 < len(inner) < len(facilities.effective_candidates()) / 4


async def _answers(app: FastAPI, method: str, path: str) -> tuple[int, str, str, str, bytes]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        r = await client.request(method, path)
    rid = r.headers.get("x-request-id", "")
    body = r.content.replace(rid.encode(), b"<id>") if rid else r.content
    body = re.sub(rb'name="csrf" value="[^"]*"', b'name="csrf"', body)  # the web client's error page's token
    return (
        r.status_code,
        r.headers.get("location", ""),
        r.headers.get("allow", ""),
        r.headers.get("content-type", ""),
        body,
    )


async def test_requests_no_route_takes_fully_get_the_same_answer(
    apps: dict[str, FastAPI], twins: dict[str, FastAPI]
) -> None:
    """404s, 405s and redirects through the whole app, indexed and not (no handler runs for those)."""
    answered = 0
    for name in ("all-in-one", "awkward"):
        app, twin = apps[name], twins[name]
        # the all-in-one app's other paths go to the web client (web/) before they reach the API's routes
        for path in [p for p in paths_of(app) if name == "awkward" or p.startswith("/api")]:
            for method in ("GET", "POST"):
                with linear(app):
                    top = levels(linear_select(app, http_scope(method, path)), http_scope(method, path))
                if top and top[-1][0] == Match.FULL:
                    continue
                assert await _answers(app, method, path) == await _answers(twin, method, path), (name, method, path)
                answered += 1
    assert answered > 300, answered


async def test_a_route_added_after_the_first_request_is_found() -> None:
    app = awkward_app()
    assert (await _answers(app, "GET", "/later"))[0] == 404

    async def later() -> dict[str, str]:
        return {"at": "later"}

    app.add_api_route("/later", later, methods=["GET"])
    assert (await _answers(app, "GET", "/later"))[::4] == (200, b'{"at":"later"}')
    nested = APIRouter()
    nested.add_api_route("/v/{k}", later, methods=["GET"])
    next(r for r in app.router.routes if isinstance(r, _IncludedRouter)).original_router.include_router(nested)
    assert (await _answers(app, "GET", "/r/v/1"))[::4] == (200, b'{"at":"later"}')


async def test_the_routes_and_the_openapi_documents_are_those_without_the_index(
    apps: dict[str, FastAPI], twins: dict[str, FastAPI]
) -> None:
    for name, app in apps.items():
        routes = list(app.router.routes)
        for path in ("/", "/api/v1/facilities/bookings", "/zz", "/r/1"):
            await _answers(app, "GET", path)  # the index is built, the included routers' class swapped
        assert app.router.routes == routes, name
        app.openapi_schema = None
        assert app.openapi() == twins[name].openapi(), name
