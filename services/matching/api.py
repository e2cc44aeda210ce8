"""Thin HTTP layer of the matching service: parse, call a handler, shape the output. One router per use
case (``routes/``: challenges, profiles, rounds, matches), combined here in the order they match.

The routes are copied in, not nested with ``include_router``: FastAPI keeps an included router as one
lazy entry, and ``ServiceComponent.roles()`` reads each route's rule from ``router.routes``."""

from __future__ import annotations

from clustergrowth.auth import RuledRouter
from services.matching import network
from services.matching.routes import challenges, matches, profiles, rounds
from services.matching.routes.challenges import ChallengeOut
from services.matching.routes.common import PROBLEMS
from services.matching.routes.matches import MatchOut
from services.matching.routes.profiles import ProfileOut
from services.matching.routes.rounds import RoundOut

router = RuledRouter(responses=PROBLEMS)
for part in (challenges, profiles, rounds, matches, network):
    router.routes.extend(part.router.routes)

__all__ = ["ChallengeOut", "MatchOut", "ProfileOut", "RoundOut", "router"]
