"""ISO 8601 instants as events carry them (CloudEvents ``time``), compared as instants, not as strings."""

from __future__ import annotations

from datetime import UTC, datetime


def instant(s: str) -> datetime:
    """An ISO 8601 instant; one without an offset is taken as UTC (CloudEvents times should carry one)."""
    t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def later(a: str | None, b: str) -> str:
    """The later of two ISO 8601 instants (``b`` when ``a`` is None)."""
    return b if a is None or instant(b) > instant(a) else a
