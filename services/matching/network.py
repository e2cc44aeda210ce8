"""Partner regions' open challenges (issue 18): students and academics of this region find the challenges
that partner regions' SMEs posted, and apply at the owning region's API.

A federated consumer reads partners' replicas of ``matching.events`` (``<alias>.matching.events``) and
keeps, per partner challenge, what its ``ChallengePosted`` said, keyed ``<region>:<challenge id>`` so two
regions' ids never collide, and how many of its places that region's proposals filled (each
``MatchAccepted`` takes one; an engagement that then completes keeps it). Applying is the owning
region's business: a person of this region signs in there with this region's issuer (partners trust each
other's issuers), makes a candidate profile and ranks the challenge (``apply_at``); that region's rounds
decide, under its rules.

Every partner event and MirrorMaker 2's heartbeats are the partner's signs of life
(``clustergrowth.partners``): an entry is ``stale`` once both are older than ``CG_NETWORK_STALE_AFTER_S``
on the service's clock. An older posting replayed after a newer one changes nothing; a redelivered
replica applies once (inbox in each document). Local events are not projected: this region's challenges
are its own ``challenges``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field

from clustergrowth.auth import CurrentPrincipal, RuledRouter, allow
from clustergrowth.bus.federation import Origin
from clustergrowth.envelope import CloudEvent
from clustergrowth.inbox import apply_once
from clustergrowth.instants import instant
from clustergrowth.paging import Page
from clustergrowth.partners import PartnerSigns
from clustergrowth.problems import field_error
from clustergrowth.settings import NUTS2
from clustergrowth.store.port import Doc
from contracts import matching as ev
from services.matching.routes.common import PROBLEMS, Term

GROUP = "matching.network"
CHALLENGES = "network_challenges"
POSTED, ACCEPTED = ev.ChallengePosted.event_type(), ev.MatchAccepted.event_type()
POSTED_FIELDS = ("challenge_id", "programme", "organisation", "term", "work_mode", "skills", "capacity")
OPTIONAL = ("title", "languages", "starts_on", "ends_on")  # carried by postings of contract versions that have them
DEMO = "demo-"


@dataclass
class NetworkChallenges(PartnerSigns):
    """The partner challenge catalogue: its projection (``handle``) and what its reads need; its
    partners' signs of life (``PartnerSigns``)."""

    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def ensure_indexes(self) -> None:
        await self.store.ensure_index(CHALLENGES, ["listed", "region", "term", "_id"])
        await self.store.ensure_index(CHALLENGES, ["programme"])

    async def handle(self, event: CloudEvent, origin: Origin) -> None:
        if origin.partner is None or origin.region == self.region:
            return  # ours: this region's challenges are its own documents
        region = origin.region
        await self.seen(region, event)
        d = event.data
        key = f"{region}:{d.get('challenge_id')}"
        if event.type == POSTED:

            def posted(doc: Doc) -> Doc:
                if doc.get("updated_at") is not None and instant(doc["updated_at"]) > instant(event.time):
                    return doc  # an older posting replayed after a newer one: keep the newer
                doc.update({k: d[k] for k in POSTED_FIELDS})
                doc.update({k: d.get(k) for k in OPTIONAL})
                doc.update(region=region, work_region=d["region"], updated_at=event.time, listed=True)
                doc.setdefault("accepted", 0)
                doc["open"] = doc["accepted"] < doc["capacity"]
                doc["demo"] = event.id.startswith(DEMO)
                return doc

            await apply_once(self.store, CHALLENGES, key, event.id, posted)
        elif event.type == ACCEPTED:

            def accepted(doc: Doc) -> Doc:
                doc["accepted"] = doc.get("accepted", 0) + 1  # the inbox applies each acceptance once
                doc["open"] = "capacity" not in doc or doc["accepted"] < doc["capacity"]  # posting not here yet
                return doc

            await apply_once(self.store, CHALLENGES, key, event.id, accepted)


# --- routes --------------------------------------------------------------------------------------------------

router = RuledRouter(responses=PROBLEMS)


