"""The worker: its jobs on a schedule, woken by new notifications, stopped cleanly by SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import pytest

from api.worker import Worker
from db.pool import create_pool
from notifications.sender import QuotaPause
from tests import helpers
from tests.clock import FEW
from tests.config import make_settings


async def _device(client, who, token: str) -> None:
    response = await client.post("/v1/me/devices", json={"token": token, "platform": "android"}, headers=who.headers)
    assert response.status_code == 201, response.text


@pytest.mark.clock_instants(*FEW)
async def test_one_round_reminds_and_pushes(client, conn, staff, database_url, fcm, sender):
    """A graduate who has not checked in by 18:30 their time gets the reminder on their phone."""
    zone = ZoneInfo("America/Chicago")
    today = dt.datetime.now(zone).date()  # their date, which is not UTC's for six hours a night
    who = await helpers.graduate(client, staff, timezone="America/Chicago", iop_completed_on=str(today))
    await _device(client, who, "phone")
    evening = dt.datetime.combine(today, dt.time(18, 30), tzinfo=zone).astimezone(dt.UTC)
    pool = await create_pool(database_url, max_size=2)
    try:
        await Worker(make_settings(database_url), pool, sender, clock=lambda: evening).run_once()
    finally:
        await pool.close()
    [message] = fcm.delivered
    assert message["notification"] == {"title": "Time for your check-in", "body": "It takes about a minute."}
    assert await conn.fetchval("select kind from notifications where push_state = 'sent'") == "checkin_reminder"


async def test_a_quota_pause_is_logged_once_not_at_every_turn(database_url, sender):
    """FCM asks us to slow down for ten minutes: the log says so when the pause starts, not
    at each of the hundreds of turns it lasts, and again when a later pause starts."""
    pool = await create_pool(database_url, max_size=3)
    worker = Worker(make_settings(database_url), pool, sender)
    now = dt.datetime.now(dt.UTC)
    try:
        async with pool.acquire() as conn:
            summaries = []
            for hold_s in (600, 600, 600, 0, 600):
                sender.pause = QuotaPause()
                sender.pause.hold(hold_s)
                summaries.append((await worker.dispatch(conn, now)).summary)
    finally:
        await pool.close()
    paused = [s.startswith("paused for FCM's quota") for s in summaries]
    assert paused == [True, False, False, False, True], summaries


@contextlib.asynccontextmanager
async def idle_worker(database_url: str, sender) -> AsyncIterator[None]:
    """A worker whose timers are five minutes apart: only a wake-up (LISTEN/NOTIFY) can
    explain a quick push."""
    settings = make_settings(database_url, dispatch_interval_s=300, reminder_interval_s=300, sweep_interval_s=300)
    pool = await create_pool(database_url, max_size=3)
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(settings, pool, sender).run(stop))
    try:
        await asyncio.sleep(0.5)  # its first round finds nothing
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await pool.close()


async def message_arrives(client, staff, graduate, fcm, within_s: float = 5) -> None:
    response = await client.post(
        "/v1/staff/notifications",
        json={"participant_id": graduate.id, "title": "Hi", "body": "Checking in.", "urgent": True},
        headers=staff.headers,
    )
    assert response.status_code == 201
    deadline = time.monotonic() + within_s
    while not fcm.delivered and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert len(fcm.delivered) == 1


async def test_a_new_notification_wakes_the_worker(client, conn, staff, graduate, database_url, fcm, sender):
    await _device(client, graduate, "phone")
    async with idle_worker(database_url, sender):
        await message_arrives(client, staff, graduate, fcm)


async def test_the_worker_command_sends_and_stops_on_sigterm(client, conn, staff, graduate, database_url):
    """`aftercare worker` as a deployment runs it: without FCM credentials it says it only
    logs, "sends" what is due through the log-only sender (ids, never text), and SIGTERM
    ends it with exit code 0."""
    await _device(client, graduate, "phone")
    response = await client.post(
        "/v1/staff/notifications",
        json={"participant_id": graduate.id, "title": "About Thursday", "body": "Call me.", "urgent": True},
        headers=staff.headers,
    )
    [notification_id] = response.json()["notification_ids"]
    env = {k: v for k, v in os.environ.items() if k != "AFTERCARE_FCM_CREDENTIALS"} | {"DATABASE_URL": database_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        state = None
        while state != "sent" and time.monotonic() < deadline and process.poll() is None:
            await asyncio.sleep(0.2)
            state = await conn.fetchval("select push_state from notifications where id = $1", notification_id)
        assert state == "sent"
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.to_thread(process.communicate, timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "pushes are logged, not sent" in err and "worker started" in err and "worker stopped" in err
    assert f"push not sent (no FCM credentials): notification {notification_id}, kind staff_message" in err
    assert "About Thursday" not in err and "Call me" not in err and "phone" not in err
    assert "Worker stopped." in out


def test_the_worker_command_explains_a_bad_credentials_file(database_url, tmp_path):
    bad = tmp_path / "sa.json"
    bad.write_text("{}")
    env = os.environ | {"DATABASE_URL": database_url, "AFTERCARE_FCM_CREDENTIALS": str(bad)}
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "worker", "--once"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: AFTERCARE_FCM_CREDENTIALS") and "Traceback" not in result.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "api.cli", "worker", "--once"],
        env=env | {"AFTERCARE_FCM_CREDENTIALS": str(tmp_path / "nope.json")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1 and "is not a file" in missing.stderr


async def test_the_worker_listens_again_after_losing_its_connection(
    client, conn, staff, graduate, database_url, fcm, sender
):
    """A database restart drops the LISTEN connection; the next new notification must still
    wake the worker (not wait for the slow poll)."""
    await _device(client, graduate, "phone")
    async with idle_worker(database_url, sender):
        # What a restart does to it: the server ends the listening backend.
        ended = await conn.fetchval(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity "
            "where datname = current_database() and query ilike 'listen%'"
        )
        assert ended == 1
        await asyncio.sleep(0.3)
        await message_arrives(client, staff, graduate, fcm)
