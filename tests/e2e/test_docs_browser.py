"""The docs page in a real browser: ``clustergrowth run`` as a user starts it, ``/docs`` opened in
headless Chromium (Debian's package, from ``deploy/native/provision.sh chromium``; never skipped: a
missing browser is an error, as a missing backend is) driven by Playwright. Swagger UI must render
every operation from the gateway's own assets, show no parser error, break no rule of the page's
Content-Security-Policy and ask nothing of any host but the gateway."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Request, sync_playwright

from tests.backends import provision

CLI = str(Path(sys.executable).parent / "clustergrowth")
BOOKINGS, SLOT_TAKEN = "/api/v1/facilities/bookings", "the slot is taken"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium() -> str:
    """The browser's path; provisioned (apt-get) when missing, and an error when it cannot be had."""
    path = provision("chromium")
    assert os.access(path, os.X_OK), f"no Chromium at {path}"
    return path


def test_the_docs_page_renders_every_operation_offline(chromium: str, stack: str, tmp_path: Path) -> None:
    gateway = stack  # clustergrowth run on a free loopback port with its own data (tests/e2e/conftest.py)
    spec = httpx.get(f"{gateway}/openapi.json").json()
    operations = sum(len(ops) for ops in spec["paths"].values())
    assert operations >= 50
    assert "/docs" in httpx.get(f"{gateway}/").text  # / is the web client (web/), whose footer links the docs

    requests: list[str] = []
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh user-data-dir
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            page = browser.new_page()

            def on_request(r: Request) -> None:
                requests.append(r.url)

            def on_console(m: ConsoleMessage) -> None:
                if m.type == "error":
                    problems.append(f"console: {m.text}")

            page.on("request", on_request)
            page.on("console", on_console)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

            response = page.goto(f"{gateway}/docs", wait_until="load")
            assert response is not None and response.ok and page.url == f"{gateway}/docs"
            assert "script-src 'self' 'sha256-" in response.headers["content-security-policy"]
            # a function, not a bare expression: Playwright polls a bare expression with eval(), which the
            # page's CSP refuses once the first check finds too few operations (a slow machine)
            page.wait_for_function(
                f"() => document.querySelectorAll('.opblock').length >= {operations}", timeout=60_000, polling=200
            )
            booking = page.locator(f".opblock-post:has([data-path='{BOOKINGS}'])")
            booking.locator(".opblock-summary").click()  # open one: its parameters and responses render
            conflict = booking.locator(".responses-table tr.response[data-code='409']")
            conflict.wait_for(timeout=10_000)
            assert SLOT_TAKEN in conflict.inner_text()  # the route's own words, not the generic ones
            conflict.scroll_into_view_if_needed()
            page.screenshot(path=str(tmp_path / "docs.png"))

            assert page.locator(".opblock").count() == operations
            assert page.locator(".errors-wrapper").count() == 0, page.locator(".errors-wrapper").inner_text()
            text = page.locator("#swagger-ui").inner_text()
            for failure in ("Parser error", "Unable to render this definition", "Failed to load API definition"):
                assert failure not in text
            assert spec["info"]["title"] in text
        finally:
            browser.close()

    assert problems == []  # a script refused by the page's CSP, or one that failed, shows here
    hosts = {urlsplit(u).hostname for u in requests if urlsplit(u).scheme in ("http", "https", "ws", "wss")}
    assert hosts == {"127.0.0.1"}, sorted(u for u in requests if urlsplit(u).hostname != "127.0.0.1")
    assert {f"{gateway}/docs/assets/swagger-ui-bundle.js", f"{gateway}/docs/assets/swagger-ui.css"} <= set(requests)
    assert f"{gateway}/openapi.json" in requests
    assert (tmp_path / "docs.png").stat().st_size > 10_000
