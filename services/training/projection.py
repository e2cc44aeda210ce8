"""The benchmark projection: peer-group moments fed by ``PracticesAssessed``, each event applied once,
rebuilt by replaying the log. Answers read a few group documents, never the firms (O(groups)).

Documents (collection ``peers_g<N>``; ``peers_meta`` names the live generation):
- ``<instrument>|<level>|<parts…>``: a peer group (``domain.benchmark``): its identity, its ``parent``,
  ``n``, and the moments of the overall score and of each practice.
- ``sme|<instrument>|<sme id>``: the SME's latest contribution (assessment id and time, its organisation,
  the groups it counts in, its scores): what a newer assessment replaces and what the benchmarks of its
  organisation take out. The organisation is the assessment's (stored with it at submission, from
  mapping's ``SMEAssessed``), read by assessment id; ``sme:<id>`` when it names none.

An organisation's count in a group (for the group's ``org_sizes``) is read from that organisation's
other contributions before the event is applied: events are applied one at a time (one consumer).

An event changes the groups of the SME's old and new contributions first and its contribution document
last, each with ``apply_once``: a redelivery after a crash in between recomputes the same changes from the
unchanged contribution and skips the groups already done. An assessment older than the SME's latest
(by time, then id) changes nothing. Events of one SME arrive in order: they are keyed by the SME's id.

Partners (issue 18): the projection is a federated consumer, so partner regions' ``PracticesAssessed``
(replicated as ``<alias>.training.events``) fold into the same groups as this region's, through the same
steps: a partner's firms are peers in the network's groups (and in their own region's, council's and
country's groups, which this region's SMEs never read), and disclosure control counts them like any
other (a group below the threshold stays suppressed). A partner's contribution is keyed by its region
and SME id (``<REGION>/<sme id>``, so two regions' ids never collide); its organisation is the one the
event names when that organisation is the partner's own (``<REGION>:<claim>``), else the SME itself. A
newer assessment from the partner replaces its older one, an older one changes nothing, a redelivered
replica applies once: exactly as for a local SME. A partner event whose SME is of another region than
the partner is not folded (one region never speaks for another).

Erasure: mapping's ``SMEErased`` (this region's, or a partner's replicated ``<alias>.mapping.events`` about
its own SME) takes the SME's contributions out of every group they count in, through the same folds with
nothing new, and leaves a tombstone (``kind: erased``) in place of the contribution document, so that an
assessment of the SME delivered again afterwards (a redelivery, a replay) adds nothing back.
"""

from __future__ import annotations

import logging
import time
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from clustergrowth.bus.federation import ForeignEvent, Origin, origin_of, replicas
from clustergrowth.bus.port import EventBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.inbox import APPLIED, applied_record, apply_once
from clustergrowth.store.port import Doc, DocumentStore
from contracts import mapping as mapping_ev
from contracts import training as ev
from services.training import store as st
from services.training.domain import benchmark as bm

log = logging.getLogger("services.training.projection")
GROUP = "training.benchmarks"
TOPICS = [ev.TOPIC, mapping_ev.TOPIC]  # assessments, and mapping's erasures
META, META_ID, PREFIX = "peers_meta", "peers", "peers_g"
ASSESSED = ev.PracticesAssessed.event_type()
ERASED = mapping_ev.SMEErased.event_type()
INSTRUMENTS = typing.get_args(ev.InstrumentId)
TOMBSTONE = "erased"  # the kind of an erased SME's contribution document


def contribution_id(instrument: str, sme_id: str) -> str:
    """The document of an SME's contribution (``sme_id``: a local SME's id, or a partner's ``subject``)."""
    return f"sme|{instrument}|{sme_id}"


def subject(sme_id: str, partner: str | None = None) -> str:
    """Whose contribution: a local SME by its id, a partner region's as ``<REGION>/<id>`` (ids here have
    no ``/``, so a partner's SME never takes a local SME's place, nor another partner's)."""
    return sme_id if partner is None else f"{partner}/{sme_id}"


