"""A council's managers in a real browser (Debian's Chromium driven by Playwright) against ``clustergrowth
run``: the secretary schedules a meeting (refused first at its field), checks a member in, drafts the
minutes and is told when the meeting can be closed; puts an initiative's launch to the council, closes
that decision without a vote and is told in words why it does not launch; reports the demo initiative's
progress; reads the council's spotlight (its pygal chart loads under the page's CSP). axe-core (WCAG 2.1
A and AA) finds no violation on each of these pages, and the refused forms, in every language; each page
is photographed."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page

from tests.e2e.webkit import no_violations, shoot, sign_in
from web.settings import LANGUAGES

COUNCIL = "/councils/council-cork"
ZONE = ZoneInfo("Europe/Dublin")  # the demo council's meetings' zone


def switch_language(p: Page, lang: str) -> None:
    """The language switch, as a person uses it."""
    p.select_option("#lang-choice", lang)
    p.click("form[action='/language'] button[type=submit]")


def chart_loaded(page: Page) -> None:
    """Every chart of the page has loaded (a chart that fails has naturalWidth 0: Playwright's timeout)."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('figure img')].every(i => i.complete && i.naturalWidth > 0)"
    )


def test_a_secretary_runs_a_meeting_and_an_initiative(browser: Browser, stack: str, axe: Axe) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        sign_in(page, stack, "demo-secretary")
        page.goto(f"{stack}{COUNCIL}")
        page.click("main a[href$='/meetings/new']")
        # in 40 minutes, in Dublin: check-in is open (from 60 minutes before), closing is not yet
        start = (datetime.now(ZONE) + timedelta(minutes=40)).replace(second=0, microsecond=0)
        if start.time() >= time(23, 50):  # keep start and end on one day (the form has one day)
            start -= timedelta(minutes=15)
        end = min(start + timedelta(hours=1), start.replace(hour=23, minute=59))
        page.fill("#day", start.date().isoformat())
        page.fill("#start", start.strftime("%H:%M"))
        page.fill("#end", end.strftime("%H:%M"))
        page.fill("#place", "Rubicon Centre, Cork")
        page.fill("#agenda", "Access rules\nBudget")
        page.click("main form button[type=submit]")  # no title: said at its field
        assert page.get_attribute("#title", "aria-describedby") == "title-error"
        schedule_refused = page.url
        page.fill("#title", "Browser meeting")
        page.click("main form button[type=submit]")
        assert "done=scheduled" in page.url
        meeting = page.url.split("?")[0]
        shoot(page, "council-run-meeting")
        page.select_option("#person", index=1)
        page.click("form[action$='/check-in'] button")
        assert "done=checked_in" in page.url and page.locator("main li").count() >= 1
        page.fill("#draft-text", "Access rules agreed.")
        page.click("form[action$='/minutes'] button")
        assert "done=drafted" in page.url and page.input_value("#minutes") == "Access rules agreed."
        page.click("form[action$='/close'] button")  # before the start: the page says when
        assert "can be closed once it has started" in page.locator(".problem").inner_text()

        page.goto(f"{stack}{COUNCIL}/initiatives/new")
        page.fill("#title", "Browser initiative")
        page.fill("#summary", "Shared test days.")
        page.click("main form button[type=submit]")
        initiative = f"{stack}{COUNCIL}/initiatives/" + page.url.split("#initiative-")[1]
        page.goto(initiative)
        page.click("form[action$='/put'] button")
        assert "done=put" in page.url
        page.click("main a[href*='/decisions#d-']")
        page.click("form[action$='/close'] button")  # nothing filled: said at its fields
        assert page.locator("form[action$='/close'] .field-error").count() == 2
        page.fill("form[action$='/close'] textarea", "Endorsed without a vote")
        page.select_option("form[action$='/close'] select", "endorse")
        page.click("form[action$='/close'] button")
        assert "done=closed" in page.url
        page.goto(initiative)
        page.select_option("#decision_id", index=1)
        page.click("form[action$='/launch'] button")
        assert "closed without a single vote" in page.locator(".problem").inner_text()
        shoot(page, "council-run-initiative-refused")

        active = f"{stack}{COUNCIL}/initiatives/ini-cork-1"  # the demo's active initiative
        page.goto(active)
        page.fill("#progress", "55")
        page.fill("#milestones-0-title", "Bench installed")
        page.fill("#milestones-0-due_on", start.date().isoformat())
        page.click("form[action$='/progress'] button")
        assert "done=progress" in page.url and page.get_attribute("#progress-meter", "value") == "55"
        shoot(page, "council-run-initiative")

        page.goto(f"{stack}{COUNCIL}")
        page.click("main a[href$='/spotlight']")
        chart_loaded(page)
        assert page.locator("#spotlight-table tbody tr").count() == 8  # the eight needs
        shoot(page, "council-run-spotlight", readme=True)

        for lang in LANGUAGES:
            switch_language(page, lang)
            for name, url in {
                "council": f"{stack}{COUNCIL}",
                "schedule": f"{stack}{COUNCIL}/meetings/new",
                "meeting": meeting,
                "initiative": initiative,
                "active initiative": active,
                "decisions": f"{stack}{COUNCIL}/decisions",
                "spotlight": f"{stack}{COUNCIL}/spotlight",
            }.items():
                page.goto(url)
                if name == "spotlight":
                    chart_loaded(page)
                no_violations(axe, page, f"council {name} {lang}")
                shoot(page, f"council-run-{name.replace(' ', '-')}-{lang}")
            page.goto(schedule_refused)
            page.click("main form button[type=submit]")  # the empty form: each field named with its reason
            assert page.locator(".field-error").count() >= 4
            no_violations(axe, page, f"council schedule refused {lang}")
            page.goto(meeting)
            page.click("form[action$='/close'] button")
            assert page.locator(".problem").count() == 1
            no_violations(axe, page, f"council close refused {lang}")
            page.goto(initiative)
            page.select_option("#decision_id", index=1)
            page.click("form[action$='/launch'] button")
            assert page.locator(".problem").count() == 1
            no_violations(axe, page, f"council launch refused {lang}")
    finally:
        context.close()
