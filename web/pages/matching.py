"""Matching, its first pages: the challenge marketplace (the open challenges SMEs offer to student teams
and visiting academics, with the SME's own suggested drafts) and one challenge (scope, skills, languages,
dates, team size and its IP/NDA terms in words)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from web.app import Page, Web

MAX_LIST = 200
PROGRAMMES = ("consultancy", "change_of_perspective")


def routes(web: Web) -> list[Route]:
    def words(page: Page) -> dict[str, Any]:
        return {
            "programmes": {
                "consultancy": page._("Student consultancy"),
                "change_of_perspective": page._("Change of perspective (visiting academic)"),
            },
            "modes": {"on_site": page._("On site"), "remote": page._("Remote"), "hybrid": page._("Hybrid")},
            "statuses": {"open": page._("Open"), "draft": page._("Draft suggested from an assessment")},
            "ip": {
                "open-results": page._("Open results: every party may publish; students keep full portfolio rights."),
                "nda-portfolio-safe": page._(
                    "Confidentiality: the SME's information stays confidential; students may still describe "
                    "their role, methods and skills in a portfolio, CV or thesis without confidential figures."
                ),
                "ip-assignment-portfolio-safe": page._(
                    "The results' rights go to the SME; students may still show their work in a portfolio "
                    "without confidential figures."
                ),
            },
        }

    async def marketplace(page: Page) -> Response:
        programme = page.request.query_params.get("programme", "")
        params: dict[str, str | int] = {"limit": MAX_LIST}
        if programme in PROGRAMMES:
            params["programme"] = programme
        else:
            programme = ""
        found = await page.api.get("/matching/challenges", params)
        found.sort(key=lambda c: (c["status"] != "open", c.get("starts_on") or "", c["title"]))
        return page.render(
            "matching/challenges.html",
            challenges=found,
            programme=programme,
            here="/matching",
            **words(page),
        )

    async def challenge(page: Page) -> Response:
        found = await page.api.get(f"/matching/challenges/{page.request.path_params['challenge_id']}")
        return page.render("matching/challenge.html", c=found, here="/matching", **words(page))

    return [
        Route("/matching", web.page(marketplace)),
        Route("/matching/challenges/{challenge_id}", web.page(challenge)),
    ]
