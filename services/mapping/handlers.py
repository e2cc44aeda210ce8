"""Mapping use cases: register, assess, export, erase; read the cluster map and spotlights."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from clustergrowth import aggregate, ids
from clustergrowth.auth import Principal
from clustergrowth.context import Context, public
from clustergrowth.envelope import CloudEvent
from clustergrowth.paging import PageRequest
from clustergrowth.problems import NotFound, ServiceUnavailable, Unprocessable, field_error
from clustergrowth.store.port import Doc, put
from contracts import mapping as ev
from services.mapping import commands as c
from services.mapping import store as st
from services.mapping.domain import aggregates, cluster
from services.mapping.domain.codes import code_lists, division
from services.mapping.domain.instrument import instrument, latest
from services.mapping.domain.model import size_class

REGISTRARS = ("sme_member", "region_admin", "council_secretary")
READERS_ALL = ("region_admin", "council_secretary", "analyst")  # read every SME of the region
EXPORTERS = ("region_admin", "council_secretary")  # export or assess any SME of the region
ERASERS = ("region_admin",)  # erase any SME of the region


@dataclass
class CellReads:
    """What the reads made of each cell document, by the document's version: a cell's needs (the map)
    and its decoded aggregates (the spotlight). A stored document's version only grows (every write is a
    compare-and-set that sets version + 1), cells are never deleted, and a rebuild writes a new
    collection, so (collection, id, version) names one content. Each read keeps only the cells it read:
    as many entries as cells."""

    needs: dict[tuple[str, str], tuple[int, Doc]] = field(default_factory=dict)
    aggs: dict[tuple[str, str], tuple[int, aggregates.CellAgg]] = field(default_factory=dict)
    live: str | None = None  # the live generation's collection at the last read


@dataclass
class Mapping(Context):
    """The mapping service's handler context, with the cluster-star thresholds."""

    service: str = "mapping"
    thresholds: cluster.Thresholds = field(default_factory=cluster.Thresholds)
    reads: CellReads = field(default_factory=CellReads, repr=False, compare=False)


def _owner_or(who: Principal, doc: Doc, staff: tuple[str, ...]) -> bool:
    """Object-level rule: the SME's own organisation, the person who registered it, or the region staff
    that THIS action admits (a role that may only read never lends its reach to a write, whatever other
    role the caller holds)."""
    return (
        who.has(*staff)
        or doc.get("created_by") == who.id
        or (who.org is not None and doc.get("organisation") == who.org)
    )


def _readable_by(who: Principal) -> Doc:
    """``_owner_or`` as a store filter, so that a page holds only SMEs the caller may read."""
    if who.has(*READERS_ALL):
        return {}
    mine: list[Doc] = [{"created_by": who.id}]
    if who.org is not None:
        mine.append({"organisation": who.org})
    return {"$or": mine}


async def register(m: Mapping, cmd: c.RegisterSME, who: Principal, sme_id: str | None = None) -> Doc:
    who.require(*REGISTRARS)
    codes = code_lists()
    if cmd.nuts3 not in codes.nuts3_of(cmd.region):
        raise field_error("nuts3", f"{cmd.nuts3!r} is not a NUTS-3 region of {cmd.region}")
    if codes.country_of(cmd.region) != cmd.country:
        raise field_error("country", f"region {cmd.region} is in {codes.country_of(cmd.region)}, not {cmd.country}")
    now = m.now()
    sid = sme_id or f"sme-{ids.uuid4().hex[:12]}"
    doc: Doc = {
        "_id": sid,
        **cmd.model_dump(mode="json"),
        "size_class": size_class(cmd.headcount, cmd.turnover_eur, cmd.balance_sheet_eur),
        "sector": division(cmd.nace_primary),
        "consent": {**cmd.consent.model_dump(mode="json"), "recorded_at": now, "recorded_by": who.id},
        "organisation": who.org,
        "created_by": who.id,
        "registered_at": now,
        "assessments": [],
    }
    event = m.event(
        ev.SMERegistered(
            sme_id=sid,
            region=cmd.region,
            nuts3=cmd.nuts3,
            country=cmd.country,
            nace=cmd.nace_primary,
            sector=doc["sector"],
            size_class=doc["size_class"],
            headcount=cmd.headcount,
            councils=cmd.councils,
        ),
        key=sid,
    )
    await aggregate.save(m.store, st.SMES, doc, [event], expected_version=None, on_saved=m.notify)
    return public(doc)


def _visible(doc: Doc | None, sme_id: str, who: Principal, staff: tuple[str, ...] = READERS_ALL) -> Doc:
    """The SME if the caller may act on it; anyone else gets 404, as if it did not exist."""
    if doc is None or doc.get("erased") or not _owner_or(who, doc, staff):
        raise NotFound(f"no SME {sme_id}")
    return doc


