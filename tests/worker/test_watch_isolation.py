"""One graduate's bad data never stops whole-program work (PRODUCT.md section 11). A zone the
database and Python do not know is planted straight into a row (past the API and the trigger
that refuse it, as a database upgrade or a hand-written row could leave it); then the sweep,
the reminders, dispatch, the watchlist and the metrics go on for everyone else, and the one is
skipped, recorded once with its reason, and shown to staff."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import uuid

import pytest

from api.worker import Worker
from db.pool import create_pool
from notifications.sender import LogSender
from tests import helpers
from tests.clock import FEW, ONCE
from tests.config import make_settings

BAD = helpers.UNKNOWN_ZONE


def _evening(today: dt.date) -> dt.datetime:
    """19:00 UTC today: after the check-in reminder hour for UTC graduates."""
    return dt.datetime.combine(today, dt.time(19), tzinfo=dt.UTC)


async def _device(client, who_headers, token: str) -> None:
    response = await client.post("/v1/me/devices", json={"token": token, "platform": "android"}, headers=who_headers)
    assert response.status_code == 201, response.text


async def _two_graduates(client, conn, staff, today: dt.date) -> tuple[uuid.UUID, uuid.UUID, dict, dict]:
    """Kim and Bo, daily for 20 days, the last two days missed; Bo's zone is then planted bad."""
    history = list(range(-20, -2))
    kim, kim_headers = await helpers.graduate_with_history(
        client, conn, staff, today=today, iop_days_ago=20, checkin_days=history, alias="Kim"
    )
    bo, bo_headers = await helpers.graduate_with_history(
        client, conn, staff, today=today, iop_days_ago=20, checkin_days=history, alias="Bo"
    )
    await _device(client, kim_headers, "kim-phone")
    await _device(client, bo_headers, "bo-phone")
    await helpers.plant_time_zone(conn, "people", bo, BAD)
    return kim, bo, kim_headers, bo_headers


async def _run_worker(database_url: str, sender, now: dt.datetime) -> None:
    pool = await create_pool(database_url, max_size=2)
    try:
        await Worker(make_settings(database_url), pool, sender, clock=lambda: now).run_once()
    finally:
        await pool.close()


async def _skips(conn) -> list[tuple[str, uuid.UUID | None, uuid.UUID | None, str, dt.datetime]]:
    rows = await conn.fetch("select job, person_id, group_id, reason, since from job_skips order by job")
    return [tuple(r) for r in rows]


