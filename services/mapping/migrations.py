"""Data migrations of the mapping service (run once each by the service kernel, in order)."""

from __future__ import annotations

from typing import Any

from clustergrowth.migrations import Identities, Migration, rewrite
from clustergrowth.store.port import DocumentStore
from services.mapping import store as st


async def _identities(store: DocumentStore, ids: Identities) -> int:
    """SMEs: their organisation as a platform id, the people who registered and assessed them by issuer."""

    def sme(d: dict[str, Any]) -> dict[str, Any]:
        consent = d.get("consent")
        return {
            **d,
            "organisation": ids.org(d.get("organisation")),
            "created_by": ids.person(d.get("created_by")),
            **({"consent": {**consent, "recorded_by": ids.person(consent.get("recorded_by"))}} if consent else {}),
            "assessments": [{**a, "assessed_by": ids.person(a.get("assessed_by"))} for a in d.get("assessments", [])],
        }

    def employment(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "imported_by": ids.person(d.get("imported_by"))}

    return await rewrite(store, st.SMES, sme) + await rewrite(store, st.EMPLOYMENT, employment)


MIGRATIONS = (Migration(1, "identities keyed by issuer", _identities),)
