"""Mobility placement rules (EYE-style): applicants and hosts with what they offer and seek, screened by
the intermediary of their own region; a placement proposed with a draft agreement (objectives, activity
plan, 1-4 parts of 1-26 weeks in all, within twelve months), accepted by all four parties on one
revision of its terms; then active from its first day, with reports from both sides; completed (final
reports from both sides, on or after its last day) or ended early with a reason.

Pure: documents in, documents and event data out; ``now`` (a UTC stamp) and ``today`` are given.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from clustergrowth.auth import Principal
from clustergrowth.problems import Conflict, Forbidden, field_error
from contracts import training as ev
from services.training.placements.commands import MAX_WEEKS, PARTIES

Doc = dict[str, Any]
STAFF = ("region_admin", "council_secretary")  # the hosting partner's staff: the region's intermediary
NEW_ENTREPRENEUR_YEARS = 3  # started within three years (or not yet)
HOST_MIN_YEARS = 3  # a host has run its organisation for at least three years
MAX_SPAN_DAYS = 365  # every part within twelve months of the first day
MAX_REPORTS = 30
OPEN = ("proposed", "agreed")
SIDES = {"applicant": "applicant", "host": "host"}  # who reports: the two sides of the stay


def country(region: str) -> str:
    """A NUTS-2 code's country (its first two letters)."""
    return region[:2]


def is_intermediary(who: Principal, region: str) -> bool:
    """Staff of the hosting partner of ``region`` (a partner's, through an explicit role mapping)."""
    return who.has(*STAFF) and who.region == region


def years_before(day: date, years: int) -> date:
    """The same day ``years`` earlier (29 February becomes the 28th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


# Applicants and hosts --------------------------------------------------------------------------------
def new_applicant(aid: str, who: Principal, fields: Doc, today: date, now: str) -> Doc:
    started = fields.get("business_started")
    if fields["kind"] == "new_entrepreneur" and started is not None:
        earliest = years_before(today, NEW_ENTREPRENEUR_YEARS)
        if date.fromisoformat(started) < earliest:
            raise field_error("business_started", f"a new entrepreneur started within {NEW_ENTREPRENEUR_YEARS} years")
        if date.fromisoformat(started) > today:
            raise field_error("business_started", "is in the future (leave it out if the business is planned)")
    return {
        "_id": aid,
        "person": who.id,
        "region": who.region,
        "country": country(who.region),
        "organisation": who.org,
        **fields,
        "status": "submitted",
        "screening": None,
        "created_at": now,
        "updated_at": now,
    }


def new_host(hid: str, organisation: str, fields: Doc, who: str, now: str) -> Doc:
    if fields["years_running"] < HOST_MIN_YEARS:
        raise field_error("years_running", f"a host has run its organisation for at least {HOST_MIN_YEARS} years")
    region = organisation.split(":", 1)[0]
    return {
        "_id": hid,
        "organisation": organisation,
        "region": region,
        "country": country(region),
        **fields,
        "status": "submitted",
        "screening": None,
        "registered_by": who,
        "created_at": now,
        "updated_at": now,
    }


def screen(doc: Doc, who: Principal, decision: str, note: str, now: str) -> Doc:
    """The intermediary of the applicant's or host's own region decides."""
    if not is_intermediary(who, doc["region"]):
        raise Forbidden(f"only the intermediary of region {doc['region']} screens it")
    screening = {"decision": decision, "note": note, "by": who.id, "at": now}
    return {**doc, "status": decision, "screening": screening, "updated_at": now}


# Terms -----------------------------------------------------------------------------------------------
def check_terms(terms: Doc, today: date) -> Doc:
    """Parts in order without overlap, the first not before today, 1-26 weeks in all, every part within
    twelve months of the first day; returns the terms with each part's last day, its weeks and dates."""
    parts: list[Doc] = []
    for i, p in enumerate(terms["parts"]):
        start = date.fromisoformat(p["start"]) if isinstance(p["start"], str) else p["start"]
        end = start + timedelta(days=7 * p["weeks"] - 1)
        if i == 0 and start < today:
            raise field_error("parts.0.start", "must not be in the past")
        if parts and start <= date.fromisoformat(parts[-1]["end"]):
            raise field_error(f"parts.{i}.start", "must be after the previous part's last day")
        parts.append({"start": start.isoformat(), "weeks": p["weeks"], "end": end.isoformat()})
    weeks = sum(p["weeks"] for p in parts)
    if not 1 <= weeks <= MAX_WEEKS:
        raise field_error("parts", f"a placement lasts 1 to {MAX_WEEKS} weeks in all, these parts make {weeks}")
    first, last = date.fromisoformat(parts[0]["start"]), date.fromisoformat(parts[-1]["end"])
    if (last - first).days >= MAX_SPAN_DAYS:
        raise field_error("parts", "every part must fall within twelve months of the first day")
    return {
        "objectives": terms["objectives"],
        "activity_plan": terms["activity_plan"],
        "parts": parts,
        "weeks": weeks,
        "start": parts[0]["start"],
        "end": parts[-1]["end"],
    }


