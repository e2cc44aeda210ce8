"""Trainings that unlock training-gated equipment, granted per organisation, each until a date."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from clustergrowth.auth import Principal
from clustergrowth.problems import Forbidden
from clustergrowth.store.port import put
from services.facilities import commands as c
from services.facilities import store as st
from services.facilities.domain.model import (
    iso,
    parse_iso,
)
from services.facilities.handlers.context import MANAGERS, Facilities


# Trainings -----------------------------------------------------------------------------------------
async def grant_training(f: Facilities, cmd: c.GrantTraining, who: Principal) -> dict[str, Any]:
    """A manager records a training for their own organisation's resources (the region's staff: for every
    resource of the region), valid until ``valid_until`` (its expiry: a booking of equipment that asks
    for it must end by then); one organisation's grant never unlocks, or overwrites, another's. Granting
    the same training again replaces the expiry (a renewal, or a correction)."""
    who.require(*MANAGERS)
    organisation = None if who.has("region_admin") else who.org
    if organisation is None and not who.has("region_admin"):
        raise Forbidden("a facility manager without an organisation cannot grant trainings")
    doc = {
        "_id": f"{organisation or '*'}|{cmd.person}|{cmd.training}",
        "person": cmd.person,
        "training": cmd.training,
        "organisation": organisation,
        "valid_until": iso(cmd.valid_until),
        "granted_by": who.id,
    }
    await put(f.store, st.TRAININGS, doc)
    return {k: v for k, v in doc.items() if k != "_id"}


async def qualifications(f: Facilities, person: str, organisation: str | None, now: datetime) -> dict[str, datetime]:
    """The person's trainings valid at ``now`` that count at a resource of ``organisation`` (those its own
    managers granted, and those the region's staff granted, region-wide; never another organisation's),
    each with when it expires: the latest ``valid_until`` of its grants (an organisation's and the
    region's grant of one training: the later one counts)."""
    docs = await f.store.find(st.TRAININGS, {"person": person})
    out: dict[str, datetime] = {}
    for d in docs:
        if d["valid_until"] > iso(now) and d.get("organisation") in (None, organisation):
            until = parse_iso(d["valid_until"])
            out[d["training"]] = max(until, out.get(d["training"], until))
    return out