async def get(m: Mapping, sme_id: str, who: Principal, staff: tuple[str, ...] = READERS_ALL) -> Doc:
    return _visible(await m.store.get(st.SMES, sme_id), sme_id, who, staff)


async def list_smes(m: Mapping, who: Principal, region: str | None, sector: str | None, page: PageRequest) -> list[Doc]:
    """One page of the SMEs the caller may read, by name: the store seeks to the cursor."""
    q: dict[str, Any] = {"erased": {"$ne": True}, **_readable_by(who)}
    if region:
        q["region"] = region
    if sector:
        q["sector"] = sector
    return [public(d) for d in await page.query(m.store, st.SMES, q, [("legal_name", 1)])]


async def assess(m: Mapping, sme_id: str, cmd: c.SubmitAssessment, who: Principal) -> Doc:
    """Score a submission against its instrument version and keep it in the SME's history."""
    answers = dict(cmd.answers)

    async def add(stored: Doc | None) -> tuple[Doc, list[CloudEvent], Doc]:
        doc = _visible(stored, sme_id, who, EXPORTERS)  # someone else's SME is 404 before anything about the answers
        inst = instrument(cmd.instrument_version)
        scores, top = inst.score(answers)  # type: ignore[arg-type]  # validates: 422 naming each answer
        now = m.now()
        result = {
            "id": f"asm-{ids.uuid4().hex[:12]}",
            "instrument_version": inst.version,
            "answers": answers,
            "scores": scores,
            "top_needs": top,
            "assessed_at": now,
            "assessed_by": who.id,
        }
        event = m.event(
            ev.SMEAssessed(
                sme_id=sme_id,
                assessment_id=result["id"],
                region=doc["region"],
                nace=doc["nace_primary"],
                sector=doc["sector"],
                size_class=doc["size_class"],
                headcount=doc["headcount"],
                councils=doc.get("councils", []),
                instrument_version=inst.version,
                scores=scores,
                top_needs=top,
                assessed_at=now,
                organisation=doc.get("organisation"),
            ),
            key=sme_id,
        )
        return {**doc, "assessments": [*doc.get("assessments", []), result]}, [event], result

    return await aggregate.update(m.store, st.SMES, sme_id, add, on_saved=m.notify, busy="the SME record is busy")


async def export(m: Mapping, sme_id: str, who: Principal) -> Doc:
    """Everything held about an SME, for its data-portability right."""
    return {**public(await get(m, sme_id, who, EXPORTERS)), "exported_at": m.now()}


async def erase(m: Mapping, sme_id: str, who: Principal) -> None:
    """Erase an SME's data; ``SMEErased`` makes every projection forget it."""
    doc = await get(m, sme_id, who, ERASERS)
    tomb: Doc = {
        "_id": sme_id,
        "erased": True,
        "erased_at": m.now(),
        "region": doc["region"],
        "sector": doc["sector"],
        "outbox": doc.get("outbox", []),
    }
    event = m.event(ev.SMEErased(sme_id=sme_id, region=doc["region"], sector=doc["sector"]), key=sme_id)
    try:
        await aggregate.save(m.store, st.SMES, tomb, [event], expected_version=doc["version"], on_saved=m.notify)
    except aggregate.ConcurrentUpdate as e:
        raise ServiceUnavailable("the SME record changed meanwhile; try again") from e


# Employment statistics ----------------------------------------------------------------------------
async def import_employment(m: Mapping, csv_text: str, who: Principal) -> dict[str, int]:
    """Import ``region,sector,employees`` rows; all rows are checked before any is written."""
    who.require("region_admin", "council_secretary")
    try:
        reader = csv.DictReader(io.StringIO(csv_text, newline=""))
        header, parsed = reader.fieldnames, list(reader)
    except csv.Error as e:
        raise field_error("csv", f"is not readable CSV: {e}") from e
    if header is None or {"region", "sector", "employees"} - set(header):
        raise field_error("csv", "needs a header row with region,sector,employees")
    codes = code_lists()
    rows, errors = [], []
    for n, row in enumerate(parsed, start=2):
        region, sector, employees = ((row.get(k) or "").strip() for k in ("region", "sector", "employees"))
        if region not in codes.regions:
            errors.append({"field": f"line {n}.region", "reason": f"unknown NUTS-2 code {region!r}"})
        if sector not in codes.nace or "." in sector:
            errors.append({"field": f"line {n}.sector", "reason": f"not a NACE division {sector!r}"})
        if not (employees.isascii() and employees.isdigit()):
            errors.append({"field": f"line {n}.employees", "reason": f"not a whole number {employees!r}"})
        rows.append((region, sector, employees))
    if errors:
        raise Unprocessable(f"{len(errors)} problem(s) in the CSV; nothing was imported", errors)
    for region, sector, employees in rows:
        cid = st.cell_id(region, sector)
        doc = {
            "_id": cid,
            "region": region,
            "sector": sector,
            "employees": int(employees),
            "imported_by": who.id,
            "imported_at": m.now(),
        }
        await put(m.store, st.EMPLOYMENT, doc)
    return {"imported": len(rows)}