def partner_org(data: Doc, partner: str) -> str:
    """The organisation of a partner's assessment: the one its event names when it is the partner's own
    (``<REGION>:<claim>``), else the SME itself (a partner speaks for its own organisations only)."""
    org = data.get("organisation")
    if isinstance(org, str) and org.startswith(f"{partner}:"):
        return org
    return own_org(subject(str(data["sme_id"]), partner))


def contribution(d: ev.PracticesAssessed, organisation: str | None = None) -> dict[str, Any]:
    f = bm.Facts(d.nace_division, d.nace_section, d.region, d.country, d.size_class, tuple(d.councils))
    return {
        "assessment_id": d.assessment_id,
        "assessed_at": d.assessed_at,
        "organisation": organisation or own_org(d.sme_id),
        "groups": bm.memberships(d.instrument, f),
        "overall": d.overall,
        "scores": dict(d.scores),
    }


def own_org(sme_id: str) -> str:
    """The organisation of an SME that names none: itself."""
    return f"sme:{sme_id}"


async def organisation_of(store: DocumentStore, d: Doc) -> str:
    """The organisation of an assessment's SME as stored with the assessment (``sme:<id>`` if none)."""
    a = await store.get(st.ASSESSMENTS, str(d["assessment_id"]))
    org = (a or {}).get("organisation")
    return str(org) if org else own_org(str(d["sme_id"]))


def _old(current: Doc | None) -> dict[str, Any] | None:
    old = current.get("contribution") if current else None
    if old is not None and "organisation" not in old and current is not None:
        old = {**old, "organisation": current.get("organisation") or own_org(str(current["sme_id"]))}
    return old


