"""The council dashboards' projection: counters per region x quarter and council x quarter, fed by the
events of every service, each applied once (``apply_once``) and rebuilt by replaying the log.

Documents (one collection, ``dashboard_g<N>``; ``dashboard_meta`` names the live generation):
- ``council|<id>``: region, city, themes (``CouncilFormed``) and memberships (``MemberJoined``/``Left``;
  an ended membership stays ended whatever order the two arrive in).
- ``region|<region>|<quarter>``: what happened at the region's facilities and in its matching: booking
  counters per booker (person, organisation, at a university site, from another region), the ids of the
  resources booked by kind (``uni_resources``, ``other_resources``: a cancellation does not say the kind),
  challenge, match and engagement counters, and the quarter's assessments (SME, greatest needs, councils).
- ``council-q|<id>|<quarter>``: meetings held (attendance by constituency), initiatives it leads (counters)
  and those it co-sponsors (facts with the lead's region: counted when read only for a co-sponsor of that
  region, the only kind the lead's service can confirm).
- ``sme-orgs|<region>``: organisations seen as an SME's in ``SMEAssessed`` (to classify bookers).

Counters are folded as events arrive; whatever depends on another event (is this booker an SME's
person? is this need among the region's top needs?) is kept as small facts and decided when read, so
the answer does not depend on the order in which topics are consumed or replayed.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from clustergrowth.bus.port import EventBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.inbox import APPLIED, applied_record, apply_once
from clustergrowth.store.port import Doc, DocumentStore
from services.councils.dashboard import reads as r

log = logging.getLogger("services.councils.dashboard")
GROUP = "councils.dashboards"
META, META_ID, PREFIX = "dashboard_meta", "dashboards", "dashboard_g"
UNIVERSITY_SITE_KIND = "university_access_point"  # the only university marker the booking events carry


def quarter(ts: str) -> str:
    """The calendar quarter (UTC) of an ISO 8601 time: ``2026-Q1``."""
    t = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    t = t.astimezone(UTC)
    return f"{t.year}-Q{(t.month - 1) // 3 + 1}"


def council_key(council_id: str) -> str:
    return f"council|{council_id}"


def region_key(region: str, q: str) -> str:
    return f"region|{region}|{q}"


def council_quarter_key(council_id: str, q: str) -> str:
    return f"council-q|{council_id}|{q}"


def sme_orgs_key(region: str) -> str:
    return f"sme-orgs|{region}"


Fold = Callable[[Doc], Doc]


def _bump(doc: Doc, field: str, by: int = 1) -> None:
    doc[field] = int(doc.get(field, 0)) + by


# Folds: pure functions of (document, event data) ----------------------------------------------------
def _assessed(d: r.Assessed) -> Fold:
    def fold(doc: Doc) -> Doc:
        kept = [a for a in doc.get("assessments", []) if a["assessment"] != d.assessment_id]
        kept.append(
            {
                "assessment": d.assessment_id,
                "sme": d.sme_id,
                "at": d.assessed_at,
                "needs": d.top_needs[:3],
                "councils": sorted(set(d.councils)),
            }
        )
        doc["assessments"] = sorted(kept, key=lambda a: (a["at"], a["assessment"]))
        return doc

    return fold


def _sme_org(sme: str, organisation: str | None) -> Fold:
    def fold(doc: Doc) -> Doc:
        kept = [x for x in doc.get("smes", []) if x["sme"] != sme]
        if organisation is not None:
            kept.append({"sme": sme, "organisation": organisation})
        doc["smes"] = sorted(kept, key=lambda x: x["sme"])
        return doc

    return fold


def _erase_assessments(sme: str) -> Fold:
    def fold(doc: Doc) -> Doc:
        doc["assessments"] = [a for a in doc.get("assessments", []) if a["sme"] != sme]
        return doc

    return fold


def _resource_ids(doc: Doc) -> tuple[list[str], list[str]]:
    """The ids of the resources booked in a region cell, sorted: (at university sites, elsewhere).

    The code before kept them as one list of ``{"id", "uni"}`` objects (every booking rewrote and re-checked
    fifty small objects in it). That list is popped here from ``doc`` (a copy of the stored one) and merged
    into the two: a cell may hold both while replicas of both versions write it (a rolling update); an id in
    both says its kind in the two lists. Rolled back, the code before does not read the two lists: its
    cancellations of bookings made since find no kind and count nothing until the dashboards are rebuilt
    from the log (``rebuild``)."""
    uni, other = doc.get("uni_resources", []), doc.get("other_resources", [])
    former = doc.pop("resources", None)
    if not isinstance(former, list):
        return uni, other
    kinds = {x["id"]: bool(x["uni"]) for x in former} | dict.fromkeys(uni, True) | dict.fromkeys(other, False)
    return sorted(i for i, u in kinds.items() if u), sorted(i for i, u in kinds.items() if not u)


def _holds(ids: list[str], resource: str) -> bool:
    at = bisect_left(ids, resource)
    return at < len(ids) and ids[at] == resource


def _with(ids: list[str], resource: str) -> list[str]:
    """``ids`` (sorted) with ``resource``: the same list when it is there, else a sorted copy holding it."""
    return ids if _holds(ids, resource) else sorted([*ids, resource])


def _without(ids: list[str], resource: str) -> list[str]:
    """``ids`` (sorted) without ``resource``: the same list when it is not there, else a copy without it."""
    return [i for i in ids if i != resource] if _holds(ids, resource) else ids


def _booked(d: r.Booked) -> Fold:
    uni = d.resource_kind == UNIVERSITY_SITE_KIND
    foreign = d.person_region != d.region
    key = (d.person, d.organisation, uni, foreign)

    def fold(doc: Doc) -> Doc:
        bookers = list(doc.get("bookers", []))  # the entries as read; only the one counted is a new object
        at = next(
            (i for i, b in enumerate(bookers) if (b["person"], b["organisation"], b["uni_site"], b["foreign"]) == key),
            None,
        )
        if at is None:
            bookers.append(
                {"person": d.person, "organisation": d.organisation, "uni_site": uni, "foreign": foreign, "n": 1}
            )
        else:
            bookers[at] = {**bookers[at], "n": bookers[at]["n"] + 1}
        doc["bookers"] = bookers
        at_uni, elsewhere = _resource_ids(doc)  # the resource's kind as this booking says (the latest wins)
        doc["uni_resources"] = _with(at_uni, d.resource_id) if uni else _without(at_uni, d.resource_id)
        doc["other_resources"] = _without(elsewhere, d.resource_id) if uni else _with(elsewhere, d.resource_id)
        return doc

    return fold


def _cancelled(d: r.Cancelled) -> Fold:
    """A confirmed booking withdrawn: one fewer for its booker. The event names the person and the
    resource, not the organisation: the booker's entry at a site of that kind is decremented (a person's
    organisation and home region do not change between booking and cancelling)."""

    def fold(doc: Doc) -> Doc:
        at_uni, elsewhere = _resource_ids(doc)
        doc["uni_resources"], doc["other_resources"] = at_uni, elsewhere
        uni = True if _holds(at_uni, d.resource_id) else False if _holds(elsewhere, d.resource_id) else None
        bookers = [dict(b) for b in doc.get("bookers", [])]
        mine = next((b for b in bookers if b["person"] == d.person and b["uni_site"] == uni and b["n"] > 0), None)
        if mine is not None:
            mine["n"] -= 1
        doc["bookers"] = [b for b in bookers if b["n"] > 0]
        return doc

    return fold


def _counter(field: str, extra: str | None = None) -> Fold:
    def fold(doc: Doc) -> Doc:
        _bump(doc, field)
        if extra is not None:
            _bump(doc, extra)
        return doc

    return fold


def _posted(d: r.Posted) -> Fold:
    def fold(doc: Doc) -> Doc:
        _bump(doc, "challenges_posted")
        if d.suggested_from is not None:
            kept = [x for x in doc.get("suggested", []) if x["challenge"] != d.challenge_id]
            doc["suggested"] = [*kept, {"challenge": d.challenge_id, "assessment": d.suggested_from}]
        return doc

    return fold


def _formed(d: r.Formed) -> Fold:
    def fold(doc: Doc) -> Doc:
        doc.update({"council_id": d.council_id, "region": d.region, "city": d.city, "themes": d.themes})
        doc["formed_at"] = d.formed_at
        return doc

    return fold


def _membership(d: r.Joined | r.Left) -> Fold:
    def fold(doc: Doc) -> Doc:
        members = [dict(m) for m in doc.get("members", [])]
        mine = next((m for m in members if m["member_id"] == d.member_id), None)
        if mine is None:
            mine = {"member_id": d.member_id, "person": d.person, "constituency": d.constituency, "active": True}
            mine["organisation"] = d.organisation if isinstance(d, r.Joined) else None
            members.append(mine)
        if isinstance(d, r.Left):
            mine["active"] = False
        elif mine.get("organisation") is None:
            mine["organisation"] = d.organisation  # the Left came first: complete it
        doc.setdefault("council_id", d.council_id)
        doc["members"] = sorted(members, key=lambda m: m["member_id"])
        return doc

    return fold


def _held(d: r.Held) -> Fold:
    def fold(doc: Doc) -> Doc:
        _bump(doc, "meetings_held")
        _bump(doc, "attendees", d.attendees)
        _bump(doc, "decisions", len(d.decisions))
        attendance = dict(doc.get("attendance", {}))
        for constituency, n in d.attendance.items():
            attendance[constituency] = attendance.get(constituency, 0) + n
        doc["attendance"] = attendance
        if d.quorum_met:
            _bump(doc, "meetings_quorate")
        if d.attendance.get("sme", 0) > 0 and d.attendance.get("university", 0) > 0:
            _bump(doc, "meetings_sme_and_university")
        if d.attendance.get("government", 0) > 0:
            _bump(doc, "meetings_with_government")
        return doc

    return fold


def _initiative(stage: str, cross_border: bool) -> Fold:
    def fold(doc: Doc) -> Doc:
        _bump(doc, f"initiatives_{stage}")
        if cross_border:
            _bump(doc, f"cross_border_initiatives_{stage}")
        return doc

    return fold


def _co_sponsored(initiative: str, stage: str, cross_border: bool, lead_region: str) -> Fold:
    """A fact in a co-sponsor's cell, decided when read: it counts only where the co-sponsor is of the lead
    council's region. The lead's service confirms a co-sponsor it knows, i.e. one of its own region; another
    region's is recorded as the proposer named it (``confirmed: false``), and is not counted for it."""

    def fold(doc: Doc) -> Doc:
        fact = {"initiative": initiative, "stage": stage, "cross_border": cross_border, "lead_region": lead_region}
        kept = [x for x in doc.get("co_sponsored", []) if (x["initiative"], x["stage"]) != (initiative, stage)]
        doc["co_sponsored"] = sorted([*kept, fact], key=lambda x: (x["initiative"], x["stage"]))
        return doc

    return fold


