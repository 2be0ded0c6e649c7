"""Job health is visible (PRODUCT.md section 11): every run of every job is recorded in
PostgreSQL, shared by all workers; a failure is logged once, with what to do; and
GET /v1/staff/system-status says which job is late and whom it skips."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import pytest

from api.system.routes import is_late
from api.worker import Worker
from db.pool import create_pool
from notifications.sender import LogSender
from tests import helpers
from tests.clock import FEW, ONCE
from tests.config import make_settings
from tests.worker.rounds import run_once_with_the_sweep_blocked

JOBS = ["reminders", "sweep", "help_now", "dispatch", "purge"]


@pytest.fixture
def settings(database_url):
    """The API as deployed: a worker is expected beside it."""
    return make_settings(database_url, worker_expected=True)


async def _status(client, who) -> dict[str, dict]:
    response = await client.get("/v1/staff/system-status", headers=who.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [j["name"] for j in body["jobs"]] == JOBS
    return {j["name"]: j for j in body["jobs"]}


def test_a_job_is_late_after_three_of_its_intervals_without_a_success():
    now = dt.datetime(2026, 12, 3, 12, tzinfo=dt.UTC)
    assert is_late(None, 600, now)  # never
    assert not is_late(now - dt.timedelta(seconds=1799), 600, now)
    assert is_late(now - dt.timedelta(seconds=1801), 600, now)


async def test_jobs_that_never_ran_are_late_while_a_worker_is_expected(client, staff, database_url):
    jobs = await _status(client, staff)
    assert all(j["late"] and j["last_success_at"] is None for j in jobs.values())
    assert {name: j["interval_s"] for name, j in jobs.items()} == {
        "reminders": 60,
        "sweep": 600,
        "help_now": 30,
        "dispatch": 5,
        "purge": 3600,
    }
    pool = await create_pool(database_url, max_size=2)
    try:
        await Worker(make_settings(database_url), pool, LogSender()).run_once()
    finally:
        await pool.close()
    jobs = await _status(client, staff)
    assert not any(j["late"] for j in jobs.values())
    assert all(j["last_success_at"] and j["last_failure_at"] is None and j["skipped"] == [] for j in jobs.values())
    assert all(j["last_duration_s"] is not None and j["last_duration_s"] >= 0 for j in jobs.values())


@pytest.mark.clock_instants(*FEW)
async def test_a_job_without_a_success_for_three_intervals_is_late(client, conn, staff):
    now = dt.datetime.now(dt.UTC)
    await conn.executemany(
        "insert into job_runs (job, last_success_at) values ($1, $2)",
        [
            ("sweep", now - dt.timedelta(minutes=31)),  # three intervals of 10 minutes ago, and more
            ("reminders", now - dt.timedelta(minutes=2)),
            ("dispatch", now - dt.timedelta(seconds=5)),
            ("purge", now - dt.timedelta(hours=2)),
            ("help_now", now - dt.timedelta(seconds=100)),  # three intervals of 30 s ago, and more
        ],
    )
    jobs = await _status(client, staff)
    assert {name: j["late"] for name, j in jobs.items()} == {
        "reminders": False,
        "sweep": True,
        "help_now": True,
        "dispatch": False,
        "purge": False,
    }


async def test_nothing_is_late_where_no_worker_is_expected(conn, staff, database_url):
    from litestar.testing import AsyncTestClient

    from api.app import create_app

    async with AsyncTestClient(app=create_app(make_settings(database_url, worker_expected=False))) as plain:
        response = await plain.get("/v1/staff/system-status", headers=staff.headers)
    assert response.status_code == 200
    assert response.json()["worker_expected"] is False
    assert not any(j["late"] for j in response.json()["jobs"])


@pytest.mark.clock_instants(*ONCE)
async def test_a_failing_job_is_recorded_and_logged_once_with_what_to_do_and_the_others_go_on(
    client, conn, staff, database_url, caplog
):
    """The sweep's table is locked by someone else past the statement time limit: a real
    failure of one job, while the others run."""
    today = dt.datetime.now(dt.UTC).date()
    await helpers.graduate_with_history(
        client, conn, staff, today=today, iop_days_ago=10, checkin_days=list(range(-10, -3)), alias="Kim"
    )
    caplog.set_level(logging.INFO, logger="aftercare.worker")
    await run_once_with_the_sweep_blocked(database_url)

    runs = {r["job"]: r for r in await conn.fetch("select * from job_runs")}
    assert runs["sweep"]["last_success_at"] is None
    assert runs["sweep"]["last_error"] == "QueryCanceledError"
    assert (runs["sweep"]["runs"], runs["sweep"]["failures"]) == (1, 1)
    assert all(
        runs[job]["last_success_at"] and runs[job]["failures"] == 0 for job in ("reminders", "dispatch", "purge")
    )
    failures = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert failures == [
        "job sweep failed: QueryCanceledError; a statement ran past its time limit: the database may be "
        "overloaded (see README, 'The worker'); it runs again at its next turn"
    ]
    jobs = await _status(client, staff)
    assert jobs["sweep"]["late"] and jobs["sweep"]["last_error"] == "QueryCanceledError"
    assert jobs["sweep"]["last_failure_at"] is not None
    assert not jobs["reminders"]["late"]


async def test_admins_read_whom_the_jobs_skip_audited_and_staff_only_how_many(client, conn, staff, admin, graduate):
    await _status(client, admin)
    assert await conn.fetchval("select count(*) from audit_log where action = 'system_status.read'") == 0
    person = uuid.UUID(graduate.id)
    await conn.execute(
        "insert into job_skips (job, person_id, reason, since) values ('sweep', $1, 'time zone', now()),"
        " ('reminders', $1, 'time zone', now())",
        person,
    )
    jobs = await _status(client, staff)
    assert [(s["id"], s["name"]) for s in jobs["sweep"]["skipped"]] == [(graduate.id, None)]
    assert await conn.fetchval("select count(*) from audit_log where action = 'system_status.read'") == 0
    jobs = await _status(client, admin)
    assert [(s["id"], s["name"]) for s in jobs["sweep"]["skipped"]] == [(graduate.id, "Sam")]
    rows = await conn.fetch("select actor_id, participant_id from audit_log where action = 'system_status.read'")
    assert [(str(r["actor_id"]), r["participant_id"]) for r in rows] == [(admin.id, person)]  # once, not per job


async def test_a_skip_record_goes_with_the_graduate(client, conn, staff, graduate):
    await conn.execute(
        "insert into job_skips (job, person_id, reason, since) values ('sweep', $1, 'time zone', now())",
        uuid.UUID(graduate.id),
    )
    response = await client.delete("/v1/me", headers=graduate.headers)
    assert response.status_code == 200, response.text
    assert await conn.fetchval("select count(*) from job_skips") == 0
