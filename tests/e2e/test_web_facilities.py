"""The facilities managers' and the week calendar's journey in a real browser (Debian's Chromium driven by
Playwright) against ``clustergrowth run``: a manager lists a resource (a bad capacity first, named at its
field), a person finds it free in the site's week, books that hour from the calendar by keyboard only and
books it every week; her bookings list the series with a link to it; the manager sees the hour in the
site's usage. axe-core (WCAG 2.1 A and AA) on each of these pages in every language, zero violations;
every page photographed into ``.cache/screenshots/web``."""

from __future__ import annotations

import re
import time
from datetime import timedelta

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page

from tests.e2e.webkit import SITE, enter, no_violations, shoot, sign_in, tab_to, weekday_ahead
from web.settings import LANGUAGES

BENCH = "Journey bench"  # this module's own resource: the journey does not depend on other modules' bookings


def list_the_bench(m: Page, stack: str) -> str:
    m.goto(f"{stack}/facilities/manage/resources")
    m.select_option("#res_site_id", SITE)
    m.fill("#res_name", BENCH)
    m.select_option("#res_kind", "equipment")
    m.fill("#res_capacity", "0")
    m.click("form[action='/facilities/manage/resources'] button[type=submit]")
    m.wait_for_load_state()
    assert m.locator("#res_capacity-error").inner_text() == "Error: Enter a whole number from 1 to 500."
    assert m.get_attribute("#res_capacity", "aria-invalid") == "true"
    shoot(m, "manage-resource-error")
    m.fill("#res_capacity", "1")
    m.click("form[action='/facilities/manage/resources'] button[type=submit]")
    m.wait_for_url(re.compile(r".*done=resource&made=.*"))
    assert m.locator(".notice").inner_text() == "The resource is listed."
    assert m.locator("tbody th", has_text=BENCH).count() == 1
    shoot(m, "manage-resources", readme=True)
    return m.url.split("made=")[1]


def test_a_manager_lists_a_resource_and_a_person_books_it_from_the_week(browser: Browser, stack: str, axe: Axe) -> None:
    sme, manager = browser.new_context(), browser.new_context()
    try:
        m, page = manager.new_page(), sme.new_page()
        sign_in(m, stack, "demo-manager")
        bench = list_the_bench(m, stack)

        sign_in(page, stack, "demo-sme")
        day = weekday_ahead(12)
        monday = day - timedelta(days=day.weekday())
        page.goto(f"{stack}/facilities/sites/{SITE}?week={day.isoformat()}")
        page.select_option("#week-resource", bench)  # one resource's week at a time
        page.click("form.week-choice button[type=submit]")
        page.wait_for_load_state()
        week = page.locator("table.week", has=page.locator("caption", has_text=f"{BENCH}: the week by hour"))
        assert week.count() == 1
        shoot(page, "site-week", readme=True)
        hour = f"a[href*='day={day.isoformat()}&week={monday.isoformat()}&resource_id={bench}&start=09:00&end=10:00']"
        tab_to(page, hour, limit=200)  # by keyboard: the free hour, then the form it fills in
        enter(page)
        assert page.input_value("#start") == "09:00" and page.input_value("#end") == "10:00"
        assert page.input_value("#resource_id") == bench and page.input_value("#day") == day.isoformat()
        tab_to(page, "form.booking button.primary")
        enter(page)
        assert "booked=" in page.url
        assert "Confirmed" in page.locator("tbody tr", has_text=BENCH).first.inner_text()

        page.goto(f"{stack}/facilities/sites/{SITE}?day={day.isoformat()}")
        page.select_option("#series_resource_id", bench)
        page.fill("#series_day", day.isoformat())
        page.fill("#series_start", "14:00")
        page.fill("#series_end", "15:00")
        page.fill("#series_weeks", "2")
        page.click("form.series button[type=submit]")
        page.wait_for_url(re.compile(r".*/facilities/series/.*done=booked"))
        series = page.url.split("/facilities/series/")[1].split("?")[0]
        page.goto(f"{stack}/facilities/bookings")
        row = page.locator("#series-title + table tbody tr", has_text=BENCH)
        assert "Every week, 2 dates" in row.inner_text()
        assert row.locator("a").get_attribute("href") == f"/facilities/series/{series}"
        shoot(page, "my-series")

        deadline = time.monotonic() + 30  # the usage projection follows the bookings' events
        while True:
            m.goto(f"{stack}/facilities/manage/sites/{SITE}")
            if m.locator("th[scope=col]", has_text=BENCH).count() or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert m.locator("th[scope=col]", has_text=BENCH).count() == 1
        assert m.locator("figure img").evaluate("i => i.complete && i.naturalWidth > 0")
        shoot(m, "site-usage", readme=True)

        for lang in LANGUAGES:
            for p in (page, m):  # the language switch, as a person uses it
                p.select_option("#lang-choice", lang)
                p.click("form[action='/language'] button[type=submit]")
                p.wait_for_load_state()
                assert p.get_attribute("html", "lang") == lang
            for p, name, path in (
                (page, "site-week", f"/facilities/sites/{SITE}?week={day.isoformat()}&resource={bench}"),
                (page, "my-series", "/facilities/bookings"),
                (m, "manage-resources", "/facilities/manage/resources"),
                (m, "site-usage", f"/facilities/manage/sites/{SITE}"),
            ):
                p.goto(f"{stack}{path}")
                no_violations(axe, p, f"{name} {lang}")
                shoot(p, f"{name}-{lang}")
            m.goto(f"{stack}/facilities/manage/resources")
            m.fill("#res_capacity", "501")
            m.click("form[action='/facilities/manage/resources'] button[type=submit]")
            m.wait_for_load_state()
            assert m.locator("#res_capacity-error").count() == 1
            no_violations(axe, m, f"manage-resource-error {lang}")
            shoot(m, f"manage-resource-error-{lang}")
    finally:
        sme.close()
        manager.close()
