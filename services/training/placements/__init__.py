"""Mobility placements (EYE-style, across borders): applicants and hosts screened by their region's
intermediary, matching by the allocation engine, a four-party agreement, reports, completion, and the
cross-border share.

The training service wires it with one line each: ``router`` included in its API router, and
``attach(self)`` in its component's ``__init__`` once its handler ``context`` is set (it puts the desk
the routes use on that context and adds the placements collection to the outbox relay). Its indexes:
``await ensure_indexes(store)`` in ``prepare``.
"""

from __future__ import annotations

from clustergrowth.component import ServiceComponent
from services.training.placements.api import ATTR, router
from services.training.placements.handlers import (
    APPLICANTS,
    HOSTS,
    OUTBOX_COLLECTIONS,
    PLACEMENTS,
    PlacementDesk,
    ensure_indexes,
)

__all__ = [
    "APPLICANTS",
    "HOSTS",
    "OUTBOX_COLLECTIONS",
    "PLACEMENTS",
    "PlacementDesk",
    "attach",
    "ensure_indexes",
    "router",
]


def attach(component: ServiceComponent) -> PlacementDesk:
    """Give the training component its placements desk (on its handler context) and the placements
    collection's outbox on its relay."""
    found = PlacementDesk(component.context)
    setattr(component.context, ATTR, found)
    for collection in OUTBOX_COLLECTIONS:
        component.relay.routes.setdefault(collection, component.topic)
    return found
