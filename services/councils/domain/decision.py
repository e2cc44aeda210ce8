"""Decision rules: a proposal put to a council, open for endorsement or a vote among its members (one vote
per member, changeable while open, each with a reason), closed with an outcome (statement, chosen option,
review date). States are stable machine keys; their labels are separate and translatable.

Pure: documents in, documents out; ``now`` is given.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from clustergrowth.problems import Conflict, field_error

Doc = dict[str, Any]
STATES = ("open", "closed")
ENDORSEMENT_OPTIONS = ["endorse", "object", "abstain"]
LAUNCHING = ("endorse", "yes")  # the outcomes that launch an initiative the decision is about
AGAINST = ("object", "no")  # the options that count against a launch
LABELS: dict[str, dict[str, str]] = {
    "en": {"open": "Open", "closed": "Closed"},
    "es": {"open": "Abierta", "closed": "Cerrada"},
    "it": {"open": "Aperta", "closed": "Chiusa"},
    "fr": {"open": "Ouverte", "closed": "Close"},
    "tr": {"open": "Açık", "closed": "Kapalı"},
}
assert all(set(labels) == set(STATES) for labels in LABELS.values())


def label(state: str, lang: str = "en") -> str:
    return LABELS.get(lang, LABELS["en"])[state]


def open_decision(did: str, council: Doc, fields: Doc, by: str, now: str) -> Doc:
    """A proposal open for endorsement (options endorse/object/abstain) or a vote on its own options."""
    method = fields["method"]
    options = ENDORSEMENT_OPTIONS if method == "endorsement" else list(fields.get("options") or [])
    if method == "vote" and len(options) < 2:
        raise field_error("options", "a vote needs at least two options")
    if method == "endorsement" and fields.get("options"):
        raise field_error("options", f"an endorsement has the options {ENDORSEMENT_OPTIONS}; leave options out")
    if len(set(options)) != len(options):
        raise field_error("options", "are repeated")
    return {
        "_id": did,
        "council_id": council["_id"],
        "region": council["region"],
        "title": fields["title"],
        "description": fields.get("description"),
        "method": method,
        "options": options,
        "initiative_id": fields.get("initiative_id"),
        "meeting_id": fields.get("meeting_id"),
        "state": "open",
        "votes": [],
        "outcome": None,
        "opened_at": now,
        "opened_by": by,
        "closed_at": None,
    }


def vote(doc: Doc, person: str, option: str, reason: str | None, now: str) -> Doc:
    """The member's vote, replacing her earlier one while the decision is open."""
    if doc["state"] != "open":
        raise Conflict(f"decision {doc['_id']} is {doc['state']}: votes can no longer change")
    if option not in doc["options"]:
        raise field_error("option", f"is not one of {doc['options']}")
    mine = {"person": person, "option": option, "reason": reason, "at": now}
    others = [v for v in doc["votes"] if v["person"] != person]
    return {**doc, "votes": [*others, mine]}


def tally(doc: Doc) -> dict[str, int]:
    counts = Counter(v["option"] for v in doc["votes"])
    return {o: counts.get(o, 0) for o in doc["options"]}


def close(doc: Doc, statement: str, chosen_option: str, review_on: str | None, by: str, now: str) -> Doc:
    """Close with an outcome: a statement, the chosen option (one of the options) and a review date."""
    if doc["state"] != "open":
        raise Conflict(f"decision {doc['_id']} is {doc['state']} already")
    if chosen_option not in doc["options"]:
        raise field_error("chosen_option", f"is not one of {doc['options']}")
    if review_on is not None and review_on < now[:10]:
        raise field_error("review_on", "must not be in the past")
    outcome = {"statement": statement, "chosen_option": chosen_option, "review_on": review_on, "by": by}
    return {**doc, "state": "closed", "outcome": outcome, "closed_at": now, "tally": tally(doc)}


def launches(doc: Doc, initiative_id: str) -> bool:
    """Whether this decision, closed, endorses launching the initiative."""
    out = doc.get("outcome") or {}
    return (
        doc["state"] == "closed" and doc.get("initiative_id") == initiative_id and out.get("chosen_option") in LAUNCHING
    )


def launch_refusal(doc: Doc) -> str | None:
    """Why this closed decision's tally does not support launching (None when it does): at least one vote,
    and more votes for the chosen outcome than against it (``AGAINST``; abstentions count for neither). A
    tie is refused."""
    counts = doc.get("tally") or tally(doc)
    if sum(counts.values()) == 0:
        return "it was closed without a single vote"
    chosen = str((doc.get("outcome") or {}).get("chosen_option"))
    support = counts.get(chosen, 0)
    against = sum(n for o, n in counts.items() if o in AGAINST)
    if support <= against:
        return f"its tally does not support the launch: {support} for {chosen!r}, {against} against"
    return None
