"""Recurring bookings: a series of occurrences of one slot under an RFC 5545 RRULE (subset), each
occurrence an ordinary booking in its ResourceDay; the series document records which."""
