"""The dashboard's front door: sign-in, pages by role, and what staff see when the session
ends or the API is down. Streamlit's AppTest against the real API on a free port."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
import time_machine

from tests import helpers
from tests.clock import ONCE
from tests.dashboard.apptest import Timers, open_page, sign_in, texts


async def test_staff_sign_in_and_see_the_staff_pages_only(dashboard, client, conn, hasher):
    counselor = await helpers.account(client, conn, hasher, ["staff"])
    at = sign_in(dashboard(), counselor)
    assert "Watchlist" in texts(at)
    sidebar = " ".join(str(m.value) for m in at.sidebar.caption)
    assert "Signed in as" in sidebar
    # No admin pages for a counselor: st.navigation does not even register them.
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/audit.py")


async def test_admins_get_the_admin_pages(dashboard, client, conn, hasher):
    admin = await helpers.account(client, conn, hasher, ["admin", "staff"])
    at = open_page(sign_in(dashboard(), admin), "views/audit.py")
    assert "Audit log" in [t.value for t in at.title]


async def test_a_wrong_password_says_so(dashboard, client, conn, hasher):
    counselor = await helpers.account(client, conn, hasher, ["staff"])
    at = sign_in(dashboard(), counselor, password="not the password at all")
    assert at.error and "password" in at.error[0].value.lower()
    assert at.text_input[0].label == "Email"  # still on the sign-in form


async def test_facilitators_are_sent_to_the_app(dashboard, client, conn, hasher):
    facilitator = await helpers.account(client, conn, hasher, ["facilitator"])
    at = sign_in(dashboard(), facilitator)
    assert "This dashboard is for staff" in at.error[0].value


async def test_an_ended_session_goes_back_to_sign_in_with_a_message(dashboard, client, conn, hasher, staff):
    counselor = await helpers.account(client, conn, hasher, ["staff"])
    at = sign_in(dashboard(), counselor)
    # An admin deactivates the account meanwhile: every token stops working at once.
    await conn.execute("update people set is_active = false where id = $1", helpers_uuid(counselor))
    at.switch_page("views/overview.py").run()
    assert not at.exception
    assert "session has ended" in texts(at)
    assert at.text_input[0].label == "Email"


async def test_an_api_that_is_down_gets_a_clear_message_and_a_retry(dashboard, monkeypatch):
    monkeypatch.setenv("AFTERCARE_API_URL", "http://127.0.0.1:9")  # nothing listens there
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).parents[2] / "admin_dashboard" / "app.py"), default_timeout=30)
    at.run()
    at.text_input[0].input("someone@example.org")
    at.text_input[1].input("whatever password")
    at.button[0].click().run()
    assert not at.exception
    assert "cannot be reached" in at.error[0].value
    assert any(b.label == "Retry" for b in at.button)


def helpers_uuid(actor):
    import uuid

    return uuid.UUID(actor.id)


async def test_a_bookmarked_page_opens_after_signing_in(dashboard, client, conn, hasher):
    counselor = await helpers.account(client, conn, hasher, ["staff"])
    at = dashboard()
    at.switch_page("views/overview.py").run()  # known while signed out, but not shown
    assert at.text_input[0].label == "Email"
    at.text_input[0].input(counselor.email)
    at.text_input[1].input(helpers.PASSWORD)
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert "Overview" in [t.value for t in at.title]


async def test_signing_out_forgets_what_the_session_held(dashboard, client, conn, hasher, staff):
    await helpers.graduate(client, staff, alias="Robin", email="robin@example.org")
    counselor = await helpers.account(client, conn, hasher, ["staff"])
    at = open_page(sign_in(dashboard(), counselor), "views/participants.py")
    kept = "recent_participants:None:None"  # everyone, any status: the list, with contact details
    assert kept in at.session_state
    [sign_out] = [b for b in at.sidebar.button if b.label == "Sign out"]
    sign_out.click().run()
    assert not at.exception, at.exception
    assert kept not in at.session_state
    assert "You have signed out." in texts(at)


# --- the idle time-out ---------------------------------------------------------------------

TIMED_OUT = "You were signed out after 15 minutes without activity."


def _at(instant, minutes: float):
    """The clock moved `minutes` past the pinned instant, standing still there."""
    return time_machine.travel(instant.at + dt.timedelta(minutes=minutes), tick=False)


def _on_sign_in_page(at) -> bool:
    """The sign-in form is shown, and the browser session holds no tokens."""
    tokens = at.session_state["api"].tokens if "api" in at.session_state else None
    return bool(at.text_input) and at.text_input[0].label == "Email" and tokens is None


async def _assert_api_session_ended(client, conn, refresh_token: str) -> None:
    """Signed out at the API too: the dashboard's refresh token no longer works."""
    reason = await conn.fetchval(
        """
        select s.revoked_reason from auth_sessions s join refresh_tokens rt on rt.session_id = s.id
        where rt.token_hash = $1
        """,
        hashlib.sha256(refresh_token.encode()).digest(),
    )
    assert reason == "logout"
    helpers.assert_problem(
        await client.post("/v1/auth/refresh", json={"refresh_token": refresh_token}), 401, "session_ended"
    )


