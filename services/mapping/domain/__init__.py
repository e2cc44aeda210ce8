"""Mapping domain: code lists, the instrument and its scoring, size classes, cluster statistics."""