def _newer(new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    return old is None or (new["assessed_at"], new["assessment_id"]) > (old["assessed_at"], old["assessment_id"])


class Changes(list[tuple[str, Any]]):
    """(document id, fold) pairs for one event: its groups narrowest first, then the SME's contribution.
    ``below`` collects each group's entry (``domain.benchmark.entry``) as its fold leaves it, for the groups
    it nests in (which come later); a step skipped as applied already must fill it from the stored
    document (``note``)."""

    def __init__(self) -> None:
        super().__init__()
        self.below: dict[str, Doc] = {}

    def note(self, doc: Doc) -> None:
        if doc.get("level"):
            self.below[doc["_id"]] = bm.entry(doc)


def involved(current: Doc | None, organisation: str) -> list[str]:
    """The organisations an event moves counts of: the SME's old contribution's and the new one's."""
    old = _old(current)
    return list(dict.fromkeys([*([old["organisation"]] if old else []), organisation]))


def changes(
    event: CloudEvent,
    current: dict[str, Any] | None,
    in_place: bool = False,
    organisation: str | None = None,
    same_org: Mapping[str, Sequence[dict[str, Any]]] | None = None,
    partner: str | None = None,
) -> Changes:
    """The steps of one event, given the SME's current contribution, the organisation of the assessment and
    the current contributions of the other SMEs of the organisations involved (``involved``); ``in_place``:
    folds that change the document they get, for the rebuild's own documents; ``partner``: the partner
    region whose replicated event it is (None: this region's)."""
    out = Changes()
    if event.type != ASSESSED or (current is not None and current.get("kind") == TOMBSTONE):
        return out  # an erased SME's assessment delivered again adds nothing back
    d = ev.PracticesAssessed.model_validate(event.data)
    new = contribution(d, organisation)
    old = _old(current)
    if old is not None and not _newer(new, old):
        return out
    moves = bm.org_moves(old, new, same_org or {})
    for g in bm.ordered([*(old["groups"] if old else []), *new["groups"]]):
        out.append((g, _group_fold(g, old, new, in_place, out, moves)))
    out.append((contribution_id(d.instrument, subject(d.sme_id, partner)), _own_fold(d, new, partner)))
    return out


def erasure(
    event: CloudEvent,
    current: dict[str, Any] | None,
    own_id: str,
    in_place: bool = False,
    same_org: Mapping[str, Sequence[dict[str, Any]]] | None = None,
) -> Changes:
    """The steps of an SME's erasure for one instrument's contribution (``own_id``): out of every group it
    counts in, then the tombstone in its place (an erased one again: nothing)."""
    out = Changes()
    if current is not None and current.get("kind") == TOMBSTONE:
        return out
    old = _old(current)
    if old is not None:
        moves = bm.org_moves(old, None, same_org or {})
        for g in bm.ordered(old["groups"]):
            out.append((g, _group_fold(g, old, None, in_place, out, moves)))
    keep = ("_id", "sme_id", "instrument", "partner", APPLIED)
    out.append(
        (own_id, lambda doc: {**{k: doc[k] for k in keep if k in doc}, "kind": TOMBSTONE, "erased_at": event.time})
    )
    return out


def _group_fold(
    gid: str, old: dict[str, Any] | None, new: dict[str, Any] | None, in_place: bool, steps: Changes, moves: bm.Moves
) -> Any:
    step = bm.accumulate if in_place else bm.fold

    def run(doc: Doc) -> Doc:
        result: Doc = step(doc, gid, old, new, steps.below, moves)
        steps.note(result)
        return result

    return run


def _own_fold(d: ev.PracticesAssessed, new: dict[str, Any], partner: str | None) -> Any:
    return lambda doc: {
        **doc,
        "kind": "contribution",
        "sme_id": d.sme_id,
        "partner": partner,
        "instrument": d.instrument,
        "organisation": new["organisation"],
        "contribution": new,
    }


async def ensure_indexes(store: DocumentStore, collection: str) -> None:
    await store.ensure_index(collection, ["parent"])
    await store.ensure_index(collection, ["level", "instrument"])
    await store.ensure_index(collection, ["organisation", "instrument"])


async def org_contributions(store: DocumentStore, collection: str, organisation: str, instrument: str) -> list[Doc]:
    """The contribution documents of an organisation's SMEs for one instrument."""
    q = {"organisation": organisation, "instrument": instrument, "kind": "contribution"}
    return await store.find(collection, q)


async def live_collection(store: DocumentStore) -> str:
    meta = await store.get(META, META_ID)
    return f"{PREFIX}{meta['generation'] if meta else 1}"


def speaks_for_itself(event: CloudEvent, origin: Origin | None) -> bool:
    """A local event, or a partner's about an SME of the partner's own region."""
    if origin is None or origin.partner is None:
        return True
    if event.data.get("region") == origin.partner:
        return True
    log.warning("partner %s event %s names region %r: not folded", origin.partner, event.id, event.data.get("region"))
    return False


class PeerProjection:
    """Keeps the live generation of the peer groups from this region's and partners' ``PracticesAssessed``."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store
        self._indexed: set[str] = set()

    async def handle(self, event: CloudEvent, origin: Origin | None = None) -> None:
        await self.apply(await live_collection(self.store), event, origin)

    async def apply(self, collection: str, event: CloudEvent, origin: Origin | None = None) -> None:
        if event.type not in (ASSESSED, ERASED) or not speaks_for_itself(event, origin):
            return
        if collection not in self._indexed:
            await ensure_indexes(self.store, collection)
            self._indexed.add(collection)
        d = event.data
        partner = origin.partner if origin is not None else None
        for inst in [str(d["instrument"])] if event.type == ASSESSED else INSTRUMENTS:
            own_id = contribution_id(inst, subject(str(d["sme_id"]), partner))
            current = await self.store.get(collection, own_id)
            if event.type == ASSESSED:
                org = partner_org(d, partner) if partner else await organisation_of(self.store, d)
            else:
                org = (_old(current) or {}).get("organisation") or own_org(subject(str(d["sme_id"]), partner))
            same_org = {
                o: [
                    c["contribution"]
                    for c in await org_contributions(self.store, collection, o, inst)
                    if c["_id"] != own_id
                ]
                for o in involved(current, org)
            }
            if event.type == ASSESSED:
                steps = changes(event, current, organisation=org, same_org=same_org, partner=partner)
            else:
                steps = erasure(event, current, own_id, same_org=same_org)
            await self._run(collection, event, steps)

    async def _run(self, collection: str, event: CloudEvent, steps: Changes) -> None:
        for key, fold in steps:
            if not await apply_once(self.store, collection, key, event.id, fold):
                steps.note(await self.store.get(collection, key) or {})


async def _fold_in_memory(
    store: DocumentStore,
    docs: dict[str, Doc],
    by_org: dict[tuple[str, str], set[str]],
    event: CloudEvent,
    inst: str,
    partner: str | None,
) -> None:
    """One event's steps for one instrument on the rebuild's own documents (``by_org``: (organisation,
    instrument) -> its contribution documents, kept in step)."""
    d = event.data
    own_id = contribution_id(inst, subject(str(d["sme_id"]), partner))
    current = docs.get(own_id)
    if event.type == ASSESSED:
        org = partner_org(d, partner) if partner else await organisation_of(store, d)
    else:
        org = (_old(current) or {}).get("organisation") or own_org(subject(str(d["sme_id"]), partner))
    same_org = {
        o: [docs[k]["contribution"] for k in sorted(by_org.get((o, inst), ())) if k != own_id]
        for o in involved(current, org)
    }
    if event.type == ASSESSED:
        steps = changes(event, current, in_place=True, organisation=org, same_org=same_org, partner=partner)
    else:
        steps = erasure(event, current, own_id, in_place=True, same_org=same_org)
    for key, fold in steps:
        doc = docs.get(key) or {"_id": key, APPLIED: []}
        applied = doc.pop(APPLIED)
        doc = fold(doc)
        applied.append(event.id)
        doc[APPLIED] = applied
        docs[key] = doc
    after = docs.get(own_id)
    if after is not current:
        if current is not None and current.get("kind") == "contribution":
            by_org.get((str(current.get("organisation")), inst), set()).discard(own_id)
        if after is not None and after.get("kind") == "contribution":
            by_org.setdefault((str(after["organisation"]), inst), set()).add(own_id)


async def rebuild(
    store: DocumentStore, bus: EventBus, topics: Sequence[str] = (), region: str | None = None
) -> dict[str, Any]:
    """Replay the whole log into a new generation (in memory, through the same folds), write it, make it
    live, then apply once what was published meanwhile. The old generation is left in place. With this
    ``region``, partners' replicas of the topics that exist on the bus are replayed too (``partners`` in
    the answer: how many events of each partner region were read)."""
    t0 = time.perf_counter()
    local = list(topics) or TOPICS
    topics = [*local, *(await replicas(bus, local, region) if region else [])]
    partners: dict[str, int] = {}

    def origin(topic: str, event: CloudEvent) -> Origin | None:
        """Where an event read back comes from (None: a partner's replica that is not its own)."""
        try:
            return origin_of(topic, event, local, region or "")
        except ForeignEvent:
            return None

    meta = await store.get(META, META_ID)
    generation = (meta["generation"] if meta else 1) + 1
    target = f"{PREFIX}{generation}"
    mark = await bus.high_water(topics)
    docs: dict[str, Doc] = {}
    by_org: dict[tuple[str, str], set[str]] = {}  # (organisation, instrument) -> its contribution documents
    seen: set[str] = set()
    async for topic, event in bus.read(topics):
        if event.id in seen or event.type not in (ASSESSED, ERASED):
            continue
        came = origin(topic, event)
        if came is None or not speaks_for_itself(event, came):
            continue
        seen.add(event.id)
        d, partner = event.data, came.partner
        if partner:
            partners[partner] = partners.get(partner, 0) + 1
        for inst in [str(d["instrument"])] if event.type == ASSESSED else INSTRUMENTS:
            await _fold_in_memory(store, docs, by_org, event, inst, partner)
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
        projection = PeerProjection(store)
        async for topic, event in bus.read(topics):
            came = origin(topic, event)
            if event.id not in seen and came is not None:
                await projection.apply(target, event, came)
                caught_up += 1
    log.info("peer groups rebuilt: generation %d, %d events, %d documents", generation, len(seen), len(docs))
    return {
        "generation": generation,
        "events": len(seen),
        "documents": len(docs),
        "caught_up": caught_up,
        "partners": partners,
        "seconds": round(time.perf_counter() - t0, 3),
    }