# Reading the map ----------------------------------------------------------------------------------
async def _cell_docs(m: Mapping) -> list[tuple[str, Doc]]:
    """The live generation's cell aggregates (one small document per cell, whatever the number of SMEs),
    and partner regions' cells as replicated here: the map and the spotlight are the network's. Each
    with the collection it was read from."""
    guess = m.reads.live  # read together with the pointer; read again only if a rebuild moved it
    live, network, cells = await asyncio.gather(
        st.active_cells(m.store),
        m.store.find(st.NETWORK_CELLS, {}),
        m.store.find(guess, {}) if guess is not None else asyncio.sleep(0, []),
    )
    if live != guess:
        cells = await m.store.find(live, {})
    m.reads.live = live
    partners = [(st.NETWORK_CELLS, d) for d in network if d["region"] != m.region]
    return [*((live, d) for d in cells), *partners]


T = TypeVar("T")


def _per_cell(
    kept: dict[tuple[str, str], tuple[int, T]], docs: list[tuple[str, Doc]], make: Callable[[Doc], T]
) -> dict[cluster.Cell, T]:
    """``make(doc)`` for every cell, computed again only for a document whose version changed."""
    out: dict[cluster.Cell, T] = {}
    fresh: dict[tuple[str, str], tuple[int, T]] = {}
    for collection, d in docs:
        key = (collection, d["_id"])
        hit = kept.get(key)
        if hit is None or hit[0] != d["version"]:
            hit = (d["version"], make(d))
        fresh[key] = hit
        out[(d["region"], d["sector"])] = hit[1]
    kept.clear()
    kept.update(fresh)
    return out


def _known_region(region: str | None) -> None:
    if region is not None and region not in code_lists().regions:
        raise field_error("region", f"unknown NUTS-2 code {region!r}")


async def cluster_map(m: Mapping, region: str | None = None) -> list[Doc]:
    _known_region(region)
    dims = [d.id for d in latest().dimensions]
    docs, employment = await asyncio.gather(_cell_docs(m), m.store.find(st.EMPLOYMENT, {}))
    sme_emp = {(d["region"], d["sector"]): d["all"]["headcount"] for _, d in docs}
    cells = _per_cell(m.reads.needs, docs, lambda d: aggregates.needs_of(d["all"], dims))
    stats = {(d["region"], d["sector"]): d["employees"] for d in employment}
    strength = cluster.strengths(sme_emp, stats, m.thresholds)
    empty = aggregates.needs_of(aggregates.Agg().encode(), dims)
    out = []
    for cell in sorted(set(cells) | set(strength)):
        if region and cell[0] != region:
            continue
        needs = cells.get(cell, empty)
        out.append(
            {
                "region": cell[0],
                "sector": cell[1],
                **needs,
                # copies: the kept needs are never handed out
                "mean_scores": dict(needs["mean_scores"]),
                "top3_share": dict(needs["top3_share"]),
                "trend": dict(needs["trend"]),
                "strength": strength.get(cell),
            }
        )
    return out


async def spotlight(m: Mapping, region: str | None = None, council: str | None = None) -> Doc:
    """The whole spotlight, every mean however few SMEs are behind it: for the region-by-region heatmap of
    the cluster map (which warns on small cells rather than hiding them). People read ``spotlight_for``."""
    _known_region(region)
    dims = [d.id for d in latest().dimensions]
    cells = _per_cell(m.reads.aggs, await _cell_docs(m), aggregates.CellAgg.decode)
    return aggregates.spotlight(cells, dims, region=region, council=council)  # reads them, never changes them


async def spotlight_for(m: Mapping, who: Principal, region: str | None = None, council: str | None = None) -> Doc:
    """The spotlight as ``who`` may read it (``aggregates.disclosed_spotlight``): means and shares only where
    enough SMEs are assessed, except of the SMEs ``who`` may read one by one anyway: this region's staff
    (``READERS_ALL``, who read every SME of the region and its assessments) see this region's small cells;
    nobody here reads a partner region's SMEs, so their small cells stay withheld for everyone."""
    _known_region(region)
    dims = [d.id for d in latest().dimensions]
    cells = _per_cell(m.reads.aggs, await _cell_docs(m), aggregates.CellAgg.decode)
    readable = frozenset({m.region}) if who.has(*READERS_ALL) else frozenset()
    return aggregates.disclosed_spotlight(cells, dims, region=region, council=council, readable=readable)
