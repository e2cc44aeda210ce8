"""A route that calls its function without FastAPI's dependency solving when the request is well formed.

Why: on the booking route (``POST /api/v1/facilities/bookings``, the platform's busiest) FastAPI's own
request handling (reading the body, then ``solve_dependencies``: a nested solve of every dependency's
parameters, a dependency-cache key and a ``Callable`` alias made per request, four parameter-kind
passes, a sub-response) took about 200 µs of a booking's 1.3 ms in py-spy's samples of an in-process
driver, for a function that takes the caller, the request and one JSON body (bench.contention; docs/benchmarks.md).

What: a :class:`~clustergrowth.auth.RuledRoute` whose handler, for a request with a JSON Content-Type
(FastAPI's own test of it; an empty one is none), a body the route's own body field (FastAPI's
``ModelField``, through its ``TypeAdapter``, in the same mode FastAPI validates in) validates as orjson
reads the JSON text (stricter than the ``json.loads`` FastAPI reads bodies with: a BOM, UTF-16, a lone
surrogate or bytes that are not UTF-8 go to FastAPI, as does a body with 19 digits in a row, which orjson
may read as a float where ``json.loads`` reads an integer; a key twice is the last in both), and a token
``current_principal`` accepts, calls the function with those values directly. A refused token, once the
body is read and valid, is raised as FastAPI's handler raises it (so it is not verified twice). Anything
else — another Content-Type, an empty, unreadable or invalid body, dependency overrides in force (tests),
FastAPI's own body limit or telemetry switched on — goes to FastAPI's handler, built as usual, on the
same ``Request`` (its body read once, kept by Starlette): every refusal is FastAPI's own answer, in its
order (body errors before the token's, the token's before the body's validation).

Only a function of that one shape is accepted, and it must return a ``Response`` (nothing left for
FastAPI to serialise); another shape is refused when the route is built (for a route included under a
router: when FastAPI builds it, at its first request; an including router's dependencies make another
shape). The booking function takes its context from the app, not as a dependency, so
``dependency_overrides`` of that context do not reach it. ``tests/component/test_lean_route.py`` sends
the same requests, good and bad, to the route with and without this path and compares the answers.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import params
from fastapi.routing import _effective_route_context_var
from fastapi.telemetry._api import get_telemetry_data
from pydantic import TypeAdapter, ValidationError
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.requests import Request
from starlette.responses import Response

from clustergrowth.auth import RuledRoute, current_principal
from clustergrowth.strictjson import _DIGITS_AS_ZERO, content_type_of, is_json_content_type

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
_BEYOND_64_BITS = b"0" * 19  # orjson reads an integer of 19 digits or more as a float, json.loads as an int


def _returns_response(endpoint: Callable[..., Any]) -> bool:
    try:
        returned = typing.get_type_hints(endpoint).get("return")
    except (NameError, TypeError, AttributeError):  # an annotation that does not resolve: not provably a Response
        return False
    return isinstance(returned, type) and issubclass(returned, Response)


def _shape(route: Any) -> tuple[str, str | None, str] | None:
    """(principal parameter, request parameter or None, body parameter) when the route's function takes
    exactly the caller (``CurrentPrincipal``, nothing else to solve), optionally the request, and one JSON
    body that is not embedded; else None."""
    d = route.dependant
    if (
        d.path_params
        or d.query_params
        or d.header_params
        or d.cookie_params
        or len(d.body_params) != 1
        or len(d.dependencies) != 1
        or any(
            (
                d.websocket_param_name,
                d.http_connection_param_name,
                d.response_param_name,
                d.background_tasks_param_name,
                d.security_scopes_param_name,
            )
        )
        or route._embed_body_fields
        or route.body_field is None
        or isinstance(route.body_field.field_info, params.Form)
        or not inspect.iscoroutinefunction(d.call)
        or not _returns_response(d.call)
    ):
        return None
    sub = d.dependencies[0]
    if sub.call is not current_principal or sub.name is None or sub.dependencies or sub.body_params:
        return None
    if sub.path_params or sub.query_params or sub.header_params or sub.cookie_params:
        return None
    return sub.name, d.request_param_name, d.body_params[0].name


class LeanRoute(RuledRoute):
    """See the module's docstring. Use it for one route with ``route_class_override``."""

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        context = _effective_route_context_var.get()  # as FastAPI's own get_route_handler picks it
        route: Any = context if context is not None and context.original_route is self else self
        shape = _shape(route)
        if shape is None:
            raise TypeError(
                f"LeanRoute {self.path}: the function must take only CurrentPrincipal, optionally the Request, "
                "and one JSON body, and return a Response"
            )
        principal_name, request_name, body_name = shape
        call, field = route.dependant.call, route.body_field
        adapter = getattr(field, "_type_adapter", None)  # FastAPI's own TypeAdapter of the body's annotated field
        if not isinstance(adapter, TypeAdapter):
            raise TypeError(f"LeanRoute {self.path}: FastAPI's body field has no TypeAdapter (another FastAPI?)")

        async def handler(request: Request) -> Response:
            provider = route.dependency_overrides_provider
            overridden = provider is not None and bool(getattr(provider, "dependency_overrides", None))
            if overridden or MAX_BODY_SIZE_SCOPE_KEY in request.scope or get_telemetry_data() is not None:
                return await standard(request)
            content_type = content_type_of(request.scope)
            if not content_type or not is_json_content_type(content_type):  # FastAPI: an empty one is none
                return await standard(request)
            try:
                raw = await request.body()
            except Exception:  # noqa: BLE001 - FastAPI's handler meets the same failure and answers it its own way
                return await standard(request)
            if not raw or _BEYOND_64_BITS in raw.translate(_DIGITS_AS_ZERO):
                return await standard(request)
            try:  # FastAPI's own validation (python mode, from_attributes) of orjson's reading of the text
                body = adapter.validate_python(orjson.loads(raw), from_attributes=True)
            except (orjson.JSONDecodeError, ValidationError):  # FastAPI answers it its way
                return await standard(request)
            # body read and valid, so FastAPI's parser reads it too (orjson's is the stricter) and its
            # validation passes: a refused caller is its answer, raised as FastAPI's would be (the token
            # is not verified a second time)
            who = await current_principal(request)
            values: dict[str, Any] = {principal_name: who, body_name: body}
            if request_name is not None:
                values[request_name] = request
            response: Response = await call(**values)
            return response

        return handler
