"""`aftercare worker`: the schedule of background jobs (a composition root).

| job | every | what |
|---|---|---|
| dispatch | new notification (LISTEN/NOTIFY), else `dispatch_interval_s` (5 s) | push due notifications; again at once while batches come back full |
| reminders | `reminder_interval_s` (60 s) | check-in reminders (slot's last day, 18:00 local) and session reminders (60 min before) |
| sweep | `sweep_interval_s` (600 s) | record missed check-ins, raise alerts, nudge |
| help_now | `help_now_interval_s` (30 s) | calls for help nobody answered within 15 minutes: crisis line offered again, alert to high |
| purge | `purge_interval_s` (3600 s) | forget deleted graduates' kept records 30 days after staff acknowledged them |

Any number of workers may run: the dispatcher claims with SKIP LOCKED and a lease, the
reminders carry dedup keys, and the sweep takes an advisory lock. A job that fails is logged
(one line, saying what to do) and tried again at its next turn; the others go on. Every run's
outcome, and whom it skipped, is recorded in PostgreSQL (db/job_health.py), where the API's
system status reads it; and counted in this process's Prometheus metrics (api/worker_metrics.py),
served with `aftercare worker --metrics-port`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import asyncpg

from api import worker_metrics
from api.circle.escalation import escalate_unanswered
from api.deps import as_connection
from api.groups.reminders import groups_without_sessions, session_reminders
from api.settings import Settings
from db import job_health
from db import notifications as notifications_db
from db import privacy as privacy_db
from db import zones as zones_db
from db.job_health import Skip
from notifications import reminders
from notifications.dispatch import Policy, dispatch_lanes
from notifications.fcm_lean import LeanSender
from notifications.sender import FirebaseSender, LogSender, Sender

log = logging.getLogger("aftercare.worker")

WAKE_CHANNEL = "aftercare_outbox"
# With metrics on: how often the outbox gauges are read again (one statement each time).
OUTBOX_REFRESH_S = 15.0


# AFTERCARE_PUSH_TRANSPORT: how pushes reach FCM (notifications/sender.py says why two).
PUSH_TRANSPORTS: dict[str, type[LeanSender] | type[FirebaseSender]] = {
    "aiohttp": LeanSender,
    "firebase-admin": FirebaseSender,
}


def run_worker_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run the worker on uvloop (as uvicorn runs the API) where it is installed: its event
    loop and sockets cost less CPU a push than asyncio's own."""
    try:
        import uvloop
    except ImportError:  # Windows: uvloop is not installed there
        asyncio.run(main)
    else:
        uvloop.run(main)


