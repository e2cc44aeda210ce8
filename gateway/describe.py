"""One API description for the whole front door: every service's routes under ``/api/v1/<service>``,
the bearer-token security scheme, each route's role rule (``x-roles``), and the problem+json errors
every route can answer with. In embedded mode the services' routers are in the gateway's app; in
proxy mode the services' descriptions are fetched and merged."""

from __future__ import annotations

import copy
from typing import Any

from clustergrowth.auth import PUBLIC
from clustergrowth.errors import ERRORS

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "422: each field and why it was refused",
            "items": {
                "type": "object",
                "required": ["field", "reason"],
                "properties": {
                    "field": {"type": "string"},
                    "reason": {"type": "string", "description": "why, in English"},
                    "code": {
                        "type": "string",
                        "description": "for a refusal by the input's shape: the validator's error type (pydantic's, "
                        "e.g. missing, string_too_long, greater_than_equal), for a client to say it in its own words",
                    },
                    "limits": {
                        "type": "object",
                        "description": 'the bounds the code refers to, e.g. {"max_length": 200}',
                    },
                },
            },
        },
    },
    "additionalProperties": True,
}


def finish(spec: dict[str, Any]) -> dict[str, Any]:
    """Add the security scheme and the problem responses to every ``/api/v1`` operation (a public one
    asks for no token: ``security: []``)."""
    spec = copy.deepcopy(spec)
    components = spec.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        components["schemas"].pop(name, None)
    components["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "a token of this region's issuer or of a trusted partner region's issuer",
        }
    }
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, ops in spec.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for op in ops.values():
            public = op.get("x-roles") == [PUBLIC]  # allow(PUBLIC): answered without a token
            op["security"] = [] if public else [{"bearer": []}]
            responses = op.setdefault("responses", {})
            for status, generic in ERRORS.items():
                code = str(status)  # keyed as the services key them: 409 beside "409" would be written twice
                specific = responses.get(code, {}).get("description")  # the route's own words win
                responses[code] = {"description": specific or generic, "content": problem}
    spec["info"]["description"] = (
        "The regional front door of SME Cluster Growth. Errors are RFC 9457 problem+json. "
        "Each operation's `x-roles` lists the roles it admits."
    )
    return spec


def merge(title: str, parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Merge services' descriptions (already under their ``/api/v1/<service>`` prefixes)."""
    spec: dict[str, Any] = {"openapi": "3.1.0", "info": {"title": title, "version": "1"}, "paths": {}}
    schemas: dict[str, Any] = {}
    for service, part in parts.items():
        for path, ops in part.get("paths", {}).items():
            if path.startswith(f"/api/v1/{service}/"):
                spec["paths"][path] = ops
        for name, schema in part.get("components", {}).get("schemas", {}).items():
            if name in schemas and schemas[name] != schema:
                raise ValueError(f"services describe schema {name!r} differently ({service})")
            schemas[name] = schema
    spec["components"] = {"schemas": schemas}
    return finish(spec)
