"""Facilities domain: entities and rules, free of web, database and broker code."""
