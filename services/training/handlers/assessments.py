"""Assessments: an SME of the caller's organisation answers an instrument; scored once, stored with the
instrument version, published as ``PracticesAssessed`` (keyed by the SME, so its assessments stay in
order). A re-assessment names the assessment it follows and is compared with it."""

from __future__ import annotations

from typing import Any

from clustergrowth import aggregate, ids
from clustergrowth.auth import Principal
from clustergrowth.paging import PageRequest
from clustergrowth.problems import Conflict, NotFound, field_error
from clustergrowth.store.port import Doc
from contracts import training as ev
from services.training import commands as c
from services.training import store as st
from services.training.domain import comparison
from services.training.domain.instrument import Instrument, instrument, latest
from services.training.handlers.context import Training


async def own_sme(t: Training, sme_id: str, who: Principal) -> Doc:
    """Only an SME of the caller's organisation (known here from mapping's ``SMEAssessed``) is assessed."""
    known = await t.store.get(st.SMES, sme_id)
    if known is None or who.org is None or known.get("organisation") != who.org:
        raise field_error("sme_id", "is not an SME of your organisation (as known here from its needs assessments)")
    return known


async def visible(t: Training, aid: str, who: Principal) -> Doc:
    """An assessment, for its SME's organisation only; 404 for everyone else."""
    doc = await t.store.get(st.ASSESSMENTS, aid)
    if doc is None or who.org is None or doc["organisation"] != who.org:
        raise NotFound(f"no assessment {aid}")
    return doc


async def assess(t: Training, cmd: c.AssessPractices, who: Principal) -> Doc:
    sme = await own_sme(t, cmd.sme_id, who)
    inst = instrument(cmd.instrument, cmd.instrument_version) if cmd.instrument_version else latest(cmd.instrument)
    if cmd.previous_assessment_id is not None:
        prev = await t.store.get(st.ASSESSMENTS, cmd.previous_assessment_id)
        if prev is None or prev["sme_id"] != cmd.sme_id or prev["instrument"] != cmd.instrument:
            raise field_error("previous_assessment_id", f"is not an earlier {cmd.instrument} assessment of this SME")
    return await record(t, sme, inst, cmd.answers, cmd.previous_assessment_id, f"as-{ids.uuid4().hex[:12]}", who.id)


async def record(
    t: Training, sme: Doc, inst: Instrument, answers: dict[str, Any], previous: str | None, aid: str, by: str
) -> Doc:
    """Score the answers once (422 naming each bad one; nothing stored) and store the assessment with its
    ``PracticesAssessed`` in one write."""
    scores, areas, overall = inst.score(answers)
    now = t.now()
    doc: Doc = {
        "_id": aid,
        "sme_id": sme["_id"],
        "organisation": sme["organisation"],
        "region": sme["region"],
        "country": sme["country"],
        "nace_division": sme["nace_division"],
        "nace_section": sme["nace_section"],
        "size_class": sme["size_class"],
        "councils": sme["councils"],
        "instrument": inst.id,
        "instrument_version": inst.version,
        "scale": {"min": inst.scale_min, "max": inst.scale_max},
        "answers": dict(answers),
        "scores": scores,
        "areas": areas,
        "overall": overall,
        "previous_assessment_id": previous,
        "assessed_at": now,
        "assessed_by": by,
    }
    data = ev.PracticesAssessed(
        assessment_id=aid,
        sme_id=sme["_id"],
        instrument=inst.id,  # type: ignore[arg-type]
        instrument_version=inst.version,
        region=doc["region"],
        country=doc["country"],
        nace_division=doc["nace_division"],
        nace_section=doc["nace_section"],
        size_class=doc["size_class"],
        councils=doc["councils"],
        scores=scores,
        areas=areas,
        overall=overall,
        previous_assessment_id=previous,
        assessed_at=now,
        organisation=sme.get("organisation"),
    )
    events = t.events([data], key=sme["_id"], subject=aid)
    await aggregate.save(t.store, st.ASSESSMENTS, doc, events, expected_version=None, on_saved=t.notify)
    return doc


NEWEST_FIRST = [("assessed_at", -1)]


async def list_assessments(t: Training, who: Principal, page: PageRequest, sme_id: str | None) -> list[Doc]:
    """Assessments of the caller's organisation's SMEs, newest first."""
    if who.org is None:
        return []
    q: Doc = {"organisation": who.org, **({"sme_id": sme_id} if sme_id else {})}
    return await page.query(t.store, st.ASSESSMENTS, q, NEWEST_FIRST)


async def compare(t: Training, aid: str, who: Principal) -> dict[str, Any]:
    """A re-assessment against its baseline, with the goals of the plan made from the baseline."""
    current = await visible(t, aid, who)
    base_id = current.get("previous_assessment_id")
    if base_id is None:
        raise Conflict(f"assessment {aid} is not a re-assessment (it names no previous assessment)")
    baseline = await visible(t, base_id, who)
    plan = await t.store.get(st.PLANS, st.plan_id(base_id))
    return comparison.compare(baseline, current, plan)
