"""The dashboard in a real browser: `streamlit run` as a subprocess against the live API over
the test database, and Debian's headless Chromium driven by Playwright (which downloads no
browser of its own). A staff member signs in and sees the watchlist with seeded alerts; the
screenshot is kept in test-artifacts/ (git-ignored) and its path printed.

A plain (not async) test: Playwright's sync API refuses to run inside a running event loop."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests import helpers
from tests.conftest import ARTIFACTS as SUMMARY

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
SEEDED = ["Avery Quinn", "Jordan Blake"]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"{CHROMIUM} is missing: install Debian's Chromium with `apt-get install chromium` (.ci/run does)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


@pytest.fixture
def streamlit_app(api_url: str, tmp_path: Path):
    """`streamlit run admin_dashboard/app.py` on a free port, pointed at the live API: its URL."""
    port = free_port()
    log = (tmp_path / "streamlit.log").open("w")
    env = os.environ | {"AFTERCARE_API_URL": api_url, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "api.cli",  # as people start it: `aftercare dashboard`
            "dashboard",
            "--port",
            str(port),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"streamlit exited early:\n{(tmp_path / 'streamlit.log').read_text()}")
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).text.strip() == "ok":
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"streamlit did not answer:\n{(tmp_path / 'streamlit.log').read_text()}")
            time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_a_counselor_sees_the_seeded_alerts_on_the_watchlist_in_chromium(streamlit_app, api_url, staff, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    seed_crisis_checkins(api_url, staff)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(streamlit_app)
            page.get_by_role("textbox", name="Email").fill(staff.email)
            page.get_by_role("textbox", name="Password").fill(helpers.PASSWORD)
            started = time.monotonic()
            page.get_by_role("button", name="Sign in").click()

            expect(page.get_by_role("heading", name="Watchlist")).to_be_visible(timeout=30_000)
            expect(page.get_by_text("2 people need attention.")).to_be_visible(timeout=30_000)
            table = page.locator('[data-testid="stDataFrame"]').first
            expect(table).to_be_visible()
            for name in SEEDED:  # the grid draws on a canvas; its accessible table holds the text
                expect(table.get_by_text(name, exact=True)).to_be_attached(timeout=30_000)
            expect(page.get_by_text("Work on an alert")).to_be_visible()
            expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=30_000)
            print(f"watchlist rendered {time.monotonic() - started:.2f} s after signing in")
            page.wait_for_timeout(500)  # let the grid's canvas paint before the picture

            assert page.locator('[data-testid="stException"]').count() == 0
            errors = page.locator('[data-testid="stAlertContentError"]')
            assert errors.count() == 0, errors.all_inner_texts()

            shot = tmp_path / "watchlist.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    ARTIFACTS.mkdir(exist_ok=True)
    kept = ARTIFACTS / "watchlist.png"
    shutil.copyfile(shot, kept)
    print(f"screenshot: {kept}")
    SUMMARY.append(f"screenshot of the watchlist: {kept}")  # in pytest's summary, passed or not
