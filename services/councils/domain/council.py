"""Council rules: who manages and who sees a council, its composition and quorum rules, and the way a
person becomes a member (invitation accepted, or application approved) and stops being one.

Pure: documents in, documents and event data out; no store, no clock of its own (``now`` is given).
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from clustergrowth.auth import Principal
from clustergrowth.context import stamp
from clustergrowth.problems import Conflict, Forbidden, NotFound, field_error
from contracts import councils as ev

Doc = dict[str, Any]
CONSTITUENCIES = ("sme", "university", "government", "intermediary", "investor")
POSITIONS = ("chair", "vice_chair", "secretary", "member", "observer")
VOTING = ("chair", "vice_chair", "secretary", "member")  # observers take part but do not vote or count for quorum
SUCCESS_FACTORS = ("sme_university", "cluster_cluster", "cluster_specific", "national_impact")
REGION_STAFF = ("region_admin", "council_secretary")  # manage every council of this region
END_REASONS = ("term_ended", "resigned", "removed")  # and ``erased``, set only by erasure
MAX_MEMBERSHIPS = 300  # active and past, per council
MAX_REQUESTS = 500  # invitations and applications kept per council, decided ones included
MAX_PENDING = 100
# an invitation may be accepted until 30 days after it was made: from that instant on (exactly 30 days
# included) it is expired; applications wait for a manager's decision and do not expire
INVITATION_VALID = timedelta(days=30)


# Quorum ------------------------------------------------------------------------------------------
def exact(fraction: float | str) -> Fraction:
    """The fraction exactly as given: ``"2/3"`` is two thirds; a number is read from its decimal text, so
    0.334 is 334/1000 (not the binary float a hair off it, nor a nearby fraction of small denominator)."""
    return Fraction(fraction) if isinstance(fraction, str) else Fraction(str(fraction))


def quorum_label(rule: str, fraction: float | str) -> str:
    f = exact(fraction)
    share = "all" if f == 1 else f"{f.numerator}/{f.denominator}"
    return f"more than {share} of voting members" if rule == "majority" else f"at least {share} of voting members"


def quorum_needed(rule: str, fraction: float | str, voting: int) -> int:
    """How many voting members must attend: ``majority`` = more than ``fraction`` of them, ``at_least`` =
    ``fraction`` of them or more (rounded up), computed exactly (``exact``). A council without voting
    members has no quorum (0 needed, and it is never met)."""
    if voting <= 0:
        return 0
    share = exact(fraction) * voting
    return math.floor(share) + 1 if rule == "majority" else math.ceil(share)


def check_quorum_rule(rule: str, fraction: float | str, field: str = "composition.quorum_fraction") -> None:
    """Refuse a rule whose quorum would be 0 (automatic) or more than all voting members (impossible) for
    some council size from 1 to ``MAX_MEMBERSHIPS``: a fraction above 0 and at most 1, below 1 for a
    majority."""
    f = exact(fraction)
    if not 0 < f <= 1:
        raise field_error(field, "must be more than 0 and at most 1")
    if rule == "majority" and f >= 1:
        raise field_error(field, "a majority rule needs a fraction below 1 (use at_least for all)")
    impossible = next((n for n in range(1, MAX_MEMBERSHIPS + 1) if not 1 <= quorum_needed(rule, f"{f}", n) <= n), None)
    if impossible is not None:  # cannot happen with the two checks above; kept as the rule's definition
        raise field_error(field, f"gives no possible quorum for {impossible} voting members")


def quorum(council: Doc, present: set[str]) -> Doc:
    """Whether the people ``present`` (person ids) meet the council's quorum rule."""
    rule = council["composition"]["quorum"]
    voters = {m["person"] for m in active_members(council) if m["position"] in VOTING}
    needed = quorum_needed(rule["rule"], rule.get("exact", rule["fraction"]), len(voters))
    attending = len(voters & present)
    return {
        "rule": rule["label"],
        "voting_members": len(voters),
        "needed": needed,
        "voting_present": attending,
        "met": bool(voters) and attending >= needed,
    }


# Who manages, who sees ----------------------------------------------------------------------------
def active_members(council: Doc) -> list[Doc]:
    return [m for m in council.get("members", []) if m.get("ended_on") is None]


def active_since(council: Doc) -> dict[str, str]:
    """Each active member (person id) and the day her membership began (``designated_on``)."""
    return {m["person"]: m["designated_on"] for m in active_members(council)}


