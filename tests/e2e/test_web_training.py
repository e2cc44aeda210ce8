"""Training's coordinator pages and mobility placements in a real browser (Chromium driven by Playwright)
against ``clustergrowth run``: a coordinator offers a module through its form, an SME enrols, attendance
before a session's start is refused in words, the coordinator reschedules, records attendance, completes
the enrolment and revokes the credential; and the placements journey of the four parties. axe-core (WCAG
2.1 A and AA) on each of these pages in every language, zero violations; every page photographed."""

from __future__ import annotations

import re
from datetime import date, timedelta

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page

from tests.e2e.webkit import no_violations, shoot, sign_in
from web.settings import LANGUAGES

MODULE = "Lean basics for machinists"


def switch_language(p: Page, lang: str) -> None:
    p.select_option("#lang-choice", lang)
    p.click("form[action='/language'] button[type=submit]")
    p.wait_for_load_state()
    assert p.get_attribute("html", "lang") == lang


def offer_module(p: Page, stack: str) -> str:
    """The coordinator's form, filled as a person does: the module's coordinator page."""
    p.goto(f"{stack}/training")
    p.click("main a[href='/training/coordinate']")
    p.click("main a[href='/training/coordinate/new']")
    assert p.locator("input[name$='.title']").count() == 4  # four session rows to start with
    p.fill("#title", MODULE)
    p.check("#practice-lean_introduction")
    p.check("#practice-performance_tracking")
    p.check("#format-online")
    p.fill("#duration_hours", "6")
    p.fill("#capacity", "5")
    for i, day in enumerate((date.today() + timedelta(days=20), date.today() + timedelta(days=21))):
        p.fill(f"#sessions-{i}-title", f"Part {i + 1}")
        p.fill(f"#sessions-{i}-day", day.isoformat())
        p.fill(f"#sessions-{i}-start", "09:00")
        p.fill(f"#sessions-{i}-end", "12:00")
    p.click("main form button.primary")
    p.wait_for_url(re.compile(r".*/training/coordinate/modules/mod-[\w-]+\?done=created$"))
    return p.url.split("?")[0]


def test_a_coordinator_runs_a_module_from_offer_to_revocation(browser: Browser, stack: str, axe: Axe) -> None:
    coordinator, sme = browser.new_context(), browser.new_context()
    try:
        co, member = coordinator.new_page(), sme.new_page()
        sign_in(co, stack, "demo-admin")
        sign_in(member, stack, "demo-sme")
        manage = offer_module(co, stack)
        member.goto(f"{stack}/training")
        member.click(f"button[aria-label='Enrol in {MODULE}']")
        member.wait_for_url(re.compile(r".*/training\?done=confirmed$"))

        # attendance before the session starts: refused, in words, at the session
        co.goto(manage)
        co.check("#present-1-1")
        co.click("form[action$='/sessions/1/attendance'] button[type=submit]")
        co.wait_for_load_state()
        assert "its attendance can be recorded from then" in co.inner_text("#present-1-error")

        # rescheduled to the last two days (nothing recorded yet, so the sessions may change), then both
        # sessions' attendance and the completion: the credential is issued
        co.goto(manage)
        for i, day in enumerate((date.today() - timedelta(days=2), date.today() - timedelta(days=1))):
            co.fill(f"#sessions-{i}-day", day.isoformat())
        co.click("main button.primary")
        co.wait_for_url(re.compile(r".*\?done=changed$"))
        for n in (1, 2):
            co.check(f"#present-{n}-1")
            co.click(f"form[action$='/sessions/{n}/attendance'] button[type=submit]")
            co.wait_for_url(re.compile(rf".*\?done=attendance&session={n}$"))
        co.click("button[aria-label^='Complete the enrolment of']")
        co.wait_for_url(re.compile(r".*\?done=completed$"))
        co.click("main a[href^='/training/coordinate/credentials/']")
        credential = co.url

        for lang in LANGUAGES:
            switch_language(co, lang)
            pages = {"coordinate": "/training/coordinate", "module-new": "/training/coordinate/new"}
            for name, path in pages.items():
                co.goto(f"{stack}{path}")
                no_violations(axe, co, f"{name} {lang}")
                shoot(co, f"{name}-{lang}")
            co.click("main form button.primary")  # the empty form: each reason at its field
            co.wait_for_load_state()
            assert co.locator("#title-error").count() == 1 and co.locator("#practices-error").count() == 1
            no_violations(axe, co, f"module-new error {lang}")
            shoot(co, f"module-new-error-{lang}")
            co.goto(manage)
            no_violations(axe, co, f"module-manage {lang}")
            shoot(co, f"module-manage-{lang}", readme=lang == "en")
            co.goto(credential)
            co.click("main form button.primary")  # no reason given: refused at the field
            co.wait_for_load_state()
            assert co.locator("#reason-error").count() == 1
            no_violations(axe, co, f"credential {lang}")
            shoot(co, f"credential-{lang}")
        co.goto(credential)
        co.fill("#reason", "Issued by mistake")
        co.click("main form button.primary")
        co.wait_for_url(re.compile(r".*\?done=revoked$"))
        member.goto(f"{stack}/training")
        assert "revoked" in member.inner_text("main")
    finally:
        coordinator.close()
        sme.close()


