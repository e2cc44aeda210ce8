"""Matching use cases, one module each: challenges, candidate profiles, allocation rounds, the lifecycle
of a match, and the sweeper's work. Each loads, asks the domain (``services/matching/domain``), saves.

Who may do what (services check this themselves; the gateway is not the only guard):
- post a challenge: ``sme_member`` (for their organisation) or ``region_admin``; publish or rank it:
  its organisation, the person who posted it, its supervising academic (ranking only), ``region_admin``;
  list its applicants (the candidates who rank it): those who may rank them;
- list the academics who offer supervision (to name a challenge's supervisor): those who may post one;
- keep a candidate profile and ranking: ``student`` (consultancy) or ``academic`` (change of perspective),
  each only their own;
- run an allocation round: ``region_admin`` (the programme coordinator); read a round's report:
  ``region_admin`` or ``analyst``; a candidate reads only their own explanation;
- answer a proposal: the candidate, or the host side (the challenge's organisation or its supervisor);
  milestones and completion: the host side; ratings: either side, once each.
Objects outside these rules are 404, as if they did not exist (drafts, profiles, matches).
A match or a round names its candidates by the display name of their profile (``names.py``), read when
answered, for those who may read it at all.
"""

from __future__ import annotations

from clustergrowth.context import public
from services.matching.domain.challenge import NEED_SKILLS
from services.matching.domain.round import LIVE
from services.matching.handlers.challenges import (
    get_challenge,
    list_applicants,
    list_challenges,
    post_challenge,
    publish_draft,
    rank_applicants,
    suggest_draft,
)
from services.matching.handlers.context import COORDINATOR, READERS, Matching
from services.matching.handlers.matches import (
    accept,
    add_milestone,
    complete,
    decline,
    get_match,
    list_matches,
    milestone_done,
    rate,
    side_of,
)
from services.matching.handlers.names import named_match, named_matches, named_round, named_rounds
from services.matching.handlers.profiles import get_profile, list_supervisors, put_profile, set_preferences
from services.matching.handlers.rounds import get_round, list_rounds, match_id, round_summary, run_round, start_round
from services.matching.handlers.sweep import expire_lapsed, materialise, sweep

__all__ = [
    "COORDINATOR",
    "LIVE",
    "NEED_SKILLS",
    "READERS",
    "Matching",
    "accept",
    "add_milestone",
    "complete",
    "decline",
    "expire_lapsed",
    "get_challenge",
    "get_match",
    "get_profile",
    "get_round",
    "list_applicants",
    "list_challenges",
    "list_matches",
    "list_rounds",
    "list_supervisors",
    "match_id",
    "materialise",
    "milestone_done",
    "named_match",
    "named_matches",
    "named_round",
    "named_rounds",
    "post_challenge",
    "public",
    "publish_draft",
    "put_profile",
    "rank_applicants",
    "rate",
    "round_summary",
    "run_round",
    "set_preferences",
    "side_of",
    "start_round",
    "suggest_draft",
    "sweep",
]
