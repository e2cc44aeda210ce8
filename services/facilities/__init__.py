"""Facilities: sites, bookable resources, bookings that never double-book, iCalendar feeds."""
