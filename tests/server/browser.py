"""Playwright helpers for the browser tests of the web pages: Debian's Chromium, headless.

Tests are not a package: `tests/server/conftest.py` loads this file as the module
`tiebreak_test_browser` and re-exports its `chromium` fixture, so the tests of tests/server share
one browser per session (do not import the fixture into a test module: that would start a second
browser). A test module takes the helpers from that module:

    browser = sys.modules["tiebreak_test_browser"]  # loaded by conftest.py
    browser.sign_in(page, "alice", PASSWORD)

Never downloads a browser: Chromium is /usr/bin/chromium (the `chromium` Debian package).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from inventory import Inventory

CHROMIUM = Path(os.environ.get("TIEBREAK_CHROMIUM", "/usr/bin/chromium"))
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One headless Chromium per test module; give each test its own `context()`.

    Not per session: Playwright's synchronous API keeps an event loop running in the main thread
    while it is open, and the asyncio tests that run after (the TUI's) could not start theirs."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} missing: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def context(browser: Browser, base_url: str, locale: str = "fr-FR") -> BrowserContext:
    """A fresh context (no cookies) on the server, French by default like a French reader.

    Close it at the end of the test (`with context(...) as ctx:`)."""
    made = browser.new_context(base_url=base_url, locale=locale)
    made.set_default_timeout(TIMEOUT_MS)
    return made


def sign_in(page: Page, username: str, password: str, next_path: str = "") -> None:
    """Sign in through the /connexion page and wait for the page it leads to."""
    target = "/connexion" + (f"?suivant={next_path}" if next_path else "")
    page.goto(target)
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("form[action='/connexion'] button[type=submit]")
    if "/connexion" in page.url:
        problem = page.locator("#login-problem")
        shown = problem.inner_text() if problem.count() else page.title()
        raise AssertionError(f"sign-in of {username!r} failed: {shown}")


def post_inventory(base_url: str, inventory: Inventory, token: str) -> str:
    """Send an inventory as the agent does (POST with its token); the stored inventory's id."""
    answer = requests.post(
        f"{base_url}/api/v1/inventories",
        data=inventory.to_json().encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])
