"""The one-process demo's partner challenges: the other council regions' SMEs' challenges as MirrorMaker 2
would deliver them to this region (``<alias>.matching.events``), so the network challenge list shows
something without six regions running. A regional instance on Kafka publishes none of these: its
partners' challenges arrive from their own regions."""

from __future__ import annotations

import dataclasses

from clustergrowth.bus.federation import alias
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import make_event
from contracts import matching as ev

# region, organisation claim, title, skills, work mode, capacity, languages
CHALLENGES = [
    ("ES61", "andalusian-aero", "Digital twin of a composite curing oven", ["software", "data analysis"], "hybrid", 3,
     ["es", "en"]),
    ("ES30", "henares-packaging", "Recyclable packaging line: life-cycle assessment", ["life-cycle assessment"],
     "on_site", 2, ["es"]),
    ("ITH5", "emilia-motion", "Predictive maintenance for a press line", ["data analysis", "software"], "hybrid", 2,
     ["it", "en"]),
    ("ITH5", "bologna-robotics", "Export strategy for collaborative robots in Latin America",
     ["market research", "export strategy"], "remote", 3, ["en"]),
    ("IE05", "cork-medtech", "Energy audit of a clean-room facility", ["energy efficiency"], "on_site", 2, ["en"]),
    ("FR10", "evry-genomics", "Lab information system requirements", ["software", "research methods"], "hybrid", 2,
     ["fr", "en"]),
    ("TR10", "istanbul-textile", "Business plan for a smart-textile spin-off", ["business planning", "finance"],
     "remote", 3, ["tr", "en"]),
]  # fmt: skip


def partner_replicas(region: str) -> dict[str, list[CloudEvent]]:
    """Each other region's demo ``ChallengePosted``, keyed by its replica topic. Event ids are
    ``demo-<region>-matching-<n>`` (marked as demo replicas; the same on every start, so publishing them
    again applies nothing twice)."""
    out: dict[str, list[CloudEvent]] = {}
    for n, (owner, org, title, skills, mode, capacity, languages) in enumerate(CHALLENGES, 1):
        if owner == region:
            continue
        cid = f"demo-{owner.lower()}-challenge-{n}"
        data = ev.ChallengePosted(
            challenge_id=cid,
            programme="consultancy",
            sme_id=None,
            organisation=f"{owner}:{org}",
            region=owner,
            term="2027-autumn",
            work_mode=mode,  # type: ignore[arg-type]
            skills=sorted(skills),
            capacity=capacity,
            ip_template="nda-portfolio-safe",
            suggested_from=None,
            title=title,
            languages=languages,
            starts_on="2027-09-20",
            ends_on="2027-12-17",
        )
        e = make_event(data, key=cid, region=owner, source=f"/regions/{owner}/matching")
        out.setdefault(f"{alias(owner)}.{ev.TOPIC}", []).append(dataclasses.replace(e, id=f"demo-{owner}-matching-{n}"))
    return out
