"""The worker's Prometheus metrics (`aftercare worker --metrics-port`, api/worker_metrics.py):
a real round of the jobs moves them, the outbox gauges say what SQL says, and no label ever
carries anything but a value fixed in code.

prometheus_client's registry is one per process, shared by every test here: counters are read
as the change a test made (after minus before), never as absolute values."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from api import cli, worker_metrics
from api.worker import Worker
from db import notifications as notifications_db
from db.pool import create_pool
from notifications.sender import LogSender
from tests import helpers
from tests.clock import ONCE
from tests.config import make_settings
from tests.live_server import free_port
from tests.worker.rounds import run_once_with_the_sweep_blocked

Key = tuple[str, frozenset[tuple[str, str]]]

UUID_LIKE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
# Every label a worker's scrape may carry, with every value it may take. Ours are fixed in
# api/worker_metrics.py; the rest are prometheus_client's own (the process's Python).
ALLOWED_LABELS: dict[str, set[str]] = {
    "job": set(worker_metrics.JOBS) | {worker_metrics.OTHER},
    "state": set(worker_metrics.OUTBOX_STATES),
    "outcome": set(worker_metrics.OUTCOMES) | {worker_metrics.OTHER},
    "le": {floatToGoString(b) for b in worker_metrics.DURATION_BUCKETS} | {"+Inf"},
}
PYTHON_LABELS = {
    "generation": {"0", "1", "2"},  # python_gc_*
    "implementation": {sys.implementation.name.capitalize(), "CPython"},
    "major": {str(sys.version_info.major)},
    "minor": {str(sys.version_info.minor)},
    "patchlevel": {str(sys.version_info.micro)},
    "version": {".".join(map(str, sys.version_info[:3]))},
}


def _samples(text: str) -> dict[Key, float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(url: str) -> dict[Key, float]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return _samples(response.text)


def value(samples: dict[Key, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def change(before: dict[Key, float], after: dict[Key, float], name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def assert_fixed_labels(samples: dict[Key, float], *, ours_only: bool) -> None:
    """Every label value is one the code fixed: no id, no number but a bucket's bound."""
    seen = 0
    for name, labels in samples:
        if ours_only and not name.startswith("aftercare_worker_"):
            continue  # the API's metrics, in this process too when a test made its app
        allowed = ALLOWED_LABELS if name.startswith("aftercare_worker_") else PYTHON_LABELS
        for label, text in labels:
            seen += 1
            assert not UUID_LIKE.search(text), (name, label, text)
            assert label in allowed and text in allowed[label], (name, label, text)
            if label not in ("le", "generation") and not name.startswith("python_info"):
                assert not re.fullmatch(r"[\d.+-]+", text), (name, label, text)
    assert seen, "no labelled sample at all"


