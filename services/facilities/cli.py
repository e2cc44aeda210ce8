"""The facilities service's own subcommand: ``clustergrowth rebuild-partner-resources`` (the network
catalogue: partners' resources and their signs of life, folded again from their replicas of
facilities.events on this region's bus; each partner's last heartbeat is kept)."""

from __future__ import annotations

from clustergrowth.component import offline_command
from contracts import facilities as ev

REBUILD = offline_command(
    "rebuild-partner-resources",
    "rebuild the network catalogue from partners' replicated facilities.events",
    "services.facilities.app:FacilitiesService",
    lambda service: service.network.rebuild(service.bus, ev.TOPIC),
)