@pytest.mark.clock_instants(*ONCE)
async def test_a_dashboard_in_use_stays_signed_in(dashboard, staff, clock_instant):
    at = sign_in(dashboard(), staff)
    with _at(clock_instant, 14):
        open_page(at, "views/overview.py")
        assert "Overview" in [t.value for t in at.title]
    with _at(clock_instant, 28):  # 28 minutes after signing in, 14 after the last click
        at.run()
        assert not at.exception, at.exception
        assert "Overview" in [t.value for t in at.title] and not _on_sign_in_page(at)


@pytest.mark.clock_instants(*ONCE)
async def test_a_dashboard_left_alone_for_15_minutes_signs_out_and_says_why(
    dashboard, client, conn, staff, clock_instant
):
    at = open_page(sign_in(dashboard(), staff), "views/participants.py")
    refresh_token = at.session_state["api"].tokens["refresh_token"]
    with _at(clock_instant, 15):  # the next click, 15 minutes on: not shown what it asked for
        at.run()
        assert not at.exception, at.exception
        assert _on_sign_in_page(at)
        assert TIMED_OUT in texts(at)
        assert not [k for k in at.session_state if str(k).startswith("recent_")]  # the lists went too
        await _assert_api_session_ended(client, conn, refresh_token)


@pytest.mark.clock_instants(*ONCE)
async def test_the_watchlist_refreshing_itself_does_not_keep_a_session_alive(
    dashboard, client, conn, staff, clock_instant, monkeypatch
):
    timers = Timers(monkeypatch)
    at = sign_in(dashboard(), staff)  # the watchlist, which refreshes itself every minute
    refresh_token = at.session_state["api"].tokens["refresh_token"]
    for minute in range(1, 15):
        with _at(clock_instant, minute):
            timers.fire(at)
            assert not _on_sign_in_page(at) and "Nobody is overdue or alerted right now." in texts(at)
    with _at(clock_instant, 15):
        timers.fire(at)
        assert _on_sign_in_page(at) and TIMED_OUT in texts(at)
        await _assert_api_session_ended(client, conn, refresh_token)


@pytest.mark.clock_instants(*ONCE)
async def test_a_page_left_open_signs_out_within_a_minute_of_the_time_out(
    dashboard, client, conn, staff, clock_instant, monkeypatch
):
    timers = Timers(monkeypatch)
    at = open_page(sign_in(dashboard(), staff), "views/overview.py")  # no timer of its own
    with _at(clock_instant, 14):
        timers.fire(at)
        assert not _on_sign_in_page(at)
    with _at(clock_instant, 15):
        timers.fire(at)
        assert _on_sign_in_page(at) and TIMED_OUT in texts(at)


@pytest.mark.clock_instants(*ONCE)
async def test_the_idle_time_is_a_setting(dashboard, staff, clock_instant, monkeypatch):
    monkeypatch.setenv("AFTERCARE_DASHBOARD_IDLE_MINUTES", "5")
    at = sign_in(dashboard(), staff)
    with _at(clock_instant, 5):
        at.run()
        assert _on_sign_in_page(at)
        assert "You were signed out after 5 minutes without activity." in texts(at)


@pytest.mark.parametrize("wrong", ["0", "15m", "-5"])
def test_a_wrong_idle_time_stops_the_dashboard_at_its_first_page(dashboard, monkeypatch, wrong):
    monkeypatch.setenv("AFTERCARE_DASHBOARD_IDLE_MINUTES", wrong)
    at = dashboard().run()
    assert at.exception and "AFTERCARE_DASHBOARD_IDLE_MINUTES must be a whole number" in at.exception[0].message
