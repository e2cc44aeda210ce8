"""RFC 9457 problem+json responses: one error shape for every service and the gateway."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from clustergrowth.problems import Problem, Unprocessable

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("clustergrowth.errors")

__all__ = ["ERRORS", "PROBLEM_JSON", "Problem", "install_problem_handlers", "problem_response", "problem_responses"]

ERRORS = {
    400: "malformed request",
    401: "no token, or a token that is not valid here",
    403: "the caller's roles do not allow this (see x-roles)",
    404: "no such object, or not one the caller may see",
    409: "conflicts with the current state",
    412: "If-Match does not name the object's current ETag",
    413: "request body too large",
    422: "invalid input; `errors` names each field and the reason",
    428: "an update of a shared object needs If-Match",
    429: "over quota; see Retry-After and RateLimit",
    503: "the service is unavailable; see Retry-After",
    504: "the service did not answer in time",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for problem+json errors, for a router or a route. Keyed by the status as
    a string, as OpenAPI keys them: every ``responses`` dict in the project uses string keys, so that a
    route's own description of a status replaces its router's (FastAPI merges them key by key, and 409
    and "409" would both be kept and both written out)."""
    return {str(s): {"description": ERRORS[s], "content": {PROBLEM_JSON: {}}} for s in statuses}


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    headers = {}
    if problem.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="clustergrowth"'
    if problem.retry_after is not None:
        headers["Retry-After"] = str(problem.retry_after)
    elif problem.status == 503:
        headers["Retry-After"] = "1"
    return JSONResponse(
        problem.to_dict(request.url.path if request else None),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _loc_to_field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "body")


def _field_error(e: Any) -> dict[str, Any]:
    """One validation error as the API reports it: the field, the reason in English, and the validator's
    ``code`` (pydantic's error type, e.g. ``string_too_long``) with its numeric or textual ``limits``
    (e.g. ``{"max_length": 200}``), so a client can say it in its person's language."""
    ctx = e.get("ctx") or {}
    # a validator's own sentence, without pydantic's "Value error, " in front of it
    reason = str(ctx["error"]) if e["type"] == "value_error" and ctx.get("error") else e["msg"]
    out: dict[str, Any] = {"field": _loc_to_field(tuple(e["loc"])), "reason": reason, "code": e["type"]}
    limits = {k: v for k, v in ctx.items() if isinstance(v, (int, float, str)) and k != "error"}
    if limits:
        out["limits"] = limits
    return out


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error leave the app as problem+json."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_field_error(e) for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return problem_response(Unprocessable(detail or "invalid input", errors), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        p = Problem(str(exc.detail))
        p.status, p.title, p.type_suffix = exc.status_code, str(exc.detail), f"http-{exc.status_code}"
        return problem_response(p, request)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        p = Problem("an unexpected error occurred; it has been logged")
        p.status, p.title, p.type_suffix = 500, "Internal server error", "internal"
        return problem_response(p, request)
