"""Routes of decisions: proposals put to a council, votes, outcomes (for the council's members)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query

from clustergrowth.auth import CurrentPrincipal, RuledRouter, allow
from clustergrowth.context import public
from clustergrowth.paging import Page
from clustergrowth.store.port import Doc
from services.councils import commands as c
from services.councils.domain.decision import LABELS
from services.councils.handlers import decisions as h
from services.councils.routes.common import PROBLEMS, Ctx
from services.councils.wire import DecisionOut

router = RuledRouter(responses=PROBLEMS)
Language = Literal["en", "es", "it", "fr", "tr"]
Lang = Annotated[Language, Query(description="language of state_label; state is the stable key")]
assert set(Language.__args__) == set(LABELS)  # type: ignore[attr-defined]
One = "/councils/{council_id}/decisions/{decision_id}"


def out(doc: Doc, lang: str) -> DecisionOut:
    return DecisionOut.model_validate(public(h.view(doc, lang)))


@router.get("/councils/{council_id}/decisions", **allow("any"), summary="A council's decisions (its members)")
async def list_decisions(
    who: CurrentPrincipal,
    f: Ctx,
    council_id: str,
    page: Page,
    state: Literal["open", "closed"] | None = None,
    lang: Lang = "en",
) -> list[DecisionOut]:
    return [out(d, lang) for d in await h.list_decisions(f, council_id, who, page, state)]


@router.post(
    "/councils/{council_id}/decisions",
    **allow("any"),
    status_code=201,
    summary="Put a proposal to the council (the secretary, the region's staff)",
)
async def open_decision(who: CurrentPrincipal, f: Ctx, council_id: str, body: c.OpenDecision) -> DecisionOut:
    return out(await h.open_decision(f, council_id, body, who), "en")


@router.get(One, **allow("any"), summary="One decision, its votes and outcome (the council's members)")
async def get_decision(
    who: CurrentPrincipal, f: Ctx, council_id: str, decision_id: str, lang: Lang = "en"
) -> DecisionOut:
    return out(await h.get_decision(f, council_id, decision_id, who), lang)


@router.put(
    One + "/votes/mine",
    **allow("any"),
    summary="My vote with a reason (voting members; changeable while open)",
)
async def vote(who: CurrentPrincipal, f: Ctx, council_id: str, decision_id: str, body: c.Vote) -> DecisionOut:
    return out(await h.vote(f, council_id, decision_id, body, who), "en")


@router.post(
    One + "/close",
    **allow("any"),
    summary="Close with an outcome: statement, chosen option, review date (the secretary)",
)
async def close(who: CurrentPrincipal, f: Ctx, council_id: str, decision_id: str, body: c.CloseDecision) -> DecisionOut:
    return out(await h.close(f, council_id, decision_id, body, who), "en")