def test_a_placement_from_application_to_report_by_its_four_parties(browser: Browser, stack: str, axe: Axe) -> None:
    personas = ("demo-student", "demo-sme", "demo-admin", "demo-secretary", "demo-academic", "demo-manager")
    contexts = {p: browser.new_context() for p in personas}
    try:
        pages = {p: c.new_page() for p, c in contexts.items()}
        for persona, p in pages.items():
            sign_in(p, stack, persona)
        student, sme, admin, secretary = (pages[p] for p in personas[:4])
        student.goto(f"{stack}/training")
        student.click("main a[href='/placements']")
        student.click("main a[href='/placements/apply']")
        student.check("#kind-sme_staff")
        student.fill("#offers", "welding")
        student.fill("#seeks", "lean")
        student.click("main button.primary")
        student.wait_for_url(re.compile(r".*/placements\?done=applied$"))
        sme.goto(f"{stack}/placements/host")
        sme.check("#kind-sme")
        sme.fill("#years_running", "12")
        sme.fill("#places", "2")
        sme.fill("#offers", "lean")
        sme.fill("#seeks", "welding")
        sme.click("main button.primary")
        sme.wait_for_url(re.compile(r".*/placements\?done=host$"))

        admin.goto(f"{stack}/placements/coordinate")
        for kind in ("applicants", "hosts"):
            form = f"form[action^='/placements/coordinate/{kind}/']"
            admin.check(f"{form} input[value=accepted]")
            admin.click(f"{form} button[type=submit]")
            admin.wait_for_url(re.compile(r".*\?done=accepted$"))
        admin.check("#mode-stable")
        admin.click("main button.primary")
        admin.wait_for_load_state()
        no_violations(axe, admin, "placements-suggestions en")  # the engine's one suggestion
        shoot(admin, "placements-suggestions-en")
        admin.click("main a[href^='/placements/propose?applicant_id=']")
        admin.fill("#objectives", "Learn lean on the shop floor\nRun one kaizen event")
        admin.fill("#activity_plan", "Two weeks shadowing the lean team, then a kaizen event with them.")
        admin.fill("#parts-0-start", date.today().isoformat())
        admin.fill("#parts-0-weeks", "4")
        admin.click("main button.primary")
        admin.wait_for_url(re.compile(r".*/placements/plc-[\w-]+\?done=proposed$"))
        placement = admin.url.split("?")[0]
        no_violations(axe, admin, "placement proposed en")  # with the form to change the terms
        shoot(admin, "placement-proposed-en")
        for p, party in (
            (admin, "sending_intermediary"),
            (secretary, "host_intermediary"),
            (student, "applicant"),
            (sme, "host"),
        ):
            p.goto(placement)
            p.click(f"form:has(input[name=party][value={party}]) button")
            p.wait_for_url(re.compile(r".*\?done=accepted$"))
        student.goto(placement)
        assert "Active" in student.inner_text("main dl")  # agreed, from its first day: today
        student.check("#kind-progress")
        student.fill("#text", "Settled in; the lean team is welcoming.")
        student.click("main form[action$='/reports'] button.primary")
        student.wait_for_url(re.compile(r".*\?done=reported$"))

        for lang in LANGUAGES:
            for persona in ("demo-student", "demo-admin", "demo-academic", "demo-manager"):
                switch_language(pages[persona], lang)
            visits = {
                "placements": (student, "/placements"),
                "placement": (student, placement),
                "placements-coordinate": (admin, "/placements/coordinate"),
                "placement-intermediary": (admin, placement),  # with completing and ending early
                "placements-network": (admin, "/placements/network"),  # cross-border counts, partners' placements
            }
            for name, (p, path) in visits.items():
                p.goto(path if path.startswith("http") else f"{stack}{path}")
                no_violations(axe, p, f"{name} {lang}")
                shoot(p, f"{name}-{lang}", readme=(name, lang) == ("placement", "en"))
            for name, (p, path, error) in {  # each form sent empty: every reason at its field
                "placement-apply": (pages["demo-academic"], "/placements/apply", "#kind-error"),
                "placement-host": (pages["demo-manager"], "/placements/host", "#kind-error"),
                "placement-propose": (admin, "/placements/propose", "#applicant_id-error"),
            }.items():
                p.goto(f"{stack}{path}")
                p.click("main button.primary")
                p.wait_for_load_state()
                assert p.locator(error).count() == 1, name
                no_violations(axe, p, f"{name} {lang}")
                shoot(p, f"{name}-error-{lang}")
    finally:
        for c in contexts.values():
            c.close()
