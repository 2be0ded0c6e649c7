"""`aftercare worker`: the schedule of background jobs (a composition root).

| job | every | what |
|---|---|---|
| dispatch | new notification (LISTEN/NOTIFY), else `dispatch_interval_s` (5 s) | push due notifications; again at once while batches come back full |
| reminders | `reminder_interval_s` (60 s) | check-in reminders (slot's last day, 18:00 local) and session reminders (60 min before) |
| sweep | `sweep_interval_s` (600 s) | record missed check-ins, raise alerts, nudge |

Any number of workers may run: the dispatcher claims with SKIP LOCKED and a lease, the
reminders carry dedup keys, and the sweep takes an advisory lock. A job that fails is logged
and tried again at its next turn; the others go on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from api.groups.reminders import session_reminders
from api.settings import Settings
from notifications import reminders
from notifications.dispatch import Policy, dispatch_once
from notifications.sender import FirebaseSender, LogSender, Sender

log = logging.getLogger("aftercare.worker")

WAKE_CHANNEL = "aftercare_outbox"


def make_sender(settings: Settings) -> Sender:
    if settings.fcm_credentials_file:
        return FirebaseSender(settings.fcm_credentials_file, settings.firebase_project_id)
    log.warning("no AFTERCARE_FCM_CREDENTIALS: pushes are logged, not sent (fine for development)")
    return LogSender()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Job:
    name: str
    interval_s: float
    # Runs once; returns a summary worth logging ("" when nothing happened) and whether to
    # run again at once (a full batch means more is waiting).
    run: Callable[[asyncpg.Connection, dt.datetime], Awaitable[tuple[str, bool]]]


class Worker:
    def __init__(
        self, settings: Settings, pool: asyncpg.Pool, sender: Sender, clock: Callable[[], dt.datetime] = utcnow
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.sender = sender
        self.clock = clock
        self.policy = Policy(batch_size=settings.push_batch_size, max_attempts=settings.push_max_attempts)
        # In this order: what the first two write, dispatch sends in the same round.
        self.jobs = [
            Job("reminders", settings.reminder_interval_s, self.reminders),
            Job("sweep", settings.sweep_interval_s, self.sweep),
            Job("dispatch", settings.dispatch_interval_s, self.dispatch),
        ]
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None

    async def dispatch(self, conn: asyncpg.Connection, now: dt.datetime) -> tuple[str, bool]:
        report = await dispatch_once(conn, self.sender, now, self.policy)
        return (report.line() if report.claimed else ""), report.claimed >= self.policy.batch_size

    async def reminders(self, conn: asyncpg.Connection, now: dt.datetime) -> tuple[str, bool]:
        checkins = await reminders.checkin_reminders(conn, now, self.settings.checkin_reminder_at)
        lead = dt.timedelta(minutes=self.settings.session_reminder_minutes)
        sessions = await session_reminders(conn, now, lead, self.settings.session_reminder_audience)  # type: ignore[arg-type]
        if checkins or sessions:  # dispatch hears of them through NOTIFY (and runs next this round)
            return f"{checkins} check-in reminders, {sessions} session reminders written", False
        return "", False

    async def sweep(self, conn: asyncpg.Connection, now: dt.datetime) -> tuple[str, bool]:
        counts = await reminders.sweep_and_nudge(conn, now)
        if any(counts.values()):
            return ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items()), False
        return "", False

    async def run(self, stop: asyncio.Event) -> None:
        """Run every job on its schedule until `stop` is set; the batch in hand is finished
        first, so a SIGTERM loses nothing."""
        log.info("worker started (sender: %s)", self.sender.name)
        next_run = {job.name: 0.0 for job in self.jobs}
        try:
            while not stop.is_set():
                await self._listen()
                if self._wake.is_set():
                    self._wake.clear()
                    next_run["dispatch"] = 0.0
                for job in self.jobs:
                    if stop.is_set() or next_run[job.name] > time.monotonic():
                        continue
                    again = await self._run_job(job)
                    next_run[job.name] = 0.0 if again else time.monotonic() + job.interval_s
                pause = max(0.0, min(next_run.values()) - time.monotonic())
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
        try:
            for job in self.jobs:
                while await self._run_job(job):
                    pass
        finally:
            await self.sender.close()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _run_job(self, job: Job) -> bool:
        started = time.monotonic()
        try:
            async with self.pool.acquire() as conn:
                summary, again = await job.run(conn, self.clock())
        except Exception as exc:  # one failing job must not stop the others; its text may hold personal data
            log.error("job %s failed: %s; it runs again at its next turn", job.name, type(exc).__name__)
            return False
        if summary:
            log.info("%s: %s (%.2fs)", job.name, summary, time.monotonic() - started)
        return again


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
