"""The dashboard in a real browser: `streamlit run` as a subprocess against the live API over
the test database, and Debian's headless Chromium driven by Playwright (which downloads no
browser of its own). A staff member signs in and sees the watchlist with seeded alerts; another
sets up two-factor sign-in and signs in again with a code. The screenshots are kept in
test-artifacts/ (git-ignored) and their paths printed.

A plain (not async) test: Playwright's sync API refuses to run inside a running event loop."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests import helpers
from tests.dashboard.browser import chromium_page, needs_chromium, screenshot, sign_in

SEEDED = ["Avery Quinn", "Jordan Blake"]

pytestmark = needs_chromium


def seed_crisis_checkins(api_url: str, staff: helpers.Actor) -> None:
    """Two graduates on the staff member's caseload, each with a crisis check-in: a critical
    alert each, so both are on the watchlist."""
    with httpx.Client(base_url=api_url, timeout=15) as http:
        for alias in SEEDED:
            enrolled = http.post(
                "/v1/staff/participants",
                json={"alias": alias, "timezone": "UTC", "iop_completed_on": "2026-01-05", "counselor_id": staff.id},
                headers=staff.headers,
            )
            assert enrolled.status_code == 201, enrolled.text
            tokens = http.post("/v1/auth/activate", json={"code": enrolled.json()["activation_code"]})
            assert tokens.status_code == 201, tokens.text
            checkin = http.post(
                "/v1/checkins",
                json=helpers.checkin_body(need_support="crisis_now"),
                headers=helpers.bearer(tokens.json()),
            )
            assert checkin.status_code == 201, checkin.text
        watchlist = http.get("/v1/staff/watchlist", params={"counselor_id": staff.id}, headers=staff.headers)
        assert sorted(e["alias"] for e in watchlist.json()["items"]) == sorted(SEEDED), watchlist.text


def test_a_counselor_sees_the_seeded_alerts_on_the_watchlist_in_chromium(streamlit_app, api_url, staff):
    from playwright.sync_api import expect

    seed_crisis_checkins(api_url, staff)
    with chromium_page() as page:
        page.goto(streamlit_app)
        started = time.monotonic()
        sign_in(page, staff.email)

        expect(page.get_by_role("heading", name="Watchlist")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("2 people need attention, 2 open alerts.", exact=False)).to_be_visible(timeout=30_000)
        table = page.locator('[data-testid="stDataFrame"]').first
        expect(table).to_be_visible()
        for name in SEEDED:  # the grid draws on a canvas; its accessible table holds the text
            expect(table.get_by_text(name, exact=True)).to_be_attached(timeout=30_000)
        expect(page.get_by_role("heading", name="Work on alerts")).to_be_visible()
        for name in SEEDED:  # a card each, with its severity
            expect(page.get_by_text(re.compile(rf"● Critical\s*{name}")).first).to_be_visible()
        expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=30_000)
        # The table's own toolbar offers no CSV (it would hold typed cells as formulas); ours,
        # which neutralises them, is the download there is.
        table.hover()
        expect(page.locator('[data-testid="stElementToolbar"]').first).to_be_attached(timeout=10_000)
        expect(page.get_by_role("button", name="Download as CSV")).to_have_count(0)
        expect(page.get_by_role("button", name="Download CSV").first).to_be_visible()
        print(f"watchlist rendered {time.monotonic() - started:.2f} s after signing in")
        page.wait_for_timeout(500)  # let the grid's canvas paint before the picture
        screenshot(page, "watchlist.png", "the watchlist")


def test_two_factor_is_set_up_and_asked_for_at_sign_in_in_chromium(streamlit_app, staff):
    """Screenshots of the sign-in page, the two-factor set-up with its QR code, the recovery
    codes, My password, and the code step of the next sign-in."""
    from playwright.sync_api import expect

    with chromium_page() as page:
        page.goto(streamlit_app)
        expect(page.get_by_text("First time here? Use your set-up code")).to_be_visible(timeout=30_000)
        screenshot(page, "sign-in.png", "the sign-in page")
        # Password managers fill what is named so (issue 18).
        assert page.get_by_role("textbox", name="Email").get_attribute("autocomplete") == "username"
        assert page.get_by_role("textbox", name="Password").get_attribute("autocomplete") == "current-password"

        sign_in(page, staff.email)
        expect(page.get_by_role("heading", name="Watchlist")).to_be_visible(timeout=30_000)
        page.get_by_role("link", name="Two-factor sign-in").click()
        expect(page.get_by_role("heading", name="Two-factor sign-in")).to_be_visible(timeout=30_000)
        page.get_by_role("button", name="Set up").click()
        qr = page.locator('[data-testid="stImage"] img')
        expect(qr).to_be_visible(timeout=30_000)
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle())
        secret = page.locator('[data-testid="stCode"]').first.inner_text().replace(" ", "").strip()
        expect(page.get_by_role("button", name="Start again with a new key")).to_be_visible()
        screenshot(page, "two-factor-set-up.png", "the two-factor set-up with its QR code")

        page.get_by_role("textbox", name="Code from your authenticator app").fill(helpers.totp_code(secret))
        page.get_by_role("button", name="Turn on two-factor sign-in").click()
        expect(page.get_by_text("shown this once")).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name="Download as text")).to_be_visible()
        expect(page.get_by_role("button", name="Turn off two-factor sign-in")).to_be_visible(timeout=30_000)
        screenshot(page, "two-factor-recovery-codes.png", "the recovery codes, shown once")

        page.get_by_role("link", name="My password").click()
        expect(page.get_by_role("heading", name="My password")).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name="Change password")).to_be_visible(timeout=30_000)
        screenshot(page, "my-password.png", "My password")

        page.get_by_role("button", name="Sign out").click()
        sign_in(page, staff.email)
        code_box = page.get_by_role("textbox", name="Code from your authenticator app")
        expect(code_box).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name="Start again")).to_be_visible()
        screenshot(page, "sign-in-code.png", "the code step of signing in")

        code_box.fill(helpers.totp_code(secret, 1))  # the next step's: the set-up spent this one's
        page.get_by_role("button", name="Verify").click()
        # Signed in, back on the page the address still names (My password).
        expect(page.get_by_role("heading", name="My password")).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()


@pytest.mark.parametrize("settings", [{"require_mfa": frozenset({"staff", "admin"})}], indirect=True)
def test_a_role_that_must_use_two_factor_is_offered_only_its_set_up_in_chromium(streamlit_app, staff):
    from playwright.sync_api import expect

    with chromium_page() as page:
        page.goto(streamlit_app)  # the watchlist's address
        sign_in(page, staff.email)
        expect(page.get_by_role("heading", name="Two-factor sign-in")).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name="Set up")).to_be_visible(timeout=30_000)
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar.get_by_text("Your role must use two-factor sign-in: set it up to continue.")).to_be_visible()
        # Each link's text starts with its icon's name (a ligature of the icon font).
        offered = [re.compile("Two-factor sign-in$"), re.compile("My password$")]
        expect(sidebar.get_by_role("link")).to_have_text(offered)
        assert page.get_by_text("Page not found").count() == 0
        screenshot(page, "two-factor-required.png", "a session that must set up two-factor first")
