"""The API docs at /schema in Debian's Chromium with every host but the server blocked, as on
a clinic network that reaches nothing outside: the page must draw every operation of the
OpenAPI document from files the server itself serves (api/docs.py). The screenshot is kept
in test-artifacts/."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from tests.dashboard.browser import ARTIFACTS, chromium_page, needs_chromium
from tests.summary import ARTIFACTS as SUMMARY

pytestmark = needs_chromium

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def test_the_api_docs_draw_every_operation_with_outside_hosts_blocked(api_url):
    from playwright.sync_api import Route, expect

    document = httpx.get(f"{api_url}/schema/openapi.json").json()
    operations = sum(len(METHODS & set(item)) for item in document["paths"].values())
    assert operations > 50
    server = urlsplit(api_url).hostname
    outside: list[str] = []

    def only_the_server(route: Route) -> None:
        if urlsplit(route.request.url).hostname == server:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with chromium_page() as page:
        page.route("**/*", only_the_server)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{api_url}/schema")
        expect(page.locator(".opblock")).to_have_count(operations, timeout=30_000)
        expect(page.locator(".opblock-summary-path", has_text="/v1/checkins").first).to_be_visible()
        expect(page.locator(".info .title")).to_contain_text("Aftercare API")
        ARTIFACTS.mkdir(exist_ok=True)
        kept = ARTIFACTS / "api-docs.png"
        page.screenshot(path=str(kept))
        SUMMARY.append(f"screenshot of the API docs, offline: {kept}")
    assert outside == [], outside
    assert errors == [], errors
