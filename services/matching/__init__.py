"""Matching: student SME consultancy and Change of Perspective placements.

So far only the allocation engine (``allocation/``) and its offline command exist; the service with
challenges, profiles, proposals and engagements is still to come (see the README).
"""