def settle_garbage_collector() -> None:
    """Set the collector for a long-lived worker pushing batches of 500: a push wave allocates
    fast, and with Python's defaults a quarter of the worker's CPU went to collections, most
    of it full ones walking everything imported at start (firebase-admin, google-auth,
    Litestar). Freeze what exists now (it lives as long as the process) and collect the young
    generation less often: its objects are a batch's short-lived messages."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def make_sender(settings: Settings) -> Sender:
    if settings.fcm_credentials_file:
        transport = PUSH_TRANSPORTS[settings.push_transport]
        return transport(settings.fcm_credentials_file, settings.firebase_project_id)
    log.warning("no AFTERCARE_FCM_CREDENTIALS: pushes are logged, not sent (fine for development)")
    return LogSender()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Outcome:
    """What one run of a job did."""

    summary: str = ""  # worth logging; "" when nothing happened
    again: bool = False  # run again at once (a full batch means more is waiting)
    skipped: list[Skip] | None = None  # whom it left out; None: it does not say
    complete: bool = True  # `skipped` names everyone this job leaves out now, not one batch's


@dataclass
class Job:
    name: str
    interval_s: float
    run: Callable[[asyncpg.Connection, dt.datetime], Awaitable[Outcome]]


def advice(exc: BaseException) -> str:
    """What an operator should do about a job's failure, judged by the error's type (its
    message may hold personal data, so it is never logged)."""
    if isinstance(exc, OSError | TimeoutError | asyncpg.InterfaceError | asyncpg.CannotConnectNowError):
        return "the database cannot be reached: check that PostgreSQL is up and DATABASE_URL is right"
    if isinstance(exc, asyncpg.UndefinedTableError | asyncpg.UndefinedColumnError | asyncpg.UndefinedFunctionError):
        return "the database schema is behind this code: run `aftercare db upgrade`"
    if isinstance(exc, asyncpg.QueryCanceledError):
        return "a statement ran past its time limit: the database may be overloaded (see README, 'The worker')"
    if isinstance(exc, asyncpg.InvalidParameterValueError):
        return "a stored value (a time zone?) is not usable: the list of known zones is refreshed before the next run; if it goes on, see GET /v1/staff/system-status"
    return "unexpected: report it with this error type; the other jobs go on"


PLAIN_RETRY = "it runs again at its next turn"


class Worker:
    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        sender: Sender,
        clock: Callable[[], dt.datetime] = utcnow,
        *,
        metrics: bool = False,
    ) -> None:
        self.settings = settings
        # The counters always count (in memory); the outbox gauges cost a statement, read only
        # while the metrics are served.
        self.metrics = metrics
        self.pool = pool
        self.sender = sender
        self.clock = clock
        self.policy = Policy(
            batch_size=settings.push_batch_size, max_attempts=settings.push_max_attempts, lanes=settings.push_lanes
        )
        # In this order: what the first two write, dispatch sends in the same round.
        self.jobs = [Job(name, interval, getattr(self, name)) for name, interval in settings.job_intervals().items()]
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        # Whether the log already says dispatch is paused for FCM's quota: said once a pause,
        # not at every turn of it (the metrics count every paused run).
        self._pause_logged = False

    async def dispatch(self, conn: asyncpg.Connection, now: dt.datetime) -> Outcome:
        async with contextlib.AsyncExitStack() as lanes:
            others = [
                as_connection(await lanes.enter_async_context(self.pool.acquire()))
                for _ in range(self.policy.lanes - 1)
            ]
            report = await dispatch_lanes([conn, *others], self.sender, now, self.policy)
        worker_metrics.dispatched(report)
        # A batch sees only some people: a skip record stays until the person's zone loads again.
        fine = [
            Skip(r["person_id"], r["group_id"], "")
            for r in await job_health.skipped_subjects(conn, "dispatch")
            if zones_db.python_zone(r["timezone"]) is not None
        ]
        await job_health.clear_skips(conn, "dispatch", fine)
        paused_news = bool(report.paused_s) and not self._pause_logged
        self._pause_logged = bool(report.paused_s)
        return Outcome(
            report.line() if report.claimed or paused_news else "",
            report.claimed >= self.policy.batch_size,
            report.skipped,
            complete=False,
        )

    async def reminders(self, conn: asyncpg.Connection, now: dt.datetime) -> Outcome:
        checkins = await reminders.checkin_reminders(conn, now, self.settings.checkin_reminder_at)
        lead = dt.timedelta(minutes=self.settings.session_reminder_minutes)
        sessions = await session_reminders(conn, now, lead, self.settings.session_reminder_audience)
        skipped = await unwatched_graduates(conn) + await groups_without_sessions(conn)
        # Dispatch hears of new reminders through NOTIFY (and runs next this round).
        summary = f"{checkins} check-in reminders, {sessions} session reminders written" if checkins or sessions else ""
        return Outcome(summary, False, skipped)

    async def sweep(self, conn: asyncpg.Connection, now: dt.datetime) -> Outcome:
        counts = await reminders.sweep_and_nudge(conn, now)
        worker_metrics.swept(counts)
        summary = (
            ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items()) if any(counts.values()) else ""
        )
        return Outcome(summary, False, await unwatched_graduates(conn))

    async def help_now(self, conn: asyncpg.Connection, now: dt.datetime) -> Outcome:
        escalated, skipped, more = await escalate_unanswered(conn, now)
        summary = f"{escalated} unanswered calls for help escalated" if escalated else ""
        return Outcome(summary, more, skipped, complete=not more)

    async def purge(self, conn: asyncpg.Connection, now: dt.datetime) -> Outcome:
        purged = await privacy_db.purge_deleted_participants(conn, now)
        return Outcome(f"{purged} deleted graduates' kept records forgotten" if purged else "")

    async def run(self, stop: asyncio.Event) -> None:
        """Run every job on its schedule until `stop` is set; the batch in hand is finished
        first, so a SIGTERM loses nothing."""
        log.info("worker started (sender: %s)", self.sender.name)
        await self._refresh_known_zones()
        next_run = {job.name: 0.0 for job in self.jobs}
        next_outbox = 0.0 if self.metrics else float("inf")  # at start, then every OUTBOX_REFRESH_S
        try:
            while not stop.is_set():
                await self._listen()
                if self._wake.is_set():
                    self._wake.clear()
                    next_run["dispatch"] = 0.0
                if next_outbox <= time.monotonic():
                    await self._refresh_outbox()
                    next_outbox = time.monotonic() + OUTBOX_REFRESH_S
                for job in self.jobs:
                    if stop.is_set() or next_run[job.name] > time.monotonic():
                        continue
                    again = await self._run_job(job)
                    next_run[job.name] = 0.0 if again else time.monotonic() + job.interval_s
                pause = max(0.0, min(*next_run.values(), next_outbox) - time.monotonic())
                if pause:
                    await _wait_any(stop, self._wake, pause)
        finally:
            if self._listener is not None:
                self._listener.terminate()
            await self.sender.close()
            log.info("worker stopped")

    async def _listen(self) -> None:
        """Keep a connection LISTENing for new notifications; after a database restart, open
        it again (polling covers the gap, and a wake-up afterwards catches up)."""
        if self._listener is not None and not self._listener.is_closed():
            return
        self._listener = None
        try:
            listener = await asyncpg.connect(self.settings.database_url, timeout=10)
            await listener.add_listener(WAKE_CHANNEL, self._on_notify)
            listener.add_termination_listener(self._on_notify)  # lost: wake up to listen again
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("cannot listen for new notifications (%s); polling meanwhile", type(exc).__name__)
            return
        self._listener = listener
        self._wake.set()  # whatever arrived while nobody listened

    async def run_once(self) -> None:
        """Each job once (dispatch until nothing due is left), for cron or a check by hand."""
        await self._refresh_known_zones()
        try:
            if self.metrics:
                await self._refresh_outbox()
            for job in self.jobs:
                while await self._run_job(job):
                    pass
            if self.metrics:
                await self._refresh_outbox()
        finally:
            await self.sender.close()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _run_job(self, job: Job) -> bool:
        now = self.clock()
        started = time.monotonic()
        try:
            async with self.pool.acquire() as pooled:
                conn = as_connection(pooled)
                outcome = await job.run(conn, now)
                await record_run(conn, job.name, now, time.monotonic() - started, outcome)
        except Exception as exc:  # one failing job must not stop the others; its text may hold personal data
            log.error("job %s failed: %s; %s; %s", job.name, type(exc).__name__, advice(exc), PLAIN_RETRY)
            worker_metrics.job_ran(job.name, time.monotonic() - started, failed=True)
            await self._record_failure(job.name, now, time.monotonic() - started, exc)
            return False
        worker_metrics.job_ran(job.name, time.monotonic() - started, failed=False, skipped=outcome.skipped)
        if outcome.summary:
            log.info("%s: %s (%.2fs)", job.name, outcome.summary, time.monotonic() - started)
        return outcome.again

    async def _record_failure(self, name: str, now: dt.datetime, duration_s: float, exc: Exception) -> None:
        try:
            async with self.pool.acquire() as pooled:
                conn = as_connection(pooled)
                await job_health.record_failure(conn, name, now, duration_s, type(exc).__name__)
                if isinstance(exc, asyncpg.InvalidParameterValueError):
                    await zones_db.refresh_known(conn)  # a zone the server stopped knowing
        except Exception:  # noqa: S110 - the database is away: the failure was logged above
            pass

    async def _refresh_outbox(self) -> None:
        """The outbox gauges, from one statement over the rows still to push."""
        try:
            async with self.pool.acquire() as conn:
                depth = await notifications_db.outbox_depth(as_connection(conn), self.clock())
        except Exception as exc:  # the database is away: the jobs say so; the gauges keep their last values
            log.warning("cannot read the outbox for the metrics (%s)", type(exc).__name__)
            return
        worker_metrics.outbox(depth)

    async def _refresh_known_zones(self) -> None:
        """The zones the server knows may have changed since the last start (an upgrade)."""
        try:
            async with self.pool.acquire() as conn:
                changed = await zones_db.refresh_known(as_connection(conn))
        except Exception as exc:  # the jobs will say what is wrong, each in its turn
            log.warning("cannot refresh the list of known time zones (%s)", type(exc).__name__)
            return
        if changed:
            log.info("known time zones refreshed: %d names came or went", changed)


async def unwatched_graduates(conn: asyncpg.Connection) -> list[Skip]:
    """Active graduates the statements over everyone leave out: their zone is unknown to the
    database, so no slot, miss or reminder can be worked out for them."""
    return [
        Skip(row["id"], None, f"time zone {row['timezone']!r} is not known to the database")
        for row in await zones_db.unknown_zone_graduates(conn)
    ]


async def record_run(conn: asyncpg.Connection, job: str, now: dt.datetime, duration_s: float, outcome: Outcome) -> None:
    """A successful run: its time, and whom it skipped (newly skipped ones logged once)."""
    await job_health.record_success(conn, job, now, duration_s)
    if outcome.skipped is None:
        return
    new = await job_health.record_skips(conn, job, outcome.skipped, now, complete=outcome.complete)
    if new:
        log.warning(
            "%s skipped %d more (%s): the others are done as usual; staff see whom in the dashboard "
            "(GET /v1/staff/system-status); fix their time zone",
            job,
            len(new),
            "graduates" if all(s.person_id for s in new) else "graduates or groups",
        )


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
