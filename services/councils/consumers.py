"""What the councils service reads of other services' events: narrow local models, one per event type it
consumes, each checked against the producer's committed schema (``READS``). The service itself consumes
nothing yet; parts attached to it (the dashboards) subscribe their own projections."""

from __future__ import annotations

from pydantic import BaseModel

READS: dict[str, type[BaseModel]] = {}
