"""The Groups page in a real browser (Debian's Chromium, as tests/dashboard/test_dashboard_browser.py):
the listing, a group's three tabs, and its map position ask nothing of any host but this
machine, as on a clinic network that blocks outside hosts; the map's tiles, which come from
another host, are asked for only once staff switch the map on. Screenshots of each tab are
kept in test-artifacts/."""

from __future__ import annotations

import httpx
import pytest

from tests import helpers
from tests.dashboard.browser import ARTIFACTS, CHROMIUM, chromium_page, screenshot, sign_in

pytestmark = pytest.mark.skipif(
    not __import__("pathlib").Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing: `apt-get install chromium`"
)

NAME = "Thursday Evening Relapse Prevention and Family Support Circle"
ADDRESS = "Room 214, Riverside Community Health Center, 1450 West Lake Street, Springfield, IL"


def test_the_groups_page_asks_no_other_host_until_the_map_is_switched_on_in_chromium(
    streamlit_app,
    api_url,
    staff,
):
    from playwright.sync_api import expect

    with httpx.Client(base_url=api_url, timeout=15) as http:
        body = helpers.GROUP | {"name": NAME, "address": ADDRESS, "capacity": 12}
        response = http.post("/v1/staff/groups", json=body, headers=staff.headers)
        assert response.status_code == 201, response.text

    outside: list[str] = []
    with chromium_page(outside=outside) as page:
        page.goto(streamlit_app)
        sign_in(page, staff.email)
        expect(page.get_by_role("heading", name="Watchlist")).to_be_visible(timeout=30_000)
        page.get_by_test_id("stSidebar").get_by_role("link", name="Groups").click()
        expect(page.get_by_role("heading", name="Groups")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Show archived groups")).to_be_visible(timeout=30_000)
        table = page.locator('[data-testid="stDataFrame"]').first
        expect(table.get_by_text(NAME, exact=True)).to_be_attached(timeout=30_000)

        page.get_by_test_id("stSelectbox").filter(has_text="Group").click()
        page.get_by_role("option", name=NAME).click()
        expect(page.get_by_role("tab", name="Details")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Map position: 39.80000, -89.65000")).to_be_visible(timeout=30_000)
        page.wait_for_timeout(700)  # let the grids paint before the picture
        screenshot(page, "groups-details.png", "the Groups page, a group's Details")
        for tab, shows in (("Members", "Nobody has joined yet."), ("Sessions", "Check-in code")):
            page.get_by_role("tab", name=tab).click()
            expect(page.get_by_text(shows).first).to_be_visible(timeout=30_000)
            page.wait_for_timeout(700)
            screenshot(page, f"groups-{tab.lower()}.png", f"the Groups page, a group's {tab}")
        assert outside == [], f"the Groups page asked other hosts for: {sorted(set(outside))}"

        # Only the switch brings the map, and with it the tile host.
        page.get_by_role("tab", name="Details").click()
        page.get_by_text("Show on a map (loads map tiles from the internet)").click()
        expect(page.get_by_test_id("stDeckGlJsonChart")).to_be_visible(timeout=30_000)
        page.wait_for_timeout(3_000)
        assert outside and all("cartocdn.com" in url for url in outside), outside
        page.get_by_test_id("stDeckGlJsonChart").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "groups-map-offline.png"))  # the tiles refused: the point alone