Lookup = Callable[[Doc], Awaitable[list[str]]]  # ids of the documents matching a filter


async def changes(event: CloudEvent, find_ids: Lookup) -> list[tuple[str, Fold]]:
    """Which documents an event changes and how; [] for events the dashboards do not read (training's,
    a future version's, and so on). ``find_ids`` lists existing documents (for an erasure)."""
    model = r.READS.get(event.type)
    if model is None:
        return []
    d: Any = model.model_validate(event.data)
    if isinstance(d, r.Assessed):
        return [
            (region_key(d.region, quarter(d.assessed_at)), _assessed(d)),
            (sme_orgs_key(d.region), _sme_org(d.sme_id, d.organisation)),
        ]
    if isinstance(d, r.Erased):
        cells = await find_ids({"kind": "region", "region": d.region})
        return [*((c, _erase_assessments(d.sme_id)) for c in cells), (sme_orgs_key(d.region), _sme_org(d.sme_id, None))]
    if isinstance(d, r.Booked):
        return [(region_key(d.region, quarter(d.start)), _booked(d))]
    if isinstance(d, r.Cancelled):
        return [(region_key(d.region, quarter(d.start)), _cancelled(d))] if d.reason == "cancelled" else []
    if isinstance(d, r.Posted):
        return [(region_key(d.region, quarter(event.time)), _posted(d))]
    if isinstance(d, r.Accepted):
        extra = "matches_cross_region" if d.candidate_region != d.region else None
        return [(region_key(d.region, quarter(d.accepted_at)), _counter("matches_accepted", extra))]
    if isinstance(d, r.Completed):
        extra = "engagements_cross_region" if d.candidate_region != d.region else None
        return [(region_key(d.region, quarter(d.completed_at)), _counter("engagements_completed", extra))]
    if isinstance(d, r.Formed):
        return [(council_key(d.council_id), _formed(d))]
    if isinstance(d, r.Joined | r.Left):
        return [(council_key(d.council_id), _membership(d))]
    if isinstance(d, r.Held):
        return [(council_quarter_key(d.council_id, quarter(d.held_at)), _held(d))]
    if isinstance(d, r.InitiativeProposed):
        stage, at = "proposed", d.proposed_at
    elif isinstance(d, r.InitiativeLaunched):
        stage, at = "launched", d.launched_at
    else:
        stage, at = ("completed" if d.outcome == "completed" else "abandoned"), d.ended_at
    q = quarter(at)
    co = sorted(set(d.co_sponsors) - {d.council_id})
    return [
        (council_quarter_key(d.council_id, q), _initiative(stage, d.cross_border)),
        *((council_quarter_key(c, q), _co_sponsored(d.initiative_id, stage, d.cross_border, d.region)) for c in co),
    ]