@pytest.mark.clock_instants(*FEW)
async def test_one_graduates_unknown_zone_stops_none_of_the_jobs_for_anyone_else(
    client, conn, staff, admin, database_url, fcm, sender, caplog
):
    today = dt.datetime.now(dt.UTC).date()
    kim, bo, _, _ = await _two_graduates(client, conn, staff, today)
    message = {"title": "Hello", "body": "Thinking of you this week."}
    for person in (kim, bo):
        response = await client.post(
            "/v1/staff/notifications", json=message | {"participant_id": str(person)}, headers=staff.headers
        )
        assert response.status_code == 201, response.text
    # Written now; due by the worker's evening whatever the hour the test runs at.
    await conn.execute("update notifications set not_before = $1", _evening(today) - dt.timedelta(hours=1))

    caplog.set_level(logging.INFO, logger="aftercare.worker")
    await _run_worker(database_url, sender, _evening(today))

    # The sweep: Kim's two misses recorded and alerted; nothing for Bo, and no failure.
    missed = await conn.fetch("select person_id, slot_starts_on from missed_checkins order by slot_starts_on")
    assert [(r["person_id"], r["slot_starts_on"]) for r in missed] == [
        (kim, today - dt.timedelta(days=2)),
        (kim, today - dt.timedelta(days=1)),
    ]
    assert await conn.fetchval("select count(*) from alerts where person_id = $1", kim) == 1
    # The reminders: Kim's check-in reminder for today's slot; none for Bo.
    reminded = await conn.fetch("select person_id from notifications where kind = 'checkin_reminder'")
    assert [r["person_id"] for r in reminded] == [kim]
    # Dispatch: Kim's phone got the message, the reminder and the nudge; Bo's message stays in
    # the inbox, held back (quiet hours cannot be worked out without a zone).
    assert sorted(m["notification"]["title"] for m in fcm.delivered) == sorted(
        ["New message", "Time for your check-in", "Thinking of you"]
    )
    assert {m["token"] for m in fcm.delivered} == {"kim-phone"}
    held = await conn.fetchrow("select push_state, last_error from notifications where person_id = $1", bo)
    assert tuple(held) == ("failed", "unusable_time_zone")
    # Every job succeeded; Bo is recorded once per job that left them out, with the reason.
    runs = await conn.fetch("select job, last_success_at, last_failure_at, runs from job_runs order by job")
    assert [(r["job"], r["last_failure_at"], r["runs"]) for r in runs] == [
        ("dispatch", None, 1),
        ("help_now", None, 1),
        ("purge", None, 1),
        ("reminders", None, 1),
        ("sweep", None, 1),
    ]
    skips = await _skips(conn)
    assert [(job, person, group) for job, person, group, _, _ in skips] == [
        ("dispatch", bo, None),
        ("reminders", bo, None),
        ("sweep", bo, None),
    ]
    assert all(BAD in reason for _, _, _, reason, _ in skips)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "skipped" in r.getMessage()]
    assert len(warnings) == 3 and all("fix their time zone" in w for w in warnings)

    # Again: nothing is recorded twice, and nothing is logged again about Bo.
    caplog.clear()
    await _run_worker(database_url, LogSender(), _evening(today) + dt.timedelta(minutes=10))
    assert await _skips(conn) == skips
    assert not [r for r in caplog.records if "skipped" in r.getMessage()]

    # Staff see the watch going on, and Bo flagged, on the watchlist and the metrics.
    watchlist = await client.get("/v1/staff/watchlist", headers=staff.headers)
    assert watchlist.status_code == 200, watchlist.text
    listed = {e["alias"]: e for e in watchlist.json()["items"]}
    assert listed["Kim"]["status"] == "active" and listed["Kim"]["consecutive_misses"] == 2
    assert listed["Bo"]["status"] == "time_zone_unknown"
    assert (listed["Bo"]["consecutive_misses"], listed["Bo"]["overdue"], listed["Bo"]["adherence_14d"]) == (
        0,
        False,
        None,
    )
    metrics = await client.get("/v1/staff/metrics", headers=staff.headers)
    assert metrics.status_code == 200, metrics.text
    assert metrics.json()["active_graduates"] == 2
    assert metrics.json()["adherence_7d"] is not None  # Kim's slots count
    status = (await client.get("/v1/staff/system-status", headers=admin.headers)).json()
    sweep = next(j for j in status["jobs"] if j["name"] == "sweep")
    assert [(s["kind"], s["id"], s["name"]) for s in sweep["skipped"]] == [("participant", str(bo), "Bo")]

    # Once staff fix the zone, the next runs take Bo in again and the records go.
    fixed = await client.patch(f"/v1/staff/participants/{bo}", json={"timezone": "UTC"}, headers=staff.headers)
    assert fixed.status_code == 200, fixed.text
    await _run_worker(database_url, LogSender(), _evening(today) + dt.timedelta(minutes=20))
    assert await _skips(conn) == []
    assert await conn.fetchval("select count(*) from missed_checkins where person_id = $1", bo) == 2


@pytest.mark.clock_instants(*ONCE)
async def test_a_crisis_push_to_someone_whose_zone_is_unknown_still_goes(
    client, conn, staff, database_url, fcm, sender
):
    today = dt.datetime.now(dt.UTC).date()
    _, bo, _, bo_headers = await _two_graduates(client, conn, staff, today)
    crisis = helpers.checkin_body(need_support="crisis_now")
    response = await client.post("/v1/checkins", json=crisis, headers=bo_headers)
    assert response.status_code == 201, response.text  # their own check-in is kept, in UTC's date
    assert response.json()["crisis_resources"]
    await _run_worker(database_url, sender, dt.datetime.now(dt.UTC))
    assert "bo-phone" in {m["token"] for m in fcm.delivered}  # urgent: no quiet hours to work out
    assert await conn.fetchval("select push_state from notifications where kind = 'crisis_support'") == "sent"