# Placements ------------------------------------------------------------------------------------------
def _facts(doc: Doc) -> Doc:
    return {
        "placement_id": doc["_id"],
        "applicant": doc["applicant"],
        "host_id": doc["host_id"],
        "applicant_region": doc["applicant_region"],
        "host_region": doc["host_region"],
        "cross_border": doc["cross_border"],
        "weeks": doc["terms"]["weeks"],
    }


def propose(
    pid: str, applicant: Doc, host: Doc, terms: Doc, who: Principal, today: date, now: str
) -> tuple[Doc, ev.PlacementProposed]:
    """A placement of an accepted applicant with an accepted host, proposed by either side's intermediary."""
    if not (is_intermediary(who, applicant["region"]) or is_intermediary(who, host["region"])):
        raise Forbidden("only the applicant's or the host's intermediary proposes a placement")
    if applicant["status"] != "accepted":
        raise field_error("applicant_id", "is not accepted into the programme")
    if host["status"] != "accepted":
        raise field_error("host_id", "is not accepted into the programme")
    if applicant["organisation"] is not None and applicant["organisation"] == host["organisation"]:
        raise field_error("host_id", "is the applicant's own organisation")
    doc: Doc = {
        "_id": pid,
        "applicant_id": applicant["_id"],
        "applicant": applicant["person"],
        "applicant_region": applicant["region"],
        "host_id": host["_id"],
        "host_organisation": host["organisation"],
        "host_region": host["region"],
        "cross_border": country(applicant["region"]) != country(host["region"]),
        "terms": check_terms(terms, today),
        "revision": 1,
        "acceptances": {p: None for p in PARTIES},
        "status": "proposed",
        "reports": [],
        "outcome": None,
        "reason": None,
        "proposed_by": who.id,
        "created_at": now,
        "updated_at": now,
        "agreed_at": None,
        "ended_at": None,
    }
    return doc, ev.PlacementProposed(**_facts(doc), proposed_at=now)


HOST_ROLES = ("sme_member", "facility_manager")  # who of the host organisation accepts for it


def parties(who: Principal, doc: Doc) -> set[str]:
    """Which of the four parties the caller can act as on this placement. The host is a member of the host
    organisation who speaks for it (``HOST_ROLES``), never the applicant herself."""
    out = set()
    if who.id == doc["applicant"]:
        out.add("applicant")
    elif who.org is not None and who.org == doc["host_organisation"] and who.has(*HOST_ROLES):
        out.add("host")
    if is_intermediary(who, doc["applicant_region"]):
        out.add("sending_intermediary")
    if is_intermediary(who, doc["host_region"]):
        out.add("host_intermediary")
    return out


def sees(who: Principal, doc: Doc) -> bool:
    """Who may read a placement: its parties and anyone of the host organisation (who may not act for it)."""
    return bool(parties(who, doc)) or (who.org is not None and who.org == doc["host_organisation"])


def status_on(doc: Doc, today: date) -> str:
    """Its status as shown: an agreed placement is ``active`` from its first day."""
    if doc["status"] == "agreed" and today >= date.fromisoformat(doc["terms"]["start"]):
        return "active"
    return str(doc["status"])


def _require(doc: Doc, *statuses: str) -> None:
    if doc["status"] not in statuses:
        raise Conflict(f"placement {doc['_id']} is {doc['status']}")


