"""The demo program in a real browser, as a clinic evaluating the product would see it: the
demo admin and the demo counselor sign in and open every page of the dashboard, with no
request to any host but this machine (tests/dashboard/browser.py `chromium_page`); a
screenshot of each is kept in test-artifacts/ and listed in pytest's summary. Runs at the
real time of day, as the demo is dated back from the day it loads."""

from __future__ import annotations

import re

import pytest

from api.demo import ADMIN_EMAIL, COUNSELOR_EMAIL, load_demo
from tests.dashboard.browser import CHROMIUM, chromium_page, screenshot, sign_in

pytestmark = pytest.mark.skipif(
    not __import__("pathlib").Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing: `apt-get install chromium`"
)

CARE_PAGES = [
    "Watchlist",
    "Moderation",
    "Overview",
    "Participants",
    "Enroll a graduate",
    "Groups",
    "Messages",
    "My password",
    "Two-factor sign-in",
]
ADMIN_PAGES = ["Accounts", "Audit log"]


@pytest.fixture
async def demo(conn, hasher):
    logins = await load_demo(conn, hasher, progress=lambda _: None)
    assert logins is not None
    return logins


# What no page may show: a blank written by pandas or Python instead of left blank, and a
# clock other than the dashboard's one format ("12:55 PM").
BLANKS_SPELLED_OUT = re.compile(r"(?<![\w-])(None(?! yet)|nan|NaN|NaT|<NA>)(?![\w-])")
OTHER_CLOCKS = re.compile(r"\b\d{1,2}:\d{2}\s?(am|pm|a\.m\.|p\.m\.)(?!\w)|\b([01]\d|2[0-3]):[0-5]\d:[0-5]\d\b")


def page_text(page) -> tuple[str, str]:
    """The main area's own text, and its grids' cells (they draw on a canvas and keep an
    accessible table beside it, holding each cell's value: a missing one as "None", as the
    grid greys it; a time as stored, its display format applied on the canvas only)."""
    main = page.get_by_test_id("stMain")
    own = main.evaluate(
        """main => { const copy = main.cloneNode(true);
        copy.querySelectorAll('[data-testid="stDataFrame"]').forEach(grid => grid.remove());
        document.body.appendChild(copy); const text = copy.innerText; copy.remove(); return text; }"""
    )
    return own, "\n".join(main.locator('[data-testid="stDataFrame"] table').all_text_contents())


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


@pytest.mark.parametrize(("who", "email"), [("admin", ADMIN_EMAIL), ("counselor", COUNSELOR_EMAIL)])
def test_every_page_shows_the_demo_program_in_chromium(streamlit_app, demo, api_url, who, email):
    from playwright.sync_api import expect

    pages = CARE_PAGES + (ADMIN_PAGES if who == "admin" else [])
    with chromium_page(height=2400) as page:  # a tall window: the picture shows a long page whole
        page.goto(streamlit_app)
        sign_in(page, email, demo.password)
        expect(page.get_by_role("heading", name="Watchlist")).to_be_visible(timeout=30_000)
        sidebar = page.get_by_test_id("stSidebar")
        links = sidebar.get_by_role("link")
        expect(links).to_have_count(len(pages), timeout=30_000)  # the pages of the role, no more
        for title in pages:
            # Each link's text starts with its icon's name (a ligature of the bundled icon font).
            sidebar.get_by_role("link", name=re.compile(f"{re.escape(title)}$")).click()
            expect(page.get_by_role("heading", name=title).first).to_be_visible(timeout=30_000)
            settle(page)
            if title == "Watchlist":  # the grids' text is read (the demo's crisis check-in is in both lists)
                assert "Ember" in page_text(page)[1]
                # The admin has no caseload: the page says it shows everyone, and the picker agrees.
                start = "Everyone" if who == "admin" else "My caseload"
                expect(page.get_by_role("combobox", name="Counselor")).to_have_value(start)
            screenshot(page, f"demo-{who}-{slug(title)}.png", f"{title} as the demo {who}")
            check_text(page, title)

        # A person opened from the watchlist's first card (the most severe), on what needs attention.
        sidebar.get_by_role("link", name=re.compile("Watchlist$")).click()
        page.get_by_role("button", name="Their page").first.click()
        expect(page.get_by_text(re.compile(r"⚠ \d+ open alerts?"))).to_be_visible(timeout=30_000)
        settle(page)
        screenshot(page, f"demo-{who}-participant.png", f"a graduate opened from the watchlist, as the demo {who}")
        check_text(page, "a graduate's page")

        # A group's members (one of the demo's groups is full, with a waitlist) and sessions.
        sidebar.get_by_role("link", name=re.compile("Groups$")).click()
        for tab in ("Members", "Sessions"):
            page.get_by_role("tab", name=tab).click()
            settle(page)
            screenshot(page, f"demo-{who}-group-{slug(tab)}.png", f"a group's {tab.lower()}, as the demo {who}")
            check_text(page, f"a group's {tab.lower()}")


def settle(page) -> None:
    """Until the app is idle and its charts are drawn, not only placed."""
    from playwright.sync_api import expect

    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=30_000)
    # Charts load their drawing code on first use: wait until none is a placeholder.
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=30_000)
    for chart in page.locator('[data-testid="stVegaLiteChart"]').all():
        expect(chart.locator("canvas, svg").first).to_be_visible(timeout=30_000)
    page.wait_for_timeout(700)  # let grids paint before the picture


def check_text(page, where: str) -> None:
    """No blank spelled out, no other clock than the dashboard's."""
    own, cells = page_text(page)
    text = f"{own}\n{cells}"
    spelled = [text[max(0, m.start() - 60) : m.end() + 20] for m in BLANKS_SPELLED_OUT.finditer(text)]
    assert not spelled, (where, spelled[:5])
    assert not OTHER_CLOCKS.findall(own), (where, OTHER_CLOCKS.findall(own))