@pytest.mark.clock_instants(*FEW)
async def test_the_graduates_own_requests_keep_working_while_their_zone_is_unknown(client, conn, staff):
    today = dt.datetime.now(dt.UTC).date()
    _, _, _, bo_headers = await _two_graduates(client, conn, staff, today)
    for path in ("/v1/me", "/v1/checkins/due", "/v1/checkins", "/v1/me/notification-preferences"):
        response = await client.get(path, headers=bo_headers)
        assert response.status_code == 200, (path, response.text)
    assert (await client.get("/v1/me", headers=bo_headers)).json()["timezone"] == BAD  # shown as stored


@pytest.mark.clock_instants(*FEW)
async def test_a_group_whose_zone_is_unknown_stops_no_other_groups_reminders(
    client, conn, staff, graduate, database_url, caplog
):
    zone, slot = helpers.slot_starting_in(30)
    good = await helpers.create_group(client, staff, name="Good Circle", timezone=zone, schedule=[slot])
    bad = await helpers.create_group(client, staff, name="Lost Circle", timezone=zone, schedule=[slot])
    for group in (good, bad):
        response = await client.post(f"/v1/groups/{group['id']}/membership", headers=graduate.headers)
        assert response.status_code in (200, 201), response.text
    await helpers.plant_time_zone(conn, "groups", bad["id"], BAD)
    sessions = await client.get(f"/v1/groups/{good['id']}/sessions", headers=graduate.headers)
    [upcoming, *_] = sessions.json()["items"]
    rsvp = await client.put(f"/v1/sessions/{upcoming['id']}/rsvp", json={"status": "going"}, headers=graduate.headers)
    assert rsvp.status_code == 200, rsvp.text

    await _run_worker(database_url, LogSender(), dt.datetime.now(dt.UTC))
    reminders = await conn.fetch(
        "select data ->> 'group_id' as group_id from notifications where kind = 'session_reminder'"
    )
    assert [r["group_id"] for r in reminders] == [good["id"]]
    assert await conn.fetchval("select last_failure_at from job_runs where job = 'reminders'") is None
    skipped = await conn.fetch("select job, group_id from job_skips")
    assert [(r["job"], str(r["group_id"])) for r in skipped] == [("reminders", bad["id"])]
    # Listings and the metrics go on for every other group.
    for path in ("/v1/groups", "/v1/me/sessions", "/v1/staff/metrics"):
        headers = staff.headers if "staff" in path else graduate.headers
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
    status = (await client.get("/v1/staff/system-status", headers=staff.headers)).json()
    reminders_job = next(j for j in status["jobs"] if j["name"] == "reminders")
    assert [(s["kind"], s["name"]) for s in reminders_job["skipped"]] == [("group", "Lost Circle")]


# Not pinned: the command runs in a process of its own, on the real clock.
async def test_the_sweep_command_goes_on_for_everyone_and_names_what_it_skipped(client, conn, staff, database_url):
    today = dt.datetime.now(dt.UTC).date()
    kim, bo, _, _ = await _two_graduates(client, conn, staff, today)
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "jobs", "sweep-missed"],
        env=os.environ | {"DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "2 missed check-ins recorded" in done.stdout and "1 graduates skipped" in done.stdout
    assert "Skipped 1 graduate(s) whose time zone the database does not know" in done.stderr
    assert await conn.fetchval("select count(*) from missed_checkins where person_id = $1", kim) >= 2
    assert [tuple(r) for r in await conn.fetch("select job, person_id from job_skips")] == [("sweep", bo)]
    assert await conn.fetchval("select runs from job_runs where job = 'sweep'") == 1


@pytest.mark.clock_instants(*ONCE)
@pytest.mark.parametrize("zone", ["localtime", "posixrules"])
async def test_a_pseudo_zone_left_from_before_is_skipped_and_reported_too(client, conn, staff, database_url, zone):
    """The tz database's pseudo-zones compute, but in the server's own zone: not the person's."""
    today = dt.datetime.now(dt.UTC).date()
    kim, _ = await helpers.graduate_with_history(
        client, conn, staff, today=today, iop_days_ago=20, checkin_days=list(range(-20, -2)), alias="Kim"
    )
    await helpers.plant_time_zone(conn, "people", kim, zone)
    await _run_worker(database_url, LogSender(), _evening(today))
    assert await conn.fetchval("select count(*) from missed_checkins") == 0
    assert {r["job"] for r in await conn.fetch("select job from job_skips where person_id = $1", kim)} == {
        "sweep",
        "reminders",
    }
