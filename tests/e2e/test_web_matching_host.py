"""The host side of matching in a real browser (Debian's Chromium driven by Playwright) against
``clustergrowth run``: an SME's member posts a challenge (the API's refusal shown at its field first),
two visiting academics rank it (one with a display name), she publishes the draft her SME's weak
assessment suggested and orders the applicants. Then axe-core (WCAG 2.1 A and AA) on each of these
pages, and on the refused form, in every language, with zero violations; each page photographed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser

from clustergrowth.auth import DevIssuer
from clustergrowth.settings import RuntimeSettings
from tests.component.test_mapping_api import answers, sme
from tests.e2e.test_web_journeys import switch_language
from tests.e2e.webkit import no_violations, shoot, sign_in
from web.settings import LANGUAGES

ORG = "Cork Precision Tooling"  # the demo SME member's organisation (web/personas.py)


def api(stack: str, stack_data: Path, sub: str, role: str, org: str | None = None) -> httpx.Client:
    """The stack's API as one person (a token from its development issuer)."""
    settings = RuntimeSettings(data_dir=stack_data / "data")
    token = DevIssuer(settings.data_dir).mint(settings, sub, [role], settings.region, org)
    return httpx.Client(base_url=f"{stack}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def weak_sme(stack: str, stack_data: Path) -> str:
    """An SME of the member's organisation whose assessment scores every need 1 of 5: matching suggests a
    draft challenge to it. Returns the draft's id, once matching has it."""
    with api(stack, stack_data, "demo-sme", "sme_member", ORG) as member:
        made = member.post("/mapping/smes", json=sme(legal_name="Ballincollig Gears"))
        assert made.status_code == 201, made.text
        sme_id = made.json()["id"]
        r = member.post(f"/mapping/smes/{sme_id}/assessments", json={"instrument_version": "1", "answers": answers(1)})
        assert r.status_code == 201, r.text
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            drafts = member.get("/matching/challenges", params={"status": "draft"}).json()
            mine = [d["id"] for d in drafts if d["sme_id"] == sme_id]
            if mine:
                return str(mine[0])
            time.sleep(0.2)
    raise AssertionError("no draft was suggested")


def applicants_rank(stack: str, stack_data: Path, challenge: str) -> None:
    """Two visiting academics rank the challenge first: one gives her name, the other none."""
    span: dict[str, Any] = {"languages": ["en"], "available_from": "2028-01-01", "available_until": "2028-12-31"}
    for sub, name in (("visiting-1", "Dr Ines Duarte"), ("visiting-2", None)):
        with api(stack, stack_data, sub, "academic", "University of Coimbra") as person:
            body = {"kind": "academic", "skills": ["tribology"], **span} | ({"display_name": name} if name else {})
            assert person.put("/matching/candidates/me", json=body).status_code == 200
            r = person.put("/matching/candidates/me/preferences", json={"ranking": [challenge]})
            assert r.status_code == 200, r.text


def test_an_sme_posts_publishes_and_ranks_its_applicants(
    browser: Browser, stack: str, stack_data: Path, axe: Axe
) -> None:
    draft = weak_sme(stack, stack_data)
    context = browser.new_context()
    try:
        page = context.new_page()
        sign_in(page, stack, "demo-sme")
        page.goto(f"{stack}/matching")
        page.click("nav.subnav a[href='/matching/hosting']")
        assert page.locator(f"a[href='/matching/hosting/drafts/{draft}']").count() == 1
        page.click("main a[href='/matching/hosting/new']")
        page.check("#programme-change_of_perspective")
        page.fill("#title", "Visiting researcher: gear wear")
        page.fill("#scope", "Model gear wear on the hobbing line from the vibration data we keep.")
        page.fill("#skills", "tribology")
        page.select_option("#work_mode", "on_site")
        page.fill("#term", "2028-spring")
        page.fill("#starts_on", "2028-03-01")
        page.fill("#ends_on", "2028-02-01")  # before the start: the API refuses, at the field
        page.fill("#capacity", "2")
        page.check("#ip-nda-portfolio-safe")
        page.click("main button[type=submit]")
        assert "is before starts_on" in page.locator("#ends_on-error").inner_text()
        assert page.get_attribute("#ends_on", "aria-describedby") == "ends_on-error"
        shoot(page, "matching-post-error")
        page.fill("#ends_on", "2028-06-30")
        page.click("main button[type=submit]")
        assert page.locator(".notice").inner_text() == "The challenge is posted: candidates can rank it now."
        challenge = page.url.split("/")[-1].split("?")[0]
        shoot(page, "matching-posted")
        applicants_rank(stack, stack_data, challenge)

        pages = {
            "hosting": "/matching/hosting",
            "post": "/matching/hosting/new",
            "publish": f"/matching/hosting/drafts/{draft}",
            "applicants": f"/matching/hosting/{challenge}/applicants",
        }
        for lang in LANGUAGES:
            switch_language(page, lang)
            for name, path in pages.items():
                page.goto(f"{stack}{path}")
                if name == "post":  # the academics who rank the challenge offer supervision: listed by name
                    assert page.locator("select#supervisor option", has_text="Dr Ines Duarte").count() == 1
                no_violations(axe, page, f"matching {name} {lang}")
                shoot(page, f"matching-{name}-{lang}")
            page.fill("input.rank >> nth=0", "7")  # two applicants: 1 or 2
            page.click("main button[type=submit]")
            assert page.locator("main .field-error").count() == 1
            no_violations(axe, page, f"matching applicants refused {lang}")
        switch_language(page, "en")

        page.goto(f"{stack}/matching/hosting/drafts/{draft}")
        page.check("#programme-change_of_perspective")
        page.select_option("#work_mode", "hybrid")
        page.fill("#term", "2028-spring")
        page.fill("#starts_on", "2028-03-01")
        page.fill("#ends_on", "2028-06-30")
        page.check("#ip-open-results")
        page.click("main button[type=submit]")
        assert page.locator(".notice").inner_text() == "The challenge is published: candidates can rank it now."

        page.goto(f"{stack}/matching/hosting/{challenge}/applicants")
        rows = page.locator("main tbody tr")
        assert rows.count() == 2
        named = page.locator("main tbody tr", has_text="Dr Ines Duarte")
        unnamed = rows.filter(has_not=page.locator("th bdi"))  # no display name: known by its platform id
        named.locator("input.rank").fill("2")
        unnamed.locator("input.rank").fill("1")
        page.click("main button[type=submit]")
        assert page.locator(".notice").inner_text() == "Your ranking of the applicants is saved."
        assert page.locator("main tbody tr").first.locator("th bdi").count() == 0  # the one ranked first
        assert page.locator("main tbody tr").first.locator("input.rank").input_value() == "1"
        assert "Dr Ines Duarte" in page.locator("main tbody tr").nth(1).inner_text()
        shoot(page, "matching-applicants", readme=True)
    finally:
        context.close()
