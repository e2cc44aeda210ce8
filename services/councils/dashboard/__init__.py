"""Council dashboards: a projection fed by every service's events and the routes that show it.

The councils service wires it with one line each: ``attach(self)`` in its component's ``__init__``
(subscribes the projection's consumer group) and ``router`` included in its API router. The routes read
the store of the service's handler context (``request.app.state.councils.store``).
"""

from __future__ import annotations

from clustergrowth.component import ServiceComponent
from services.councils.dashboard.api import router
from services.councils.dashboard.projection import GROUP, DashboardProjection, rebuild
from services.councils.dashboard.reads import READS, TOPICS

__all__ = ["GROUP", "READS", "TOPICS", "DashboardProjection", "attach", "rebuild", "router"]


def attach(component: ServiceComponent) -> DashboardProjection:
    """Subscribe the dashboards' consumer group (mapping, facilities, matching and councils events) on
    the councils component; returns the projection (its ``handle`` is the consumer)."""
    projection = DashboardProjection(component.store)
    component.subscribe(GROUP, TOPICS, projection.handle)
    return projection
