"""Data migrations of the facilities service (run once each by the service kernel, in order)."""

from __future__ import annotations

from typing import Any

from clustergrowth.migrations import Identities, Migration, rekey, rewrite
from clustergrowth.store.port import DocumentStore
from services.facilities import store as st


async def _identities(store: DocumentStore, ids: Identities) -> int:
    """People by (issuer, subject), organisations by platform id: sites, resources, bookings and waitlist
    entries, trainings.

    Trainings granted before this had no organisation; they stay valid region-wide (as they were).
    """

    def owned(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "organisation": ids.org(d.get("organisation"), namespace=d.get("region"))}

    def booking(b: dict[str, Any]) -> dict[str, Any]:
        region = b.get("person_region")
        return {
            **b,
            "person": ids.person(b["person"], region),
            "organisation": ids.org(b.get("organisation"), region),
            "changed_by": ids.person(b.get("changed_by")),
        }

    def entry(e: dict[str, Any]) -> dict[str, Any]:  # a waitlist entry: the person in line, her organisation
        region = e.get("person_region")
        return {**e, "person": ids.person(e["person"], region), "organisation": ids.org(e.get("organisation"), region)}

    def schedule(d: dict[str, Any]) -> dict[str, Any]:
        out = {**d, "bookings": [booking(b) for b in d.get("bookings", [])]}
        if "waitlist" in d:
            out["waitlist"] = [entry(e) for e in d["waitlist"]]
        return out

    def training(d: dict[str, Any]) -> dict[str, Any]:
        return {
            **d,
            "person": ids.person(d["person"]),
            "organisation": d.get("organisation"),
            "granted_by": ids.person(d.get("granted_by")),
        }

    n = await rewrite(store, st.SITES, owned)
    n += await rewrite(store, st.RESOURCES, owned)
    n += await rewrite(store, st.SCHEDULES, schedule)
    n += await rewrite(store, st.TRAININGS, training)
    n += await rekey(store, st.TRAININGS, lambda d: f"{d['organisation'] or '*'}|{d['person']}|{d['training']}")
    return n


MIGRATIONS = (Migration(1, "identities keyed by issuer", _identities),)