def membership_of(council: Doc, person: str) -> Doc | None:
    """The person's active membership, if any."""
    return next((m for m in active_members(council) if m["person"] == person), None)


def is_member(who: Principal, council: Doc) -> bool:
    return membership_of(council, who.id) is not None


def manages(who: Principal, council: Doc, region: str) -> bool:
    """The region's staff manage every council of this region; a member whose position is secretary
    manages her own council."""
    if who.has(*REGION_STAFF) and council["region"] == region:
        return True
    m = membership_of(council, who.id)
    return m is not None and m["position"] == "secretary"


def sees_private(who: Principal, council: Doc, region: str) -> bool:
    """Members and managers see the council's private items (member list, registrations, votes, drafts)."""
    return manages(who, council, region) or is_member(who, council)


def require_manager(who: Principal, council: Doc, region: str) -> None:
    if not manages(who, council, region):
        raise Forbidden(f"only the secretary of council {council['_id']} or the region's staff may do this")


def require_private(who: Principal, council: Doc, region: str, what: str) -> None:
    """Another council's private items are not found (404), not forbidden."""
    if not sees_private(who, council, region):
        raise NotFound(f"no {what}")


# Forming a council --------------------------------------------------------------------------------
def form(cid: str, fields: Doc, region: str, who: Principal, now: str) -> tuple[Doc, ev.CouncilFormed]:
    """A new council of this region, and its CouncilFormed."""
    comp = fields["composition"]
    doc: Doc = {
        "_id": cid,
        **{k: fields[k] for k in ("name", "city", "host_organisation", "purpose", "themes", "success_factors")},
        "region": region,
        "composition": composition(comp["min_constituencies"], comp["quorum_rule"], comp["quorum_fraction"]),
        "formed_at": now,
        "formed_by": who.id,
        "members": [],
        "requests": [],
        "member_ids": [],
    }
    return doc, formed(doc)


def composition(min_constituencies: int, rule: str, fraction: float | str) -> Doc:
    """The composition rules as stored: the quorum's fraction as a number and exactly (``"n/d"``)."""
    check_quorum_rule(rule, fraction)
    f = exact(fraction)
    quorum = {"rule": rule, "fraction": float(f), "exact": f"{f.numerator}/{f.denominator}"}
    return {"min_constituencies": min_constituencies, "quorum": {**quorum, "label": quorum_label(rule, fraction)}}


def formed(doc: Doc) -> ev.CouncilFormed:
    return ev.CouncilFormed(
        council_id=doc["_id"],
        city=doc["city"],
        region=doc["region"],
        host_organisation=doc["host_organisation"],
        themes=[t["key"] for t in doc["themes"]],
        formed_at=doc["formed_at"],
    )


def composition_report(council: Doc) -> Doc:
    """Active members by constituency and position, and a warning when fewer constituencies are represented
    than the council's rule asks (two by default: ECCP's triple-helix rule)."""
    members = active_members(council)
    by = Counter(m["constituency"] for m in members)
    represented = sorted(by)
    need = council["composition"]["min_constituencies"]
    warnings = []
    if len(represented) < need:
        warnings.append(
            {
                "key": "too_few_constituencies",
                "detail": f"{len(represented)} constituencies represented; the council's rule asks for {need}",
            }
        )
    return {
        "council_id": council["_id"],
        "members": len(members),
        "by_constituency": {c: by.get(c, 0) for c in CONSTITUENCIES},
        "by_position": {p: sum(1 for m in members if m["position"] == p) for p in POSITIONS},
        "constituencies_represented": represented,
        "min_constituencies": need,
        "warnings": warnings,
    }