@pytest.fixture(scope="module")
def metrics_url() -> Iterator[str]:
    """The worker's metrics server, as `--metrics-port` starts it, on any free port."""
    server = worker_metrics.serve("127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.server_port}/metrics"
    server.shutdown()
    server.server_close()


async def _device(client, headers, token: str) -> None:
    response = await client.post("/v1/me/devices", json={"token": token, "platform": "android"}, headers=headers)
    assert response.status_code == 201, response.text


async def _message(client, staff, person: uuid.UUID, *, urgent: bool = False) -> None:
    response = await client.post(
        "/v1/staff/notifications",
        json={"participant_id": str(person), "title": "Hello", "body": "Thinking of you.", "urgent": urgent},
        headers=staff.headers,
    )
    assert response.status_code == 201, response.text


async def outbox_by_sql(conn: asyncpg.Connection, now: dt.datetime) -> dict[str, int]:
    """The outbox counted the plain way, row by row, to hold the gauges' statement to."""
    counts = dict.fromkeys(worker_metrics.OUTBOX_STATES, 0)
    for row in await conn.fetch("select push_state, not_before, lease_until from notifications"):
        if row["push_state"] == "pending":
            counts["due" if row["not_before"] <= now else "scheduled"] += 1
        elif row["push_state"] == "sending":
            counts["claimed" if row["lease_until"] > now else "lease_expired"] += 1
    return counts


@pytest.mark.clock_instants(*ONCE)
@pytest.mark.parametrize("sender", ["aiohttp"], indirect=True)
async def test_a_round_of_jobs_moves_the_metrics(client, conn, staff, database_url, fcm, sender, metrics_url):
    """Kim misses two check-ins and has a phone; Bo's time zone cannot be worked with (every
    job that meets Bo skips them, and their message fails). One round, then the scrape."""
    today = dt.datetime.now(dt.UTC).date()
    evening = dt.datetime.combine(today, dt.time(19), tzinfo=dt.UTC)  # after UTC's reminder hour
    people = []
    for alias in ("Kim", "Bo"):
        person, headers = await helpers.graduate_with_history(
            client, conn, staff, today=today, iop_days_ago=20, checkin_days=list(range(-20, -2)), alias=alias
        )
        await _device(client, headers, f"{alias.lower()}-phone")
        people.append(person)
    kim, bo = people
    await helpers.plant_time_zone(conn, "people", bo, helpers.UNKNOWN_ZONE)
    for person in people:
        await _message(client, staff, person)
    await conn.execute("update notifications set not_before = $1", evening - dt.timedelta(hours=1))
    # Two for tomorrow, and one another worker is pushing right now.
    await helpers.outbox_backlog(conn, [str(kim)], 2, due=evening + dt.timedelta(days=1))
    held = await helpers.outbox_backlog(conn, [str(kim)], 1, due=evening - dt.timedelta(hours=1))
    await conn.execute(
        "update notifications set push_state = 'sending', claim_id = $2, lease_until = $3, attempts = 1"
        " where id = any($1::bigint[])",
        held,
        uuid.uuid4(),
        evening + dt.timedelta(minutes=2),
    )

    before = await scrape(metrics_url)
    pool = await create_pool(database_url, max_size=3)
    try:
        await Worker(make_settings(database_url), pool, sender, clock=lambda: evening, metrics=True).run_once()
    finally:
        await pool.close()
    after = await scrape(metrics_url)

    for job in worker_metrics.JOBS:  # each ran once, and succeeded just now
        assert change(before, after, "aftercare_worker_job_runs_total", job=job) == 1, job
        assert change(before, after, "aftercare_worker_job_failures_total", job=job) == 0, job
        assert change(before, after, "aftercare_worker_job_duration_seconds_count", job=job) == 1, job
        assert change(before, after, "aftercare_worker_job_duration_seconds_sum", job=job) >= 0, job
        last = value(after, "aftercare_worker_job_last_success_timestamp_seconds", job=job)
        assert abs(last - time.time()) < 60, job

    # Dispatch: Kim's message, check-in reminder and nudge went to Kim's phone; Bo's failed.
    states = dict(await conn.fetch("select push_state, count(*) from notifications group by push_state"))
    assert len(fcm.delivered) == states["sent"] == 3
    assert states["failed"] == 1
    outcomes = {
        o: change(before, after, "aftercare_worker_notifications_total", outcome=o) for o in worker_metrics.OUTCOMES
    }
    assert outcomes == dict.fromkeys(worker_metrics.OUTCOMES, 0) | {"sent": 3, "failed": 1}
    assert change(before, after, "aftercare_worker_pushes_total") == len(fcm.delivered)
    assert change(before, after, "aftercare_worker_devices_removed_total") == 0
    assert change(before, after, "aftercare_worker_dispatch_paused_total") == 0

    # The sweep recorded Kim's two misses; Bo was left out by every job that met them.
    missed = await conn.fetchval("select count(*) from missed_checkins")
    assert missed == 2
    assert change(before, after, "aftercare_worker_missed_checkins_recorded_total") == missed
    skips = dict(await conn.fetch("select job, count(*) from job_skips group by job"))
    assert skips == {"dispatch": 1, "reminders": 1, "sweep": 1}
    for job in worker_metrics.JOBS:
        assert change(before, after, "aftercare_worker_skipped_total", job=job) == skips.get(job, 0), job

    # The outbox after the round, as SQL counts it.
    expected = await outbox_by_sql(conn, evening)
    assert expected == {"due": 0, "scheduled": 2, "claimed": 1, "lease_expired": 0}
    assert {s: value(after, "aftercare_worker_outbox_notifications", state=s) for s in expected} == expected
    assert value(after, "aftercare_worker_outbox_oldest_due_seconds") == 0

    assert_fixed_labels(after, ours_only=True)


async def test_the_outbox_gauges_follow_the_table_while_the_worker_runs(
    conn, graduate, database_url, metrics_url, monkeypatch
):
    """Read at start, then again every OUTBOX_REFRESH_S (15 s; shortened here), not per push."""
    monkeypatch.setattr("api.worker.OUTBOX_REFRESH_S", 0.2)
    now = dt.datetime.now(dt.UTC)
    later = now + dt.timedelta(hours=1)  # due later: no job of this run touches them
    await helpers.outbox_backlog(conn, [graduate.id], 2, due=later)
    settings = make_settings(database_url, dispatch_interval_s=300, reminder_interval_s=300, sweep_interval_s=300)
    pool = await create_pool(database_url, max_size=3)
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(settings, pool, LogSender(), metrics=True).run(stop))

    async def gauge_reaches(state: str, n: int) -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if value(await scrape(metrics_url), "aftercare_worker_outbox_notifications", state=state) == n:
                return
            await asyncio.sleep(0.05)
        pytest.fail(f"the outbox gauge {state} never reached {n}")

    try:
        await gauge_reaches("scheduled", 2)  # at start
        await helpers.outbox_backlog(conn, [graduate.id], 3, due=later)
        await gauge_reaches("scheduled", 5)  # a refresh later
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await pool.close()
    # Half an hour after they came due, the same statement finds them all due, that long.
    half_hour_late = await notifications_db.outbox_depth(conn, later + dt.timedelta(minutes=30))
    assert half_hour_late == notifications_db.OutboxDepth(5, 0, 0, 0, 1800.0)


