"""Data migrations of the matching service (run once each by the service kernel, in order)."""

from __future__ import annotations

from typing import Any

from clustergrowth.auth import person_id
from clustergrowth.migrations import Identities, Migration, rekey, remap, rewrite
from clustergrowth.store.port import DocumentStore, put
from services.matching import store as st


async def _identities(store: DocumentStore, ids: Identities) -> int:
    """People by (issuer, subject), organisations by platform id: profiles (re-keyed), challenges,
    rounds and matches. A person's issuer is read from their profile's home region (a partner region's
    configured issuer, else the home issuer)."""
    home = {d["_id"]: d.get("home_region") for d in await store.find(st.CANDIDATES, {})}

    def person(value: Any) -> Any:
        return ids.person(value, home.get(value)) if isinstance(value, str) else value

    def candidate(d: dict[str, Any]) -> dict[str, Any]:
        if "issuer" in d:
            return d
        region = d.get("home_region")
        return {
            **d,
            "issuer": ids.partners.get(region or "", ids.home_issuer),
            "subject": d["_id"],
            "organisation": ids.org(d.get("organisation"), region),
        }

    def challenge(d: dict[str, Any]) -> dict[str, Any]:
        return remap(
            d,
            organisation=ids.org,
            created_by=person,
            published_by=person,
            supervisor=person,
            applicant_ranking=lambda xs: [person(x) for x in xs],
        )

    def round_(d: dict[str, Any]) -> dict[str, Any]:
        return {
            **d,
            "run_by": person(d.get("run_by")),
            "assignments": [{**a, "student": person(a["student"])} for a in d.get("assignments", [])],
            "unassigned": [person(x) for x in d.get("unassigned", [])],
            "explanations": [{**e, "student": person(e["student"])} for e in d.get("explanations", [])],
        }

    def match(d: dict[str, Any]) -> dict[str, Any]:
        ratings = {k: (r and {**r, "by": person(r.get("by"))}) for k, r in (d.get("ratings") or {}).items()}
        host = d.get("host")
        return {
            **d,
            "candidate": ids.person(d["candidate"], d.get("candidate_region")),
            "supervisor": person(d.get("supervisor")),
            "host": host if not isinstance(host, str) or host.startswith("host:") else person(host),
            "organisation": ids.org(d.get("organisation")),
            "ratings": ratings,
        }

    n = await rewrite(store, st.CANDIDATES, candidate)
    n += await rekey(store, st.CANDIDATES, lambda d: person_id(d["issuer"], d["subject"]))
    n += await rewrite(store, st.CHALLENGES, challenge)
    n += await rewrite(store, st.ROUNDS, round_)
    n += await rewrite(store, st.MATCHES, match)
    for d in await store.find(st.CHALLENGES, {"suggested_from": {"$ne": None}}):  # SMEs known from assessments
        if d.get("sme_id") and await store.get(st.SMES, d["sme_id"]) is None:
            await put(
                store, st.SMES, {"_id": d["sme_id"], "organisation": d.get("organisation"), "region": d["region"]}
            )
    return n


MIGRATIONS = (Migration(1, "identities keyed by issuer", _identities),)