def _identity(key: str) -> Doc:
    """The fields that let a document be found: its kind and what it is about."""
    kind, *rest = key.split("|")
    if kind == "region":
        return {"kind": "region", "region": rest[0], "quarter": rest[1]}
    if kind == "council-q":
        return {"kind": "council_quarter", "council_id": rest[0], "quarter": rest[1]}
    if kind == "council":
        return {"kind": "council", "council_id": rest[0]}
    return {"kind": "sme_orgs", "region": rest[0]}


def _folded(key: str, fold: Fold) -> Fold:
    return lambda doc: fold({**doc, **_identity(key)})


async def ensure_indexes(store: DocumentStore, collection: str) -> None:
    """What the routes read by: a region's cells, a council's cells, every document of a kind."""
    await store.ensure_index(collection, ["kind", "region"])
    await store.ensure_index(collection, ["kind", "council_id"])


async def live_collection(store: DocumentStore) -> str:
    meta = await store.get(META, META_ID)
    return f"{PREFIX}{meta['generation'] if meta else 1}"


class DashboardProjection:
    """Keeps the live generation of the dashboards from every service's events."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store
        self._indexed: set[str] = set()

    async def handle(self, event: CloudEvent) -> None:
        collection = await live_collection(self.store)
        await self.apply(collection, event)

    async def apply(self, collection: str, event: CloudEvent) -> None:
        if collection not in self._indexed:
            await ensure_indexes(self.store, collection)
            self._indexed.add(collection)

        async def find_ids(filter: Doc) -> list[str]:
            return [str(d["_id"]) for d in await self.store.find(collection, filter)]

        for key, fold in await changes(event, find_ids):
            await apply_once(self.store, collection, key, event.id, _folded(key, fold))


async def rebuild(store: DocumentStore, bus: EventBus, topics: Sequence[str]) -> dict[str, Any]:
    """Replay the whole log into a new generation (in memory, through the same folds), write it, make it
    live, then apply once what was published meanwhile. The old generation is left in place."""
    t0 = time.perf_counter()
    meta = await store.get(META, META_ID)
    generation = (meta["generation"] if meta else 1) + 1
    target = f"{PREFIX}{generation}"
    mark = await bus.high_water(topics)
    docs: dict[str, Doc] = {}
    seen: set[str] = set()

    async def find_ids(filter: Doc) -> list[str]:
        return [k for k, d in docs.items() if all(d.get(f) == v for f, v in filter.items())]

    async for _, event in bus.read(topics):
        if event.id in seen:
            continue
        seen.add(event.id)
        for key, fold in await changes(event, find_ids):
            doc = docs.get(key) or {"_id": key, APPLIED: []}
            applied = doc.pop(APPLIED)
            doc = _folded(key, fold)(doc)
            doc[APPLIED] = [*applied, event.id]
            docs[key] = doc
    await ensure_indexes(store, target)
    for doc in docs.values():
        doc[APPLIED] = applied_record(doc[APPLIED])  # the ids gathered in memory, as apply_once records them
        await store.insert(target, doc)
    if meta is None:
        await store.insert(META, {"_id": META_ID, "generation": generation})
    else:
        await store.replace(META, {**meta, "generation": generation}, meta["version"])
    caught_up = 0
    if await bus.high_water(topics) != mark:
        projection = DashboardProjection(store)
        async for _, event in bus.read(topics):
            if event.id not in seen:
                await projection.apply(target, event)
                caught_up += 1
    log.info("council dashboards rebuilt: generation %d, %d events, %d documents", generation, len(seen), len(docs))
    return {
        "generation": generation,
        "events": len(seen),
        "documents": len(docs),
        "caught_up": caught_up,
        "seconds": round(time.perf_counter() - t0, 3),
    }
