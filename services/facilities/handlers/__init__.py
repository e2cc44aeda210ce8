"""The facilities service's use cases, one module per kind of object; each loads aggregates, applies the
domain's rules and saves state with its events."""

from services.facilities.handlers.availability import availability
from services.facilities.handlers.bookings import (
    DAYS_READ,
    book,
    booking_key,
    bookings_page,
    cancel,
    decide,
    end_membership,
    get_booking,
    my_bookings,
    my_bookings_page,
    resource_bookings,
)
from services.facilities.handlers.context import MANAGERS, Facilities, may_manage
from services.facilities.handlers.membership import membership_projection
from services.facilities.handlers.sites import (
    create_site,
    get_resource,
    get_site,
    list_resource,
    list_resources,
    list_sites,
)
from services.facilities.handlers.trainings import grant_training

__all__ = [
    "DAYS_READ",
    "MANAGERS",
    "Facilities",
    "availability",
    "book",
    "booking_key",
    "bookings_page",
    "cancel",
    "create_site",
    "decide",
    "end_membership",
    "get_booking",
    "get_resource",
    "get_site",
    "grant_training",
    "list_resource",
    "list_resources",
    "list_sites",
    "may_manage",
    "membership_projection",
    "my_bookings",
    "my_bookings_page",
    "resource_bookings",
]
