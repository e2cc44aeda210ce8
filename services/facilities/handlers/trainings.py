"""Trainings that unlock training-gated equipment, granted per organisation."""

from __future__ import annotations

from typing import Any

from clustergrowth.auth import Principal
from clustergrowth.problems import Forbidden
from clustergrowth.store.port import put
from services.facilities import commands as c
from services.facilities import store as st
from services.facilities.domain.model import (
    iso,
)
from services.facilities.handlers.context import MANAGERS, Facilities


# Trainings -----------------------------------------------------------------------------------------
async def grant_training(f: Facilities, cmd: c.GrantTraining, who: Principal) -> dict[str, Any]:
    """A manager records a training for their own organisation's resources (the region's staff: for every
    resource of the region); one organisation's grant never unlocks, or overwrites, another's."""
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