async def network(request: Request) -> NetworkChallenges:
    n: NetworkChallenges = request.app.state.matching_network
    return n


Net = Annotated[NetworkChallenges, Depends(network)]
Region = Annotated[
    str | None, Query(description="a partner region's NUTS-2 code (e.g. ITH5); all partners if absent", max_length=4)
]
SkillQuery = Annotated[str | None, Query(min_length=1, max_length=60, description="a skill the challenge asks for")]


class NetworkChallengeOut(BaseModel):
    id: str = Field(description="the challenge's id in its own region (apply there)")
    region: str = Field(description="the owning region (NUTS-2), whose rounds allocate it")
    work_region: str = Field(description="NUTS-2 code where the work happens")
    programme: ev.Programme
    title: str | None = Field(description="absent when the owning region's events predate titles")
    organisation: str | None
    term: str
    starts_on: str | None
    ends_on: str | None
    work_mode: str
    skills: list[str]
    languages: list[str] | None
    capacity: int
    places_left: int = Field(description="capacity less the proposals accepted in the owning region")
    api_base: str | None = Field(description="the owning region's public API base (from the partners file)")
    apply_at: str | None = Field(
        description="where to apply: the owning region's candidate profile and ranking of challenges"
    )
    updated_at: str = Field(description="time of the owning region's event that last changed this entry")
    stale: bool = Field(
        description="the owning region's events and MirrorMaker 2's heartbeats from it have both been silent "
        "longer than the threshold"
    )
    partner_last_event_at: str | None = Field(description="time of the last event replicated from that region")
    partner_last_heartbeat_at: str | None = Field(description="time of the last heartbeat replicated from that region")
    demo: bool = Field(description="seeded by the one-process demo as replicated data, not from a running region")


@router.get(
    "/network/challenges",
    **allow("any"),
    response_model=list[NetworkChallengeOut],
    summary="Partner regions' challenges (read-only; apply at the owning region's API)",
)
async def network_challenges(
    who: CurrentPrincipal,
    net: Net,
    page: Page,
    region: Region = None,
    programme: ev.Programme | None = None,
    term: Term = None,
    skill: SkillQuery = None,
    open_only: Annotated[bool, Query(description="only challenges with places left")] = False,
) -> list[NetworkChallengeOut]:
    q: dict[str, Any] = {"listed": True}  # not an acceptance that arrived before its posting
    if region is not None:
        if not NUTS2.match(region):
            raise field_error("region", "is not a NUTS-2 code such as ITH5")
        if region == net.region:
            raise field_error("region", "is this region: its challenges are at GET /matching/challenges")
        q["region"] = region
    if programme is not None:
        q["programme"] = programme
    if term is not None:
        q["term"] = term
    if skill is not None:
        q["skills"] = skill.lower()  # stored lower-cased, as the owning region keeps them
    if open_only:
        q["open"] = True
    docs = await page.query(net.store, CHALLENGES, q, [("region", 1), ("term", 1)])
    now, signs = net.clock(), await net.signs_of_life()
    out = []
    for d in docs:
        left = max(0, d["capacity"] - d.get("accepted", 0))
        last, beat = signs.get(d["region"], (None, None))
        api_base = net.api_bases.get(d["region"])
        out.append(
            NetworkChallengeOut(
                id=d["challenge_id"],
                region=d["region"],
                work_region=d["work_region"],
                programme=d["programme"],
                title=d.get("title"),
                organisation=d.get("organisation"),
                term=d["term"],
                starts_on=d.get("starts_on"),
                ends_on=d.get("ends_on"),
                work_mode=d["work_mode"],
                skills=d["skills"],
                languages=d.get("languages"),
                capacity=d["capacity"],
                places_left=left,
                api_base=api_base,
                apply_at=f"{api_base.rstrip('/')}/matching/candidates/me/preferences" if api_base else None,
                updated_at=d["updated_at"],
                stale=net.stale(last, now, beat),
                partner_last_event_at=last,
                partner_last_heartbeat_at=beat,
                demo=d.get("demo", False),
            )
        )
    return out