# Joining --------------------------------------------------------------------------------------------
def _instant(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


def expires_at(req: Doc) -> str | None:
    """When an invitation expires (``INVITATION_VALID`` after it was made); an application does not."""
    if req["kind"] != "invitation":
        return None
    return stamp(_instant(req["created_at"]) + INVITATION_VALID)


def status_now(req: Doc, now: str) -> str:
    """A request's status at ``now``: a pending invitation is ``expired`` from its ``expires_at`` on (computed
    from the stored creation time, so nothing has to be written when it expires)."""
    until = expires_at(req)
    if req["status"] == "pending" and until is not None and _instant(now) >= _instant(until):
        return "expired"
    return str(req["status"])


def request_view(req: Doc, now: str) -> Doc:
    """A request as it stands at ``now``: its status (``status_now``) and when it expires."""
    return {**req, "status": status_now(req, now), "expires_at": expires_at(req)}


def _pending(council: Doc, now: str) -> list[Doc]:
    """The requests pending at ``now`` (expired invitations are not)."""
    return [r for r in council["requests"] if status_now(r, now) == "pending"]


def _check_can_join(council: Doc, person: str, field: str, now: str) -> None:
    if membership_of(council, person) is not None:
        raise Conflict(f"{person} is already a member of council {council['_id']}", errors=[{"field": field}])
    pending = _pending(council, now)
    if any(r["person"] == person for r in pending):
        raise Conflict(f"{person} has a pending invitation or application to council {council['_id']}")
    if len(pending) >= MAX_PENDING:
        raise Conflict(f"council {council['_id']} has {MAX_PENDING} pending requests; decide some first")
    if len(council["requests"]) >= MAX_REQUESTS:
        raise Conflict(f"council {council['_id']} keeps at most {MAX_REQUESTS} requests")


def request(council: Doc, rid: str, kind: str, fields: Doc, by: str, now: str) -> Doc:
    """A new pending invitation (``by`` a manager) or application (``by`` the applicant) in the council."""
    _check_can_join(council, fields["person"], "person", now)
    req = {
        "id": rid,
        "kind": kind,
        "person": fields["person"],
        "constituency": fields["constituency"],
        "position": fields.get("position") or "member",
        "organisation": fields.get("organisation"),
        "display_name": fields["display_name"],
        "email": fields.get("email"),
        "motivation": fields.get("motivation"),
        "status": "pending",
        "created_at": now,
        "created_by": by,
        "decided_at": None,
        "decided_by": None,
        "reason": None,
    }
    return {**council, "requests": [*council["requests"], req]}


def find_request(council: Doc, rid: str) -> Doc:
    req = next((r for r in council["requests"] if r["id"] == rid), None)
    if req is None:
        raise NotFound(f"no request {rid}")
    return req


def erase_request(council: Doc, rid: str, person: str, now: str) -> tuple[Doc, Doc]:
    """Forget what the person gave in one of her own invitations or applications (her name, e-mail and
    motivation); another person's request is not found. One still pending at ``now`` is withdrawn by it
    (decided then, by her): nobody can accept or approve a request without a name. Its id, kind, constituency,
    dates and decided status stay. Returns the council and the request as it is now."""
    req = find_request(council, rid)
    if req["person"] != person:
        raise NotFound(f"no request {rid}")
    new_req = {**req, "display_name": None, "email": None, "motivation": None, "erased": True}
    if status_now(req, now) == "pending":
        new_req |= {"status": "withdrawn", "decided_at": now, "decided_by": person}
    return {**council, "requests": [new_req if r["id"] == rid else r for r in council["requests"]]}, new_req


def may_see_request(who: Principal, council: Doc, req: Doc, region: str) -> bool:
    return req["person"] == who.id or manages(who, council, region)


def answer(
    council: Doc, rid: str, who: Principal, region: str, verb: str, now: str, *, mid: str, extra: Doc | None = None
) -> tuple[Doc, list[ev.MemberJoined], Doc]:
    """The invitee accepts or declines an invitation; a manager approves or rejects an application.
    Accepting or approving makes the person a member (``mid``): MemberJoined. Returns the council, its
    events and the request as it is now."""
    req = find_request(council, rid)
    if not may_see_request(who, council, req, region):
        raise NotFound(f"no request {rid}")
    own, kind = req["person"] == who.id, req["kind"]
    allowed = {"accept": kind == "invitation" and own, "decline": kind == "invitation" and own}
    allowed |= {"approve": kind == "application", "reject": kind == "application"}
    if verb in ("approve", "reject"):
        require_manager(who, council, region)
    if not allowed[verb]:
        whom = "the invited person" if kind == "invitation" else "the council's secretary"
        raise Forbidden(f"only {whom} may {verb} this {kind}")
    if status_now(req, now) != "pending":
        raise Conflict(f"request {rid} is already {status_now(req, now)}")
    status = {"accept": "accepted", "decline": "declined", "approve": "approved", "reject": "rejected"}[verb]
    new_req = {**req, "status": status, "decided_at": now, "decided_by": who.id, **(extra or {})}
    new = {**council, "requests": [new_req if r["id"] == rid else r for r in council["requests"]]}
    if status in ("declined", "rejected"):
        return new, [], new_req
    new, joined = join(new, mid, new_req, now)
    return new, [joined], new_req


def withdraw(council: Doc, rid: str, who: Principal, region: str, now: str) -> tuple[Doc, Doc]:
    """A manager withdraws an invitation while it is pending (``withdrawn``); the invited person declines
    instead, and an application is rejected instead. Returns the council and the request as it is now."""
    req = find_request(council, rid)
    if not may_see_request(who, council, req, region):
        raise NotFound(f"no request {rid}")
    require_manager(who, council, region)
    if req["kind"] != "invitation":
        raise Conflict(f"request {rid} is an application: reject it instead")
    if status_now(req, now) != "pending":
        raise Conflict(f"request {rid} is already {status_now(req, now)}")
    new_req = {**req, "status": "withdrawn", "decided_at": now, "decided_by": who.id}
    return {**council, "requests": [new_req if r["id"] == rid else r for r in council["requests"]]}, new_req


def join(council: Doc, mid: str, req: Doc, now: str) -> tuple[Doc, ev.MemberJoined]:
    """The person of an accepted or approved request becomes a member, designated ``now``."""
    if membership_of(council, req["person"]) is not None:
        raise Conflict(f"{req['person']} is already a member of council {council['_id']}")
    if len(council["members"]) >= MAX_MEMBERSHIPS:
        raise Conflict(f"council {council['_id']} keeps at most {MAX_MEMBERSHIPS} memberships")
    m = {
        "id": mid,
        "person": req["person"],
        "display_name": req["display_name"],
        "email": req.get("email"),
        "organisation": req.get("organisation"),
        "constituency": req["constituency"],
        "position": req["position"],
        "designated_on": now,
        "via": req["kind"],
        "ended_on": None,
        "end_reason": None,
        "erased": False,
    }
    new = {**council, "members": [*council["members"], m]}
    new["member_ids"] = sorted(x["person"] for x in active_members(new))
    return new, ev.MemberJoined(
        council_id=council["_id"],
        member_id=mid,
        person=m["person"],
        organisation=m["organisation"],
        constituency=m["constituency"],
        position=m["position"],
        region=council["region"],
        joined_at=now,
    )


def find_member(council: Doc, mid: str) -> Doc:
    m = next((x for x in council["members"] if x["id"] == mid), None)
    if m is None:
        raise NotFound(f"no member {mid}")
    return m


def end(council: Doc, mid: str, reason: str, now: str) -> tuple[Doc, ev.MemberLeft]:
    """End an active membership with a reason (a machine key): MemberLeft."""
    m = find_member(council, mid)
    if m["ended_on"] is not None:
        raise Conflict(f"membership {mid} ended already ({m['end_reason']})")
    ended = {**m, "ended_on": now, "end_reason": reason}
    new = {**council, "members": [ended if x["id"] == mid else x for x in council["members"]]}
    new["member_ids"] = sorted(x["person"] for x in active_members(new))
    return new, ev.MemberLeft(
        council_id=council["_id"],
        member_id=mid,
        person=m["person"],
        constituency=m["constituency"],
        region=council["region"],
        left_at=now,
        reason=reason,
    )


def end_by(who: Principal, council: Doc, mid: str, reason: str, region: str, now: str) -> tuple[Doc, ev.MemberLeft]:
    """A manager ends anyone's membership for any reason; a member may only resign her own."""
    m = find_member(council, mid)
    if not sees_private(who, council, region):
        raise NotFound(f"no member {mid}")
    if not manages(who, council, region):
        if m["person"] != who.id:
            raise Forbidden("only the council's secretary or the region's staff may end another member's membership")
        if reason != "resigned":
            raise field_error("reason", "a member ending her own membership resigns: use 'resigned'")
    return end(council, mid, reason, now)


def erase(council: Doc, person: str, now: str) -> tuple[Doc, list[ev.MemberLeft]]:
    """Forget a person's personal data in the council (names, e-mails, motivations); an active membership
    ends with reason ``erased``. Ids, constituencies and dates stay: they are what the events carried."""
    events = []
    m = membership_of(council, person)
    if m is not None:
        council, left = end(council, m["id"], "erased", now)
        events.append(left)

    def blank(x: Doc) -> Doc:
        return {**x, "display_name": None, "email": None, "erased": True} if x["person"] == person else x

    def blank_request(r: Doc) -> Doc:
        if r["person"] != person:
            return r
        return {**r, "display_name": None, "email": None, "motivation": None, "erased": True}

    new = {
        **council,
        "members": [blank(x) for x in council["members"]],
        "requests": [blank_request(r) for r in council["requests"]],
    }
    return new, events