@pytest.mark.clock_instants(*ONCE)
async def test_a_failing_job_counts_a_failure_and_no_success(client, conn, staff, database_url, metrics_url):
    """The sweep's table is locked past the statement time limit (as tests/worker/test_job_health.py
    does): the sweep fails, the others go on."""
    today = dt.datetime.now(dt.UTC).date()
    await helpers.graduate_with_history(
        client, conn, staff, today=today, iop_days_ago=10, checkin_days=list(range(-10, -3)), alias="Kim"
    )
    before = await scrape(metrics_url)
    await run_once_with_the_sweep_blocked(database_url)
    after = await scrape(metrics_url)
    assert change(before, after, "aftercare_worker_job_runs_total", job="sweep") == 1
    assert change(before, after, "aftercare_worker_job_failures_total", job="sweep") == 1
    assert change(before, after, "aftercare_worker_job_duration_seconds_count", job="sweep") == 1
    assert change(before, after, "aftercare_worker_job_last_success_timestamp_seconds", job="sweep") == 0
    assert change(before, after, "aftercare_worker_missed_checkins_recorded_total") == 0
    for job in ("reminders", "help_now", "dispatch", "purge"):
        assert change(before, after, "aftercare_worker_job_runs_total", job=job) == 1, job
        assert change(before, after, "aftercare_worker_job_failures_total", job=job) == 0, job


async def test_the_worker_command_serves_its_metrics_with_fixed_labels_only(
    client, conn, staff, graduate, database_url
):
    """`aftercare worker` with AFTERCARE_WORKER_METRICS_PORT, as a container sets it: the
    scrape of a real worker process, with a graduate's message pushed, names nobody."""
    await _device(client, graduate.headers, "phone")
    await _message(client, staff, uuid.UUID(graduate.id), urgent=True)  # through quiet hours, whatever the hour
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "AFTERCARE_FCM_CREDENTIALS"} | {
        "DATABASE_URL": database_url,
        "AFTERCARE_WORKER_METRICS_PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        samples: dict[Key, float] = {}
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                samples = await scrape(f"http://127.0.0.1:{port}/metrics")
                if value(samples, "aftercare_worker_job_runs_total", job="dispatch") >= 1:
                    break
            await asyncio.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.to_thread(process.communicate, timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    # The message (and a check-in reminder, if it is evening where the graduate lives).
    sent = await conn.fetchval("select count(*) from notifications where push_state = 'sent'")
    assert sent >= 1
    assert value(samples, "aftercare_worker_notifications_total", outcome="sent") == sent
    assert value(samples, "aftercare_worker_pushes_total") == sent  # one phone
    assert value(samples, "aftercare_worker_job_runs_total", job="dispatch") >= 1
    assert value(samples, "aftercare_worker_outbox_notifications", state="due") == 1  # read at start, before dispatch
    assert value(samples, "process_resident_memory_bytes") > 0  # the client's own, for free
    assert_fixed_labels(samples, ours_only=False)
    assert graduate.id not in str(samples)


def test_the_worker_command_documents_its_metrics_options():
    result = CliRunner().invoke(cli.main, ["worker", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "--metrics-port" in result.output and "AFTERCARE_WORKER_METRICS_PORT" in result.output
    assert "--metrics-host" in result.output and "default: 127.0.0.1" in result.output
    assert "/metrics" in result.output


def test_the_worker_command_says_when_its_metrics_port_is_taken(database_url):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "api.cli", "worker", "--metrics-port", str(port)],
            env=os.environ | {"DATABASE_URL": database_url},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert (
        result.stderr.startswith(f"error: cannot serve metrics on 127.0.0.1:{port}")
        and "Traceback" not in result.stderr
    )


async def test_the_outbox_statement_reads_only_the_rows_still_to_push(conn):
    """Finished notifications stay in the table for ever (the inbox): the gauges' statement
    must reach the pending and sending rows through their partial indexes, never scan it all."""
    await conn.execute("set enable_seqscan = off")  # with no index to use, a seq scan still shows
    plan = "\n".join(
        r[0] for r in await conn.fetch("explain " + notifications_db.OUTBOX_DEPTH, dt.datetime.now(dt.UTC))
    )
    assert "Seq Scan" not in plan, plan
    assert "notifications_due_idx" in plan and "notifications_lease_idx" in plan, plan


async def test_the_label_lists_cover_every_job_and_every_outbox_state(conn, database_url):
    assert set(worker_metrics.JOBS) == set(make_settings(database_url).job_intervals())
    check = await conn.fetchval(
        "select pg_get_constraintdef(oid) from pg_constraint"
        " where conrelid = 'notifications'::regclass and pg_get_constraintdef(oid) like '%push_state%'"
    )
    states = set(re.findall(r"'(\w+)'", check))
    # pending comes out of a run as retried or deferred; sending is a claim in hand, not an outcome.
    assert (states - {"pending", "sending"}) | {"retried", "deferred"} == set(worker_metrics.OUTCOMES)
