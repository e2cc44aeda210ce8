"""What every browser journey of the web client shares: ``clustergrowth run`` on a free port with its own
data (one per test module), Debian's Chromium driven by Playwright, axe-core at WCAG 2.1 A and AA, the
screenshot step (``.cache/screenshots/web``; with ``CG_UPDATE_SCREENS=1`` the README's go to
``docs/screens``) and keyboard-only moves. The fixtures are in ``tests/e2e/conftest.py``."""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "clustergrowth")
SHOTS = ROOT / ".cache" / "screenshots" / "web"
README_SHOTS = ROOT / "docs" / "screens"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
SITE = "ork-rubicon"  # the demo's site in this region (IE05), Europe/Dublin


def shoot(page: Page, name: str, readme: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    if readme and os.environ.get("CG_UPDATE_SCREENS") == "1":
        README_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(SHOTS / f"{name}.png", README_SHOTS / f"web-{name}.png")


def no_violations(axe: Axe, page: Page, name: str) -> None:
    results = axe.run(page, options=WCAG)
    assert results.violations_count == 0, f"{name}: {results.generate_report()}"


def tab_to(page: Page, selector: str, limit: int = 80) -> None:
    """Press Tab until the focused element matches ``selector`` (as a keyboard user moves)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} is not reachable by Tab")


def enter(page: Page) -> None:
    """Press Enter on the focused link or button and wait for the page it leads to."""
    with page.expect_navigation():
        page.keyboard.press("Enter")


def weekday_ahead(days: int) -> date:
    d = date.today() + timedelta(days=days)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


def reload_until(page: Page, selector: str, count: int, within_s: float = 90) -> None:
    """Reload ``page`` until ``selector`` matches ``count`` elements: for a page read from a projection that
    the stack's consumers fill after it is ready (a dashboard counts the seeded events as they arrive)."""
    deadline = time.monotonic() + within_s
    while page.locator(selector).count() != count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{page.url}: {page.locator(selector).count()} of {selector}, not {count}")
        page.wait_for_timeout(500)
        response = page.reload()
        assert response is not None and response.ok, f"{page.url}: {response and response.status}"  # not an error page


def sign_in(page: Page, stack: str, persona: str) -> None:
    page.goto(f"{stack}/")
    page.check(f"#persona-{persona}")
    page.click("form[action='/sign-in/persona'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))
