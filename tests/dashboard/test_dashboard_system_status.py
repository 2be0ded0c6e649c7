"""The red banner above every page of the dashboard: whether the watch is keeping up, from
GET /v1/staff/system-status (a worker is expected here, so a job without a recent success
is late). Streamlit's AppTest against the real API; job runs are arranged as rows, or by a
real worker round."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from admin_dashboard.banner import since
from admin_dashboard.typed import plain
from api.worker import Worker
from db.pool import create_pool
from notifications.sender import LogSender
from tests import helpers
from tests.clock import ONCE
from tests.config import make_settings
from tests.dashboard.apptest import markdown_shown, open_page, sign_in, texts

JOBS = ("reminders", "sweep", "help_now", "dispatch", "purge")
MARKDOWN_ALIAS = "**Sam** <b>x</b>"


@pytest.fixture
def settings(database_url: str):
    return make_settings(database_url, worker_expected=True)


async def jobs_ran(conn, at: dt.datetime | None = None, **overrides: dt.datetime) -> None:
    """A job_runs row per job: each last succeeded `at` (now by default), or as overridden."""
    at = at or dt.datetime.now(dt.UTC)
    for job in JOBS:
        await conn.execute(
            "insert into job_runs (job, last_started_at, last_success_at, last_duration_ms, runs)"
            " values ($1, $2, $2, 12, 1)",
            job,
            overrides.get(job, at),
        )


async def worker_round(settings) -> None:
    pool = await create_pool(settings.database_url, max_size=2)
    try:
        await Worker(settings, pool, LogSender()).run_once()
    finally:
        await pool.close()


async def left_out(client, conn, staff, alias: str) -> helpers.Actor:
    """A graduate with a message waiting, whose stored zone neither Python nor PostgreSQL knows:
    the sweep, the reminders and dispatch each skip them."""
    who = await helpers.graduate(client, staff, alias=alias)
    message = {"participant_id": who.id, "title": "Hello", "body": "Thinking of you."}
    response = await client.post("/v1/staff/notifications", json=message, headers=staff.headers)
    assert response.status_code == 201, response.text
    await helpers.plant_time_zone(conn, "people", who.id, helpers.UNKNOWN_ZONE)
    return who


def banner(at) -> str:
    return "\n".join(str(e.value) for e in at.error)


def banner_table(at):
    [expander] = [e for e in at.expander if e.label.startswith("Left out by the background jobs")]
    return expander.dataframe[0].value


@pytest.mark.clock_instants(*ONCE)
async def test_no_banner_while_every_job_keeps_up(dashboard, conn, staff):
    await jobs_ran(conn)
    at = sign_in(dashboard(), staff)
    assert "Watchlist" in [t.value for t in at.title]
    assert not at.error, banner(at)
    assert not [e for e in at.expander if e.label.startswith("Left out")]


@pytest.mark.clock_instants(*ONCE)
async def test_a_late_sweep_says_since_when_in_the_readers_zone(dashboard, conn, staff):
    await conn.execute("update people set timezone = 'America/Chicago' where id = $1", uuid.UUID(staff.id))
    # 20:10 UTC is 2:10 PM in Chicago (CST), on a day that is not today.
    await jobs_ran(conn, sweep=dt.datetime(2025, 11, 27, 20, 10, tzinfo=dt.UTC))
    at = sign_in(dashboard(), staff)
    assert banner(at) == "Missed check-ins have not been checked since Nov 27, 2025, 2:10 PM. Tell your administrator."
    # On every page.
    assert "Missed check-ins have not been checked" in banner(open_page(at, "views/overview.py"))


async def test_jobs_that_never_ran_say_the_worker_is_not_running(dashboard, conn, staff):
    at = sign_in(dashboard(), staff)
    said = banner(at)
    assert said.startswith("Missed check-ins have never been checked: the background worker is not running.")
    assert "Check-in and session reminders have never been sent: the background worker is not running." in said
    assert "Push notifications have never been sent" in said
    assert said.endswith("Tell your administrator.")
    assert "Watchlist" in [t.value for t in at.title]  # the page itself still works


def test_the_time_is_the_readers_clock_today_and_a_date_otherwise():
    now = dt.datetime(2026, 12, 3, 23, 0, tzinfo=dt.UTC)  # 5 PM in Chicago
    assert since("2026-12-03T20:10:00Z", "America/Chicago", now) == "2:10 PM"
    assert since("2026-12-03T05:10:00Z", "America/Chicago", now) == "Dec 2, 11:10 PM"
    assert since("2026-12-03T20:10:00Z", "UTC", now) == "8:10 PM UTC"
    assert since("2026-12-03T20:10:00Z", helpers.UNKNOWN_ZONE, now) == "8:10 PM"  # the caller says UTC


async def test_a_skipped_graduate_is_counted_for_staff_and_named_for_admins(
    dashboard, client, conn, staff, admin, settings
):
    bo = await left_out(client, conn, staff, "Bo")
    await worker_round(settings)

    at = open_page(sign_in(dashboard(), staff), "views/overview.py")
    assert banner(at) == (
        "1 graduate is not being watched: their time zone is not recognized, so missed check-ins and reminders "
        "are not worked out for them. Tell your administrator."
    )
    assert not [e for e in at.expander if e.label.startswith("Left out")]  # no names for counselors
    assert "Bo" not in texts(at)

    at = open_page(sign_in(dashboard(), admin), "views/overview.py")
    assert "1 graduate is not being watched" in banner(at) and "Fix their time zones" in banner(at)
    table = banner_table(at)
    # Once, though the sweep, the reminders and dispatch all skip them.
    assert list(table["name"]) == ["Bo"]
    assert table["jobs"][0] == "missed check-ins, reminders, push notifications"
    assert helpers.UNKNOWN_ZONE in table["reasons"][0]

    # From the banner to their page, where the zone is fixed.
    at.selectbox(key="banner_pick").set_value(bo.id)
    at.button(key="banner_open").click().run()
    assert not at.exception, at.exception
    assert "Participants" in [t.value for t in at.title] and "Bo" in [h.value for h in at.header]
    assert "is not recognized" in texts(at)
    at.switch_page("views/participants.py")  # AppTest reruns the page it was last sent to, not where the app went
    at.selectbox(key=f"zone_{bo.id}").set_value("America/Chicago")
    at.button(key=f"zone_submit_{bo.id}").click().run()
    assert not at.exception, at.exception
    person = (await client.get(f"/v1/staff/participants/{bo.id}", headers=admin.headers)).json()
    assert person["timezone"] == "America/Chicago"
    assert "Time zone saved: America/Chicago." in texts(at)

    await worker_round(settings)  # the next round takes Bo in again: the banner goes
    at.session_state["recent_system_status"] = None
    at.run()
    assert not at.error, banner(at)


async def test_a_skipped_group_is_counted_for_staff_and_opened_by_admins(
    dashboard, client, conn, staff, admin, graduate, settings
):
    zone, slot = helpers.slot_starting_in(30)
    group = await helpers.create_group(client, staff, name="Lost Circle", timezone=zone, schedule=[slot])
    response = await client.post(f"/v1/groups/{group['id']}/membership", headers=graduate.headers)
    assert response.status_code == 201, response.text
    await helpers.plant_time_zone(conn, "groups", group["id"], helpers.UNKNOWN_ZONE)
    await worker_round(settings)
    at = sign_in(dashboard(), staff)
    assert banner(at) == "1 group gets no session reminders: its time zone is not recognized. Tell your administrator."

    at = sign_in(dashboard(), admin)
    assert list(banner_table(at)["name"]) == ["Lost Circle"]
    at.button(key="banner_open").click().run()  # the only one: already chosen
    assert not at.exception, at.exception
    assert "Groups" in [t.value for t in at.title]
    assert at.selectbox(key="group_pick").value == group["id"]
    assert at.selectbox(key=f"edit_{group['id']}_timezone").value is None  # to be chosen


async def test_an_alias_written_in_markdown_shows_as_typed(dashboard, client, conn, staff, admin, settings):
    sam = await left_out(client, conn, staff, MARKDOWN_ALIAS)
    await worker_round(settings)
    at = sign_in(dashboard(), admin)
    assert list(banner_table(at)["name"]) == [MARKDOWN_ALIAS]  # a table cell: as typed
    at.selectbox(key="watch_counselor").set_value("everyone").run()
    [watchlist] = [d.value for d in at.dataframe if "note" in d.value]
    assert list(watchlist["alias"]) == [MARKDOWN_ALIAS]
    assert list(watchlist["note"]) == ["Time zone not recognized: fix it on their page"]
    at.selectbox(key="watch_person").set_value(sam.id).run()
    # Wherever it is written in Markdown, it is escaped: no bold, no HTML; read as typed.
    written = markdown_shown(at)
    assert any(plain(MARKDOWN_ALIAS) in text for text in written) and f"{MARKDOWN_ALIAS}'s time zone" in texts(at)
    assert not any("**Sam**" in text or "<b>" in text for text in written)
    at.button(key=f"watch_open_{sam.id}").click().run()
    assert [h.value for h in at.header] == [plain(MARKDOWN_ALIAS)]
    assert not any("**Sam**" in text for text in markdown_shown(at))


async def test_no_banner_and_no_trouble_when_the_status_cannot_be_read(dashboard, conn, staff, monkeypatch):
    from admin_dashboard.client import ApiClient, ApiError, ApiUnavailable

    real_get = ApiClient.get
    trouble: list[Exception] = [ApiUnavailable("The Aftercare API had a problem (HTTP 503). Try again shortly.")]

    def get(self, path, **params):
        if path == "/v1/staff/system-status":
            raise trouble[0]
        return real_get(self, path, **params)

    monkeypatch.setattr(ApiClient, "get", get)
    at = sign_in(dashboard(), staff)  # no job has ever run: the banner would be up
    assert not at.exception, at.exception
    assert not at.error, banner(at)
    assert "Watchlist" in [t.value for t in at.title]

    trouble[0] = ApiError(403, "Forbidden")
    at = sign_in(dashboard(), staff)
    assert not at.exception and not at.error, banner(at)
