"""Route dispatch that does not grow with the number of routes.

FastAPI, like Starlette, finds a request's route by trying every route's regular expression in order,
and an included router's routes twice (once to match, once to handle it): in the all-in-one app a path
of the service mounted last went through ~180 expressions. Here the routes are indexed by the literal
segments their paths start with (``/api/v1/facilities/bookings``: api, v1, facilities, bookings;
``/sites/{site_id}``: sites) in a tree, and a request tries, in their original order, only the routes
whose literal segments its own path starts with. A route left out cannot match (its path begins with
a segment the request's does not have), so the first full match, else the first partial one (a 405),
is the linear scan's. When nothing matches, the app's own dispatch runs unchanged (trailing-slash
redirects, low-priority routes, 404). A route whose matching the index does not know (a ``Host``, a
subclass with its own ``matches``) is tried for every path. The routes, and so the OpenAPI document,
are not touched; FastAPI's own dispatch is what ``tests/unit/test_routing.py`` compares this with.

This leans on FastAPI's internals (``_IncludedRouter``, 0.165's lazily included routers; the version
is pinned by ``uv.lock``): its matching loop is repeated here over fewer candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.routing import (
    _FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY,
    _SCOPE_MISSING,
    APIRoute,
    APIRouter,
    APIWebSocketRoute,
    _apply_router_form_limits,
    _EffectiveRouteContext,
    _get_fastapi_scope,
    _IncludedRouter,
    _restore_fastapi_scope_key,
    _route_selected,
    _update_scope,
)
from starlette.routing import BaseRoute, Match, Mount, Route, WebSocketRoute, get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send

# the ``matches`` whose only test of the path is the route's own compiled ``path_format``
_PATH_MATCHES = {Route.matches, APIRoute.matches, Mount.matches, WebSocketRoute.matches, APIWebSocketRoute.matches}


def literal_prefix(path_format: str) -> tuple[str, ...]:
    """The segments every path a route matches starts with: those of its path before the first one
    holding a parameter (a segment with ``{`` anywhere counts as a parameter's, to be safe)."""
    if not path_format.startswith("/"):
        return ()
    out: list[str] = []
    for segment in path_format[1:].split("/"):
        if "{" in segment:
            break
        out.append(segment)
    return tuple(out)


def route_prefix(route: Any) -> tuple[str, ...]:
    """``literal_prefix`` of what ``route`` matches against, as FastAPI's dispatch tries it; () (tried
    for every path) for a route whose matching is not known here."""
    if isinstance(route, _IncludedRouter):
        if type(route.original_router).matches is not APIRouter.matches:
            return ()
        return _common([route_prefix(c) for c in route.effective_candidates()])
    if isinstance(route, _EffectiveRouteContext):
        original = route.original_route
        if isinstance(original, APIRoute):
            return literal_prefix(route.path_format) if type(original).matches is APIRoute.matches else ()
        return route_prefix(route.starlette_route) if route.starlette_route is not None else ()
    if type(route).matches in _PATH_MATCHES:
        return literal_prefix(getattr(route, "path_format", ""))
    return ()


def _common(prefixes: list[tuple[str, ...]]) -> tuple[str, ...]:
    if not prefixes:
        return ()
    first = prefixes[0]
    n = len(first)
    for p in prefixes[1:]:
        n = min(n, len(p))
        while first[:n] != p[:n]:
            n -= 1
    return first[:n]


class _Node:
    __slots__ = ("candidates", "children", "own")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.own: list[int] = []
        self.candidates: tuple[Any, ...] = ()


class RouteIndex:
    """Routes in a tree by their literal prefixes; each node keeps, in the routes' order, its own and
    its ancestors' routes: the candidates for a path are those of the deepest node it reaches."""

    def __init__(self, routes: Sequence[Any]) -> None:
        self.routes = tuple(routes)
        self.root = _Node()
        for i, route in enumerate(self.routes):
            node = self.root
            for segment in route_prefix(route):
                node = node.children.setdefault(segment, _Node())
            node.own.append(i)
        self._finish(self.root, [])

    def _finish(self, node: _Node, inherited: list[int]) -> None:
        mine = sorted([*inherited, *node.own])
        node.candidates = tuple(self.routes[i] for i in mine)
        for child in node.children.values():
            self._finish(child, mine)

    def candidates(self, route_path: str) -> tuple[Any, ...]:
        """The routes that may match ``route_path``, in their original order."""
        if not route_path.startswith("/"):
            return self.routes
        node = self.root
        for segment in route_path[1:].split("/"):
            child = node.children.get(segment)
            if child is None:
                break
            node = child
        return node.candidates


def _routers(router: APIRouter) -> list[APIRouter]:
    """The router and the routers included in it, at any depth, each once."""
    out: list[APIRouter] = []
    seen: set[int] = set()
    todo = [router]
    while todo:
        r = todo.pop()
        if id(r) not in seen:
            seen.add(id(r))
            out.append(r)
            todo.extend(x.original_router for x in r.routes if isinstance(x, _IncludedRouter))
    return out


def _versions(routers: list[APIRouter]) -> tuple[int, ...]:
    """What changes when a route is added to any of ``routers`` (FastAPI counts each router's changes),
    and the number of routes of the first, in case someone appends to its list without telling FastAPI."""
    return (len(routers[0].routes), *(r._routes_version for r in routers)) if routers else ()


class IndexedIncludedRouter(_IncludedRouter):
    """An included router (FastAPI's own, its class swapped) whose ``_match`` tries only its candidates
    for the request's path. No state of its own beyond the index, which follows FastAPI's list of
    effective candidates (rebuilt by FastAPI when routes are added)."""

    _cg_index: RouteIndex | None = None
    _cg_routers: list[APIRouter] = []
    _cg_key: tuple[int, ...] = ()

    def _index(self) -> RouteIndex:
        # FastAPI's effective_candidates() sums the versions of every route's router on each call (~3 us);
        # the versions of the few routers in this one's tree tell the same
        if self._cg_index is None or self._cg_key != _versions(self._cg_routers):
            candidates = self.effective_candidates()
            for c in candidates:
                if type(c) is _IncludedRouter:
                    c.__class__ = IndexedIncludedRouter
            self._cg_routers = _routers(self.original_router)
            self._cg_key = _versions(self._cg_routers)
            self._cg_index = RouteIndex(candidates)
        return self._cg_index

    def _match(self, scope: Scope) -> tuple[Match, Scope, BaseRoute | None, _EffectiveRouteContext | None]:
        # FastAPI 0.165's _IncludedRouter._match, over the index's candidates
        partial: tuple[Scope, BaseRoute, _EffectiveRouteContext | None] | None = None
        for candidate in self._index().candidates(get_route_path(scope)):
            route: BaseRoute
            if isinstance(candidate, _IncludedRouter):
                match, child_scope = candidate.matches(scope)
                route = candidate
                route_context = None
            elif isinstance(candidate.original_route, APIRoute):
                route_context = candidate
                fastapi_scope = _get_fastapi_scope(scope)
                previous = fastapi_scope.get(_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY, _SCOPE_MISSING)
                fastapi_scope[_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY] = route_context
                try:
                    match, child_scope = candidate.original_route.matches(scope)
                finally:
                    _restore_fastapi_scope_key(scope, _FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY, previous)
                route = candidate.original_route
            else:
                route_context = candidate
                match, child_scope = candidate.matches(scope)
                route = candidate.starlette_route or candidate.original_route
            if match == Match.FULL:
                return match, child_scope, route, route_context
            if match == Match.PARTIAL and partial is None:
                partial = (child_scope, route, route_context)
        if partial is not None:
            return Match.PARTIAL, partial[0], partial[1], partial[2]
        return Match.NONE, {}, None, None


class IndexedDispatch:
    """The app router's dispatch over the index's candidates; FastAPI's own (``linear``) for anything
    else: lifespan and websockets, and every request no route matches (redirects, low-priority routes,
    404), so those get exactly what they got before."""

    def __init__(self, router: APIRouter, linear: ASGIApp) -> None:
        self.router = router
        self.linear = linear
        self._routers: list[APIRouter] = []
        self._key: tuple[int, ...] | None = None
        self._index = RouteIndex(())

    def index(self) -> RouteIndex:
        """The index of the router's routes, rebuilt when they change (FastAPI counts the changes)."""
        if self._key != _versions(self._routers):
            routes = self.router.routes
            for route in routes:
                if type(route) is _IncludedRouter:
                    route.__class__ = IndexedIncludedRouter
            self._routers = _routers(self.router)
            self._key = _versions(self._routers)
            self._index = RouteIndex(routes)
        return self._index

    def select(self, scope: Scope) -> tuple[Match, BaseRoute, Scope] | None:
        """What FastAPI's scan of the routes picks for an HTTP request: the first route that matches in
        full, else the first that matches in part (path, not method), else None."""
        partial: tuple[Match, BaseRoute, Scope] | None = None
        for route in self.index().candidates(get_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match == Match.FULL:
                return match, route, child_scope
            if match == Match.PARTIAL and partial is None:
                partial = (match, route, child_scope)
        return partial

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.linear(scope, receive, send)
            return
        # FastAPI 0.165's APIRouter.app up to its fallbacks, over the index's candidates
        _apply_router_form_limits(scope, self.router.form_limits)
        if "router" not in scope:
            scope["router"] = self.router
        selected = self.select(scope)
        if selected is None:
            await self.linear(scope, receive, send)
            return
        _, route, child_scope = selected
        _update_scope(scope, child_scope)
        _route_selected(scope=scope, path=getattr(route, "path_format", None), mount=isinstance(route, Mount))
        await route.handle(scope, receive, send)


def index_routes(app: FastAPI) -> FastAPI:
    """Give ``app`` the indexed dispatch (routes added later are indexed on their first request)."""
    router = app.router
    linear = router.middleware_stack
    if getattr(linear, "__self__", None) is not router or getattr(linear, "__func__", None) is not APIRouter.app:
        raise RuntimeError("index_routes needs the app's router without middleware of its own")
    router.middleware_stack = IndexedDispatch(router, linear)
    return app
