"""The life of a match, as an explicit state machine over an immutable value.

    proposed ──accept (both sides)──▶ active ──complete (host)──▶ completed ──rate (each side once)
       │ ╰──decline (either side)──▶ declined
       ╰──expire (deadline passed)──▶ expired

- A proposal is answered by the candidate and by the host side (the challenge's organisation or its
  supervisor), each once; it becomes active when both accepted, declined as soon as one declines, and
  expired once ``now`` reaches its deadline (``expires_at <= now``) with an answer still missing.
- An active engagement has up to 50 milestones, planned by the host and marked done by either side.
- Each side rates a completed engagement once.

Every transition is a pure function ``(match, side, now, …) -> (match, [event data])``: no I/O and no
clock of its own. A step that is not allowed raises the Problem the API answers with: 403 for the wrong
side, 409 for the wrong status, an answer or rating given twice, or a lapsed proposal, 404 for a
milestone that does not exist.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from clustergrowth.context import stamp
from clustergrowth.events import EventData
from clustergrowth.problems import Conflict, Forbidden, NotFound
from contracts import matching as ev
from contracts.matching import Side

SIDES: tuple[Side, ...] = ("candidate", "host")
MAX_MILESTONES = 50
EVENT_KEYS = ("round_id", "challenge_id", "candidate", "programme", "region", "candidate_region")
T = TypeVar("T")
Events = list[EventData]


@dataclass(frozen=True)
class BothSides(Generic[T]):
    """One value per side (answers, ratings)."""

    candidate: T
    host: T

    def of(self, side: Side) -> T:
        return self.candidate if side == "candidate" else self.host

    def with_(self, side: Side, value: T) -> BothSides[T]:
        return replace(self, **{side: value})

    def to_doc(self, value: Any = lambda v: v) -> dict[str, Any]:
        return {s: value(self.of(s)) for s in SIDES}


@dataclass(frozen=True)
class Milestone:
    n: int
    title: str
    due_on: str  # ISO date
    done_at: str | None = None


@dataclass(frozen=True)
class Rating:
    score: int
    comment: str | None
    by: str
    at: str


@dataclass(frozen=True)
class Match:
    """A proposal, then an engagement. Times are stored stamps (``clustergrowth.context.stamp``)."""

    id: str
    round_id: str
    challenge_id: str
    challenge_title: str
    programme: str
    term: str
    candidate: str
    candidate_region: str
    organisation: str | None
    supervisor: str | None
    host: str  # the supervisor, or ``host:<challenge id>`` when the SME itself hosts
    region: str
    ip_template: str
    proposed_at: str
    expires_at: str
    preference_rank: int
    status: str = "proposed"
    responses: BothSides[str | None] = BothSides(None, None)
    milestones: tuple[Milestone, ...] = ()
    ratings: BothSides[Rating | None] = BothSides(None, None)
    accepted_at: str | None = None
    declined: bool = False  # ``reason`` is stored (even when None) once declined
    reason: str | None = None
    expired_at: str | None = None
    completed_at: str | None = None

    @property
    def deadline(self) -> datetime:
        return datetime.fromisoformat(self.expires_at)

    def lapsed(self, now: datetime) -> bool:
        """A proposal whose deadline has come (at exactly the deadline it has lapsed)."""
        return self.status == "proposed" and self.deadline <= now

    def keys(self) -> dict[str, Any]:
        """The fields every match event carries."""
        return {"match_id": self.id, **{k: getattr(self, k) for k in EVENT_KEYS}}

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Match:
        def rating(r: dict[str, Any] | None) -> Rating | None:
            return None if r is None else Rating(r["score"], r.get("comment"), r["by"], r["at"])

        responses, ratings = doc["responses"], doc["ratings"]
        return cls(
            id=doc["_id"],
            round_id=doc["round_id"],
            challenge_id=doc["challenge_id"],
            challenge_title=doc["challenge_title"],
            programme=doc["programme"],
            term=doc["term"],
            candidate=doc["candidate"],
            candidate_region=doc["candidate_region"],
            organisation=doc.get("organisation"),
            supervisor=doc.get("supervisor"),
            host=doc["host"],
            region=doc["region"],
            ip_template=doc["ip_template"],
            proposed_at=doc["proposed_at"],
            expires_at=doc["expires_at"],
            preference_rank=doc["preference_rank"],
            status=doc["status"],
            responses=BothSides(responses["candidate"], responses["host"]),
            milestones=tuple(Milestone(x["n"], x["title"], x["due_on"], x.get("done_at")) for x in doc["milestones"]),
            ratings=BothSides(rating(ratings["candidate"]), rating(ratings["host"])),
            accepted_at=doc.get("accepted_at"),
            declined="reason" in doc,
            reason=doc.get("reason"),
            expired_at=doc.get("expired_at"),
            completed_at=doc.get("completed_at"),
        )

    def to_doc(self) -> dict[str, Any]:
        """The stored form (what ``of`` reads); optional fields only once they were set."""
        doc: dict[str, Any] = {
            "_id": self.id,
            "round_id": self.round_id,
            "challenge_id": self.challenge_id,
            "challenge_title": self.challenge_title,
            "programme": self.programme,
            "term": self.term,
            "candidate": self.candidate,
            "candidate_region": self.candidate_region,
            "organisation": self.organisation,
            "supervisor": self.supervisor,
            "host": self.host,
            "region": self.region,
            "ip_template": self.ip_template,
            "status": self.status,
            "responses": self.responses.to_doc(),
            "proposed_at": self.proposed_at,
            "expires_at": self.expires_at,
            "preference_rank": self.preference_rank,
            "milestones": [asdict(x) for x in self.milestones],
            "ratings": self.ratings.to_doc(lambda r: None if r is None else asdict(r)),
        }
        for key in ("accepted_at", "expired_at", "completed_at"):
            if getattr(self, key) is not None:
                doc[key] = getattr(self, key)
        if self.declined:
            doc["reason"] = self.reason
        return doc


class ProposalExpired(Conflict):
    """The proposal's deadline has come: it can only expire now."""

    def __init__(self, match: Match) -> None:
        super().__init__(f"the proposal expired at {match.expires_at}")


