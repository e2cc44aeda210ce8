"""Council membership as facilities follows it: the ``council_members`` projection, and the withdrawal of
a former member's bookings that her membership alone allowed."""

from __future__ import annotations

from services.facilities.consumers import MembershipProjection
from services.facilities.handlers.bookings import end_membership
from services.facilities.handlers.context import Facilities


def membership_projection(f: Facilities) -> MembershipProjection:
    """The consumer of councils.events: each ``MemberLeft`` updates the projection, then withdraws."""

    async def on_left(person: str, council_id: str) -> None:
        await end_membership(f, person, council_id)

    return MembershipProjection(f.store, on_left=on_left)
