"""Challenge rules: who manages a challenge, what a posted or suggested challenge holds, publishing a
suggested draft, and the validation of rankings (a host's of applicants, a candidate's of challenges).

Pure: documents in, documents and event data out; no store, no clock of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from clustergrowth.auth import Principal
from clustergrowth.problems import Conflict, Forbidden, Unprocessable
from contracts import matching as ev
from services.matching.reads import Assessed

Doc = dict[str, Any]
COORDINATOR = ("region_admin",)
NEED_SKILLS = {
    "innovation": ["product development", "innovation management"],
    "digitalisation": ["software", "data analysis"],
    "internationalisation": ["market research", "export strategy"],
    "talent": ["human resources", "training design"],
    "finance": ["finance", "business planning"],
    "rnd_facilities": ["research methods", "lab work"],
    "collaboration": ["partnership building", "stakeholder analysis"],
    "sustainability": ["life-cycle assessment", "energy efficiency"],
}


def kind_for(programme: str) -> str:
    """Who takes part in a programme: students (consultancy) or academics (change of perspective)."""
    return "student" if programme == "consultancy" else "academic"


def programme_for(kind: str) -> str:
    return "consultancy" if kind == "student" else "change_of_perspective"


def manages(who: Principal, doc: Doc) -> bool:
    """The coordinator, the person who posted it, or its organisation."""
    return (
        who.has(*COORDINATOR)
        or doc.get("created_by") == who.id
        or (who.org is not None and doc.get("organisation") == who.org)
    )


def visible(who: Principal, doc: Doc) -> bool:
    """Open challenges are for everyone to browse; drafts only for those who manage them."""
    return doc["status"] != "draft" or manages(who, doc)


def fields(body: Doc, ip_terms: Mapping[str, str]) -> Doc:
    """What a posted challenge keeps of the command (``body``: its JSON dump)."""
    return {**body, "skills": sorted({s.lower() for s in body["skills"]}), "ip_terms": ip_terms[body["ip_template"]]}


def posted(doc: Doc) -> ev.ChallengePosted:
    return ev.ChallengePosted(
        challenge_id=doc["_id"],
        programme=doc["programme"],
        sme_id=doc.get("sme_id"),
        organisation=doc.get("organisation"),
        region=doc["region"],
        term=doc["term"],
        work_mode=doc["work_mode"],
        skills=doc["skills"],
        capacity=doc["capacity"],
        ip_template=doc["ip_template"],
        suggested_from=doc.get("suggested_from"),
        title=doc["title"],
        languages=doc["languages"],
        starts_on=str(doc["starts_on"]),
        ends_on=str(doc["ends_on"]),
    )


def post(cid: str, fields: Doc, who: Principal, now: str) -> tuple[Doc, ev.ChallengePosted]:
    """A new open challenge of the poster's organisation, and its ChallengePosted."""
    doc: Doc = {
        "_id": cid,
        **fields,
        "status": "open",
        "organisation": who.org,
        "created_by": who.id,
        "posted_at": now,
        "applicant_ranking": [],
        "suggested_from": None,
    }
    return doc, posted(doc)


def require_manager(who: Principal, doc: Doc) -> None:
    if not manages(who, doc):
        raise Forbidden("only the SME that owns this challenge or the coordinator may publish it")


def ranks_applicants(who: Principal, doc: Doc) -> bool:
    """The challenge's host side: those who manage it, and its supervising academic."""
    return manages(who, doc) or doc.get("supervisor") == who.id


def require_ranker(who: Principal, doc: Doc) -> None:
    if not ranks_applicants(who, doc):
        raise Forbidden("only the challenge's SME, its supervisor or the coordinator may rank applicants")


def require_draft(doc: Doc) -> None:
    if doc["status"] != "draft":
        raise Conflict(f"challenge {doc['_id']} is already {doc['status']}")


def publish(doc: Doc, fields: Doc, who: Principal, now: str) -> tuple[Doc, ev.ChallengePosted]:
    """A suggested draft, completed by ``fields``, posted by someone who manages it."""
    require_manager(who, doc)
    require_draft(doc)
    new = {**doc, **fields, "status": "open", "posted_at": now, "published_by": who.id}
    return new, posted(new)


def suggestion(d: Assessed, below: float, now: str) -> Doc | None:
    """The draft an assessment suggests when its greatest need scores below ``below`` (else None).
    Its id comes from the assessment, so the same assessment suggests it once."""
    if not d.top_needs:
        return None
    need = d.top_needs[0]
    score = float(d.scores[need])
    if score >= below:
        return None
    return {
        "_id": f"draft-{d.assessment_id}",
        "programme": "consultancy",
        "status": "draft",
        "title": f"Student consultancy on {need.replace('_', ' ')}",
        "scope": (
            f"Suggested because the growth-needs assessment of {d.assessed_at[:10]} scored "
            f"{need.replace('_', ' ')} at {score:.1f} of 5, the SME's greatest need. Edit and publish it."
        ),
        "skills": NEED_SKILLS.get(need, [need]),
        "languages": [],
        "region": d.region,
        "sme_id": d.sme_id,
        "organisation": d.organisation,
        "created_by": None,
        "suggested_from": d.assessment_id,
        "need": {"dimension": need, "score": score},
        "suggested_at": now,
        "applicant_ranking": [],
    }


def ranking_errors(ids: list[str], known: Callable[[str], str | None]) -> list[dict[str, str]]:
    """Each repeated id, and each id ``known`` objects to (it returns the reason), by position."""
    errors, seen = [], set()
    for i, x in enumerate(ids):
        if x in seen:
            errors.append({"field": f"ranking[{i}]", "reason": f"{x!r} is ranked twice"})
        elif (why := known(x)) is not None:
            errors.append({"field": f"ranking[{i}]", "reason": why})
        seen.add(x)
    return errors


def _refuse(errors: list[dict[str, str]]) -> None:
    if errors:
        raise Unprocessable(f"{len(errors)} problem(s) in the ranking; nothing was saved", errors)


def check_applicants(challenge: Doc, ranking: list[str], profiles: Mapping[str, Doc]) -> None:
    """A host's ranking names candidate profiles of the challenge's kind, each once (422 otherwise)."""
    kind = kind_for(challenge["programme"])

    def known(x: str) -> str | None:
        if x not in profiles:
            return f"no candidate profile {x!r}"
        return None if profiles[x]["kind"] == kind else f"{x!r} is not a profile of kind {kind!r}"

    _refuse(ranking_errors(ranking, known))


def check_preferences(kind: str, ranking: list[str], challenges: Mapping[str, Doc]) -> None:
    """A candidate's ranking names open challenges of their programme, each once (422 otherwise)."""
    programme = programme_for(kind)

    def known(x: str) -> str | None:
        ch = challenges.get(x)
        if ch is None or ch["status"] == "draft":
            return f"no open challenge {x!r}"
        if ch["programme"] != programme:
            return f"{x!r} is a {ch['programme']} challenge, not {programme}"
        return None

    _refuse(ranking_errors(ranking, known))
