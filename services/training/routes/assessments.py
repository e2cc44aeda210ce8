"""Routes of instruments and assessments: answer, read, benchmark, compare with the baseline."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query, Response

from clustergrowth.auth import CurrentPrincipal, RuledRouter, allow
from clustergrowth.context import public
from clustergrowth.errors import problem_responses
from clustergrowth.paging import Page
from clustergrowth.problems import NotFound
from clustergrowth.store.port import Doc
from services.training import charts
from services.training import commands as c
from services.training.domain.instrument import KINDS, LANGUAGES, instrument, latest, versions
from services.training.handlers import assessments as h
from services.training.handlers import benchmarks as b
from services.training.routes.common import PROBLEMS, Ctx
from services.training.wire import PracticeAssessmentOut

router = RuledRouter(responses=PROBLEMS)
SME = "sme_member"
SmeFilter = Query(None, max_length=80, description="only this SME's")
Language = Literal["en", "es", "it", "fr", "tr"]
Lang = Annotated[Language, Query(description="language of the texts; ids, options and scoring are the same in each")]
assert set(Language.__args__) == set(LANGUAGES)  # type: ignore[attr-defined]


def out(doc: Doc) -> PracticeAssessmentOut:
    return PracticeAssessmentOut.model_validate(public(doc))


@router.get("/instruments", **allow("any"), summary="The instruments and their versions")
async def list_instruments(page: Page, response: Response, lang: Lang = "en") -> list[dict[str, Any]]:
    response.headers["Content-Language"] = lang
    items = [
        {"id": k, "versions": list(versions(k)), "title": latest(k).served(lang)["title"], "lang": lang} for k in KINDS
    ]
    return page.of(items, lambda i: [i["id"]])


@router.get("/instruments/{kind}/{version}", **allow("any"), summary="One version of an instrument, whole")
async def get_instrument(kind: str, version: str, response: Response, lang: Lang = "en") -> dict[str, Any]:
    if kind not in KINDS or version not in versions(kind):
        raise NotFound(f"no instrument {kind} version {version}")
    response.headers["Content-Language"] = lang
    return instrument(kind, version).served(lang)


@router.post(
    "/assessments",
    **allow(SME),
    status_code=201,
    summary="Assess an SME's management practices (your organisation's SME): PracticesAssessed",
)
async def assess(who: CurrentPrincipal, t: Ctx, body: c.AssessPractices) -> PracticeAssessmentOut:
    return out(await h.assess(t, body, who))


@router.get("/assessments", **allow(SME), summary="Your organisation's assessments, newest first")
async def list_assessments(
    who: CurrentPrincipal, t: Ctx, page: Page, sme_id: str | None = SmeFilter
) -> list[PracticeAssessmentOut]:
    return [out(d) for d in await h.list_assessments(t, who, page, sme_id)]


@router.get("/assessments/{assessment_id}", **allow(SME), summary="One assessment of your organisation")
async def get_assessment(who: CurrentPrincipal, t: Ctx, assessment_id: str) -> PracticeAssessmentOut:
    return out(await h.visible(t, assessment_id, who))


@router.get(
    "/assessments/{assessment_id}/benchmark",
    **allow(SME),
    summary="Where the assessment stands among peers: the peer group used, its size, what disclosure allows",
)
async def benchmark(who: CurrentPrincipal, t: Ctx, assessment_id: str) -> dict[str, Any]:
    return await b.of_assessment(t, assessment_id, who)


@router.get(
    "/assessments/{assessment_id}/comparison",
    **allow(SME),
    summary="A re-assessment against its baseline: deltas per practice, the plan's goals met or not",
)
async def comparison(who: CurrentPrincipal, t: Ctx, assessment_id: str) -> dict[str, Any]:
    return await h.compare(t, assessment_id, who)


@router.get(
    "/assessments/{assessment_id}/comparison.svg",
    **allow(SME),
    response_class=Response,
    summary="The comparison as an SVG chart (axes, units, legend)",
    responses=problem_responses(404, 409),
)
async def comparison_svg(who: CurrentPrincipal, t: Ctx, assessment_id: str) -> Response:
    return Response(charts.comparison_svg(await h.compare(t, assessment_id, who)), media_type="image/svg+xml")
