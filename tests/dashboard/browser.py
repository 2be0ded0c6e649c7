"""A real browser for the tests: Debian's headless Chromium driven by Playwright (which
downloads no browser of its own), every request to another host than this machine refused;
signing in to the dashboard there, and screenshots kept in test-artifacts/ (git-ignored) and
listed in pytest's summary. Playwright's sync API: plain (not async) tests only."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests import helpers
from tests.summary import ARTIFACTS as SUMMARY

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"

# A module of browser tests: `pytestmark = needs_chromium`.
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"{CHROMIUM} is missing: install Debian's Chromium with `apt-get install chromium` (.ci/run does)",
)


def is_local(url: str) -> bool:
    return urlsplit(url).hostname in ("127.0.0.1", "localhost") or url.startswith(("data:", "blob:"))


@contextlib.contextmanager
def chromium_page(height: int = 1000, outside: list[str] | None = None) -> Iterator[Page]:
    """A page in which every request to another host than this machine is refused and
    recorded: the dashboard must look right on a clinic network that blocks outside hosts
    (issue 18: fonts and icons came from a font host), so any such request fails the test.
    A test that means to cause some (the groups' map, on request) passes its own `outside`
    list, reads it as it goes and checks it itself."""
    from playwright.sync_api import sync_playwright

    checked_here = outside is None
    outside = [] if outside is None else outside

    def only_local(route) -> None:
        if is_local(route.request.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            # Streamlit scrolls inside its main area, so a screenshot holds what the window does.
            page = browser.new_page(viewport={"width": 1440, "height": height})
            page.route("**/*", only_local)
            yield page
        finally:
            browser.close()
    if checked_here:
        assert not outside, f"the dashboard asked other hosts for: {sorted(set(outside))}"


def sign_in(page: Page, email: str, password: str = helpers.PASSWORD) -> None:
    page.get_by_role("textbox", name="Email").fill(email)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def screenshot(page: Page, name: str, what: str) -> Path:
    """The whole page once the app is idle and shows no error, kept in test-artifacts/ and
    listed in pytest's summary."""
    from playwright.sync_api import expect

    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    errors = page.locator('[data-testid="stAlertContentError"]')
    assert errors.count() == 0, errors.all_inner_texts()
    ARTIFACTS.mkdir(exist_ok=True)
    kept = ARTIFACTS / name
    page.screenshot(path=str(kept), full_page=True)
    print(f"screenshot: {kept}")
    SUMMARY.append(f"screenshot of {what}: {kept}")  # in pytest's summary, passed or not
    return kept
