"""Thin HTTP layer of the training service: one router per kind of object (``routes/``), combined in the
order they match; parts attached later (modules, placements) add theirs with ``combined``. Routes are
copied in, not nested, so that ``ServiceComponent.roles()`` reads each route's rule."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter

from clustergrowth.auth import RuledRouter
from services.training.routes import assessments, benchmarks, plans
from services.training.routes.common import PROBLEMS


def combined(parts: Iterable[APIRouter]) -> APIRouter:
    out = RuledRouter(responses=PROBLEMS)
    for part in parts:
        out.routes.extend(part.routes)
    return out


ROUTERS = (assessments.router, plans.router, benchmarks.router)
router = combined(ROUTERS)