def _revision(doc: Doc, revision: int) -> None:
    if revision != doc["revision"]:
        raise Conflict(f"the agreement is at revision {doc['revision']}, not {revision}", revision=doc["revision"])


def revise(doc: Doc, revision: int, terms: Doc, who: Principal, today: date, now: str) -> Doc:
    """New terms from either intermediary while proposed; every acceptance lapses."""
    _require(doc, "proposed")
    if not parties(who, doc) & {"sending_intermediary", "host_intermediary"}:
        raise Forbidden("only the placement's intermediaries change its terms")
    _revision(doc, revision)
    return {
        **doc,
        "terms": check_terms(terms, today),
        "revision": doc["revision"] + 1,
        "acceptances": {p: None for p in PARTIES},
        "updated_at": now,
    }


def accept(doc: Doc, party: str, revision: int, who: Principal, now: str) -> tuple[Doc, list[ev.PlacementAgreed]]:
    """The caller accepts as ``party``, which must be one they are; one person accepts for one party only.
    The fourth acceptance of the same revision makes the placement agreed (PlacementAgreed)."""
    _require(doc, "proposed")
    if party not in parties(who, doc):
        raise Forbidden(f"you cannot accept as the {party.replace('_', ' ')}")
    _revision(doc, revision)
    given = doc["acceptances"]
    if given[party] is not None:
        raise Conflict(f"the {party.replace('_', ' ')} accepted already")
    if any(a is not None and a["by"] == who.id for a in given.values()):
        raise Conflict("you accepted for another party already; each party accepts through its own person")
    acceptances = {**given, party: {"by": who.id, "at": now, "revision": revision}}
    new = {**doc, "acceptances": acceptances, "updated_at": now}
    if any(a is None for a in acceptances.values()):
        return new, []
    new = {**new, "status": "agreed", "agreed_at": now}
    terms = new["terms"]
    return new, [ev.PlacementAgreed(**_facts(new), start=terms["start"], end=terms["end"], agreed_at=now)]


def report(doc: Doc, who: Principal, kind: str, text: str, today: date, now: str) -> Doc:
    """A report from one side of an active placement: the applicant's or the host's."""
    sides = parties(who, doc) & SIDES.keys()
    if not sides:
        raise Forbidden("reports come from the applicant and the host")
    if status_on(doc, today) != "active":
        raise Conflict(f"placement {doc['_id']} is not active (it is {status_on(doc, today)})")
    if len(doc["reports"]) >= MAX_REPORTS:
        raise Conflict(f"a placement holds at most {MAX_REPORTS} reports")
    side = "applicant" if "applicant" in sides else "host"
    entry = {"side": side, "kind": kind, "text": text, "by": who.id, "at": now}
    return {**doc, "reports": [*doc["reports"], entry], "updated_at": now}


def _end_by(doc: Doc, who: Principal) -> None:
    if not parties(who, doc) & {"sending_intermediary", "host_intermediary"}:
        raise Forbidden("only the placement's intermediaries end it")


def complete(doc: Doc, who: Principal, today: date, now: str) -> tuple[Doc, ev.PlacementCompleted]:
    """Completed on or after its last day, once both sides sent a final report."""
    _end_by(doc, who)
    _require(doc, "agreed")
    if today < date.fromisoformat(doc["terms"]["end"]):
        raise Conflict(f"placement {doc['_id']} runs until {doc['terms']['end']}")
    finals = {r["side"] for r in doc["reports"] if r["kind"] == "final"}
    missing = sorted({"applicant", "host"} - finals)
    if missing:
        raise Conflict(f"a final report is missing from: {', '.join(missing)}", missing=missing)
    new = {**doc, "status": "completed", "outcome": "completed", "ended_at": now, "updated_at": now}
    return new, ev.PlacementCompleted(**_facts(new), outcome="completed", reason=None, ended_at=now)


def end_early(doc: Doc, who: Principal, reason: str, now: str) -> tuple[Doc, ev.PlacementCompleted]:
    """Ended before its time by an intermediary, with a reason."""
    _end_by(doc, who)
    _require(doc, "agreed")
    new = {**doc, "status": "ended_early", "outcome": "ended_early", "reason": reason, "ended_at": now}
    new["updated_at"] = now
    return new, ev.PlacementCompleted(**_facts(new), outcome="ended_early", reason=reason, ended_at=now)
