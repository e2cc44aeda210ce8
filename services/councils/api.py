"""Thin HTTP layer of the councils service: parse, call a handler, shape the output. One router per kind
of object (``routes/``), combined here in the order they match; parts attached later (the dashboards)
add their routes with ``combined``.

The routes are copied in, not nested with ``include_router``: FastAPI keeps an included router as one
lazy entry, and ``ServiceComponent.roles()`` reads each route's rule from ``router.routes``."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter

from clustergrowth.auth import RuledRouter
from services.councils.routes import councils, decisions, initiatives, meetings
from services.councils.routes.common import PROBLEMS


def combined(parts: Iterable[APIRouter]) -> APIRouter:
    out = RuledRouter(responses=PROBLEMS)
    for part in parts:
        out.routes.extend(part.routes)
    return out


ROUTERS = (councils.router, meetings.router, decisions.router, initiatives.router)
router = combined(ROUTERS)
