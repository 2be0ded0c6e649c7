"""The worker's Prometheus metrics (`aftercare worker --metrics-port`; README, "The worker").

Every label value is fixed by this code (a job's name, an outbox state, a dispatch outcome):
never an id, an alias or an error's text, so a scrape says nothing about anyone. The worker
process serves prometheus_client's default registry: these, and the client's own process_*
and python_* metrics.

| metric | type | labels |
|---|---|---|
| aftercare_worker_job_runs_total | counter | job |
| aftercare_worker_job_failures_total | counter | job |
| aftercare_worker_job_duration_seconds | histogram | job |
| aftercare_worker_job_last_success_timestamp_seconds | gauge | job |
| aftercare_worker_skipped_total | counter | job |
| aftercare_worker_outbox_notifications | gauge | state |
| aftercare_worker_outbox_oldest_due_seconds | gauge | |
| aftercare_worker_notifications_total | counter | outcome |
| aftercare_worker_pushes_total | counter | |
| aftercare_worker_devices_removed_total | counter | |
| aftercare_worker_dispatch_paused_total | counter | |
| aftercare_worker_missed_checkins_recorded_total | counter | |
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from wsgiref.simple_server import WSGIServer

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from db.job_health import Skip
from db.notifications import OutboxDepth
from notifications.dispatch import Report

# The label values, all of them.
JOBS = ("reminders", "sweep", "help_now", "dispatch", "purge")
OUTBOX_STATES = ("due", "scheduled", "claimed", "lease_expired")
OUTCOMES = ("sent", "retried", "deferred", "failed", "opted_out", "no_device", "expired")
OTHER = "other"  # a job or an outcome missing above (a test fails first)

# From a purge of a few rows (milliseconds) to a sweep over a million graduates (minutes).
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

JOB_RUNS = Counter("aftercare_worker_job_runs", "Runs of each background job, failed ones included.", ["job"])
JOB_FAILURES = Counter("aftercare_worker_job_failures", "Runs of each background job that failed.", ["job"])
JOB_DURATION = Histogram(
    "aftercare_worker_job_duration_seconds",
    "How long each run of a background job took, failed ones included.",
    ["job"],
    buckets=DURATION_BUCKETS,
)
JOB_LAST_SUCCESS = Gauge(
    "aftercare_worker_job_last_success_timestamp_seconds",
    "Unix time this worker last finished a run of the job successfully (0: not yet).",
    ["job"],
)
SKIPPED = Counter(
    "aftercare_worker_skipped",
    "Graduates (or groups) a run left out because their time zone cannot be worked with, counted at every run that left them out.",
    ["job"],
)
OUTBOX = Gauge(
    "aftercare_worker_outbox_notifications",
    "Notifications waiting in the outbox, by state: due (pending, to push now), scheduled (pending, "
    "later: quiet hours, a retry's backoff), claimed (a worker is pushing them), lease_expired "
    "(their worker stopped mid-batch; due again).",
    ["state"],
)
OUTBOX_OLDEST_DUE = Gauge(
    "aftercare_worker_outbox_oldest_due_seconds",
    "How long the oldest due notification has waited past its time (0: none due).",
)
NOTIFICATIONS = Counter(
    "aftercare_worker_notifications",
    "Notifications dispatch claimed, by how the run left them: sent, retried (pushing failed for now), "
    "deferred (quiet hours), failed, opted_out, no_device, expired.",
    ["outcome"],
)
PUSHES = Counter("aftercare_worker_pushes", "Pushes (one per device) dispatch handed to the sender.")
DEVICES_REMOVED = Counter(
    "aftercare_worker_devices_removed", "Devices removed because FCM said their token is no longer valid."
)
DISPATCH_PAUSED = Counter(
    "aftercare_worker_dispatch_paused", "Dispatch runs that claimed nothing because FCM asked us to slow down."
)
MISSED_RECORDED = Counter("aftercare_worker_missed_checkins_recorded", "Missed check-ins the sweep recorded.")

for _job in JOBS:  # every series exists from the start, at 0, so a rate needs no first event
    JOB_RUNS.labels(_job)
    JOB_FAILURES.labels(_job)
    JOB_DURATION.labels(_job)
    JOB_LAST_SUCCESS.labels(_job)
    SKIPPED.labels(_job)
for _outcome in OUTCOMES:
    NOTIFICATIONS.labels(_outcome)


def serve(host: str, port: int) -> WSGIServer:
    """Serve the process's metrics at http://host:port/metrics from a daemon thread (port 0:
    any free one, `server_port` says which). OSError when the address cannot be bound."""
    server, _thread = start_http_server(port, addr=host)
    return server


def job_ran(job: str, duration_s: float, *, failed: bool, skipped: Iterable[Skip] | None = None) -> None:
    """One run of a job: counted, timed, and whom it left out."""
    job = _known(job, JOBS)
    JOB_RUNS.labels(job).inc()
    JOB_DURATION.labels(job).observe(duration_s)
    if failed:
        JOB_FAILURES.labels(job).inc()
        return
    JOB_LAST_SUCCESS.labels(job).set(time.time())
    if skipped:
        SKIPPED.labels(job).inc(sum(1 for _ in skipped))


def dispatched(report: Report) -> None:
    """What one dispatch run did (its Report: counts only)."""
    if report.paused_s and not report.claimed:
        DISPATCH_PAUSED.inc()
    states = dict(report.states)
    # Pending again: deferred for quiet hours (decided before pushing) or to be retried.
    pending = states.pop("pending", 0)
    counts = {"deferred": report.deferred, "retried": max(0, pending - report.deferred)}
    for state, n in states.items():
        counts[state] = counts.get(state, 0) + n
    for outcome, n in counts.items():
        if n:
            NOTIFICATIONS.labels(_known(outcome, OUTCOMES)).inc(n)
    PUSHES.inc(report.pushes)
    DEVICES_REMOVED.inc(report.dead_tokens)


def swept(counts: dict[str, int]) -> None:
    MISSED_RECORDED.inc(counts.get("missed_recorded", 0))


def outbox(depth: OutboxDepth) -> None:
    for state in OUTBOX_STATES:
        OUTBOX.labels(state).set(getattr(depth, state))
    OUTBOX_OLDEST_DUE.set(depth.oldest_due_s)


def _known(value: str, allowed: tuple[str, ...]) -> str:
    """A label value from the lists above, or "other": a value never passes through unchecked,
    and a metric never stops a job (tests/worker/test_worker_metrics.py keeps the lists complete)."""
    return value if value in allowed else OTHER
