"""The facilities service's handler context and the rule of who manages what."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from clustergrowth.auth import Principal
from clustergrowth.context import Context
from services.facilities.domain.model import OfferRules

MAX_WRITE_ATTEMPTS = 50
MAX_WINDOW = timedelta(days=31)
MANAGERS = ("facility_manager", "region_admin")


@dataclass
class Facilities(Context):
    """The facilities service's handler context."""

    service: str = "facilities"
    offers: OfferRules = field(default_factory=OfferRules)  # how long a waitlist offer is held


def may_manage(who: Principal, organisation: str | None) -> bool:
    """The region's staff manage every resource; a facility manager only their organisation's."""
    if who.has("region_admin"):
        return True
    return who.has("facility_manager") and who.org is not None and organisation == who.org