def propose(match: Match, mode: str) -> tuple[Match, Events]:
    """A new proposal (as a round decided it) and its MatchProposed."""
    if match.status != "proposed" or any(match.responses.of(s) for s in SIDES):
        raise Conflict(f"the match is {match.status}, not a new proposal")
    data = ev.MatchProposed(
        **match.keys(),
        mode=mode,  # type: ignore[arg-type]
        preference_rank=match.preference_rank,
        expires_at=match.expires_at,
    )
    return match, [data]


def _need_side(side: Side | None, *allowed: Side) -> Side:
    if side is None or side not in allowed:
        raise Forbidden(f"only the {' or '.join(allowed)} side of this match may do this")
    return side


def _need_status(match: Match, status: str) -> None:
    if match.status != status:
        raise Conflict(f"the match is {match.status}, not {status}")


def _answering(match: Match, side: Side | None, now: datetime) -> Side:
    """The caller's side, if it may still answer this proposal."""
    s = _need_side(side, *SIDES)
    _need_status(match, "proposed")
    if match.responses.of(s) is not None:
        raise Conflict(f"the {s} side has already answered")
    if match.lapsed(now):
        raise ProposalExpired(match)
    return s


def accept(match: Match, side: Side | None, now: datetime) -> tuple[Match, Events]:
    """One side says yes; the second yes makes the engagement active (MatchAccepted)."""
    s = _answering(match, side, now)
    new = replace(match, responses=match.responses.with_(s, "accepted"))
    if all(new.responses.of(x) == "accepted" for x in SIDES):
        new = replace(new, status="active", accepted_at=stamp(now))
        return new, [ev.MatchAccepted(**match.keys(), accepted_at=stamp(now))]
    return new, []


def decline(match: Match, side: Side | None, now: datetime, reason: str | None = None) -> tuple[Match, Events]:
    """One side says no: the proposal ends (MatchDeclined)."""
    s = _answering(match, side, now)
    new = replace(
        match, status="declined", responses=match.responses.with_(s, "declined"), declined=True, reason=reason
    )
    return new, [ev.MatchDeclined(**match.keys(), declined_by=s, reason=reason)]


def expire(match: Match, now: datetime) -> tuple[Match, Events]:
    """The deadline came with an answer missing: the place is free again (MatchExpired)."""
    _need_status(match, "proposed")
    if not match.lapsed(now):
        raise Conflict(f"the proposal is open until {match.expires_at}")
    answered: list[Side] = [s for s in SIDES if match.responses.of(s) == "accepted"]
    new = replace(match, status="expired", expired_at=stamp(now))
    return new, [ev.MatchExpired(**match.keys(), expired_at=match.expires_at, answered_by=answered)]


def add_milestone(match: Match, side: Side | None, title: str, due_on: str) -> tuple[Match, Events]:
    """The host plans a milestone of an active engagement (at most 50)."""
    _need_side(side, "host")
    _need_status(match, "active")
    if len(match.milestones) >= MAX_MILESTONES:
        raise Conflict(f"an engagement has at most {MAX_MILESTONES} milestones")
    ms = Milestone(len(match.milestones) + 1, title, due_on)
    return replace(match, milestones=(*match.milestones, ms)), []


def milestone_done(match: Match, side: Side | None, n: int, now: datetime) -> tuple[Match, Events]:
    """Either side marks milestone ``n`` done (again: it keeps the first time)."""
    _need_side(side, *SIDES)
    _need_status(match, "active")
    if not 1 <= n <= len(match.milestones):
        raise NotFound(f"no milestone {n} in match {match.id}")
    ms = list(match.milestones)
    ms[n - 1] = replace(ms[n - 1], done_at=ms[n - 1].done_at or stamp(now))
    return replace(match, milestones=tuple(ms)), []


def complete(match: Match, side: Side | None, now: datetime) -> tuple[Match, Events]:
    """The host ends an active engagement (EngagementCompleted)."""
    _need_side(side, "host")
    _need_status(match, "active")
    done = sum(1 for x in match.milestones if x.done_at)
    data = ev.EngagementCompleted(
        **match.keys(), completed_at=stamp(now), milestones=len(match.milestones), milestones_done=done
    )
    return replace(match, status="completed", completed_at=stamp(now)), [data]


def rate(
    match: Match, side: Side | None, now: datetime, *, score: int, comment: str | None, by: str
) -> tuple[Match, Events]:
    """Each side rates a completed engagement once (EngagementRated)."""
    s = _need_side(side, *SIDES)
    _need_status(match, "completed")
    if match.ratings.of(s) is not None:
        raise Conflict(f"the {s} side has already rated this engagement")
    rating = Rating(score, comment, by, stamp(now))
    data = ev.EngagementRated(**match.keys(), rated_by=s, score=score)
    return replace(match, ratings=match.ratings.with_(s, rating)), [data]
