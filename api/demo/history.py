"""The demo's past: about 120 days of check-ins, stored as `submit()` would have (risk
reasons, alerts, crisis help in the inbox) a batch at a time, the missed-check-in sweep run
as the worker would have (misses, alerts, nudges), counselors working the alerts (api/demo/
staff.py), group announcements, and the outbox dispatched, all at their past instants
(api/demo/timeline.py). The engagement state the watchlist and metrics read is kept by the
product's own triggers and sweep along the way, so the live worker's next sweep finds only
what time has brought since."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from api.checkins import risk
from api.demo import checkins as drawn
from api.demo.people import FADING, PROGRAM_ZONE, Enrolled, at_local
from api.demo.staff import Office
from api.demo.timeline import Step, Timeline
from db import alerts as alerts_db
from db import demo as demo_db
from db import notifications as notifications_db
from notifications import templates
from notifications.dispatch import Policy, dispatch_once
from notifications.outbox import notify
from notifications.reminders import sweep_and_nudge
from notifications.sender import LogSender

HISTORY_DAYS = 120
# Once a day, when it is past midnight in every zone of the demo (Honolulu's is 10:00 UTC):
# each slot that ended is judged the morning after, as the worker's sweep would.
SWEEP_AT = dt.time(11)
# Outside quiet hours (22:00-08:00) in every zone of the demo: nothing is deferred.
DISPATCH_AT = dt.time(19)
# Graduates who keep reading the app read their inbox; those fading away do not.
READ_UNTIL_DAYS_AGO = 7


@dataclass
class Tally:
    checkins: int = 0
    sweeps: int = 0
    sweep: dict[str, int] = field(default_factory=dict)


def _utc(day: dt.date, time: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=dt.UTC)


def sweep_days(today: dt.date) -> list[dt.date]:
    """The days the sweep runs (the worker's runs every few minutes; each run of the sweep
    costs tens of milliseconds, so the demo's past has fewer): daily over the last ten days,
    every third day over the month before, every sixth before that. A miss is recorded up to
    a week after its slot, so none is lost; older streaks are only judged a few days late."""
    days = []
    for days_ago in range(HISTORY_DAYS, -1, -1):
        every = 1 if days_ago <= 10 else 3 if days_ago <= 40 else 6
        if days_ago % every == 0:
            days.append(today - dt.timedelta(days=days_ago))
    return days


async def replay(
    conn: asyncpg.Connection,
    seed: int,
    graduates: list[Enrolled],
    timeline: Timeline,
    office: Office,
    today: dt.date,
    now: dt.datetime,
    progress: Callable[[str], None],
) -> Tally:
    tally = Tally()
    first_sweep = today - dt.timedelta(days=HISTORY_DAYS)
    active = [g for g in graduates if g.activated_at is not None]
    checkins = Checkins(conn, office, timeline, tally)
    for g in active:
        rng = random.Random(f"{seed}:{g.spec.alias}")  # each graduate's own: the same whatever the others do
        assert g.activated_at is not None  # as `active` was chosen
        _welcome(conn, timeline, g, g.activated_at + dt.timedelta(hours=1, minutes=rng.randint(0, 120)), now)
        checkins.add(g, drawn.draw(g, first_sweep - dt.timedelta(days=drawn.LEAD_DAYS), now, rng))
    for day in sweep_days(today):
        if (at := _utc(day, SWEEP_AT)) <= now:
            timeline.at(at, _sweep(conn, at, tally))
    for offset in range(HISTORY_DAYS + 1):
        day = first_sweep + dt.timedelta(days=offset)
        if day.isoweekday() <= 5 and (at := at_local(day, office.at, PROGRAM_ZONE)) <= now:  # office days
            timeline.at(at, office.rounds(at))
    readers = [g for g in active if g.spec.pattern != FADING]
    timeline.at(now - dt.timedelta(days=READ_UNTIL_DAYS_AGO), _read_inboxes(conn, readers))
    dispatch_at = _utc(now.date(), DISPATCH_AT)
    if dispatch_at > now:
        dispatch_at -= dt.timedelta(days=1)
    timeline.at(dispatch_at, _dispatch(conn, dispatch_at))
    for weeks_ago in range(HISTORY_DAYS // 7 // 4 * 4, -1, -4):
        await timeline.run(now - dt.timedelta(weeks=weeks_ago), checkins.store)
        progress(f"  history: {tally.checkins} check-ins, {tally.sweeps} sweeps, to {weeks_ago} weeks ago")
    # The worker's sweep as of now, so what it finds next is what the next minutes bring.
    await _sweep(conn, now, tally)()
    return tally


class Checkins:
    """The check-ins to come, stored a batch at a time (everything received since the last
    step), each with what `submit()` does with one: its risk reasons (api/checkins/risk.py,
    against the graduate's earlier check-ins), an alert for each (db/alerts.py), its mark on
    the alerts already open, and crisis help in the inbox. Not `submit()` itself: one call per
    check-in (4 ms) would make loading take seconds more; so a step added to `submit()` must be
    added here too (tests/operations/test_demo.py holds every stored check-in's reasons and alerts to the
    rules, not to the steps)."""

    def __init__(self, conn: asyncpg.Connection, office: Office, timeline: Timeline, tally: Tally) -> None:
        self.conn, self.office, self.timeline, self.tally = conn, office, timeline, tally
        self._queue: list[tuple[dt.datetime, int, Enrolled, drawn.Planned, list[risk.Reason]]] = []
        self._next = 0

    def add(self, g: Enrolled, planned: list[drawn.Planned]) -> None:
        earlier: list[risk.Answers] = []  # newest first, as checkins.insert reads them
        for p in planned:
            r = p.request
            answers = risk.Answers(r.mood, r.craving, r.used, r.need_support, _pair(r.phq2), _pair(r.gad2))
            reasons = risk.assess(answers, earlier[: risk.CRAVING_HISTORY])
            earlier.insert(0, answers)
            self._queue.append((p.received_at, len(self._queue), g, p, reasons))
        self._queue.sort(key=lambda item: item[:2])

    async def store(self, until: dt.datetime) -> None:
        end = self._next
        while end < len(self._queue) and self._queue[end][0] <= until:
            end += 1
        batch, self._next = self._queue[self._next : end], end
        if not batch:
            return
        rows, stored_reasons = [], []
        for received_at, _, g, p, reasons in batch:
            r = p.request
            stored_reasons.append(
                [
                    {"code": x.code, "kind": x.kind, "severity": risk.SEVERITY_NAMES[x.severity], "message": x.message}
                    for x in reasons
                ]
            )
            rows.append(
                demo_db.NewCheckin(
                    g.id,
                    r.client_id,
                    r.client_time,
                    received_at,
                    r.client_time.date(),
                    r.mood,
                    r.craving,
                    r.used,
                    r.sleep,
                    r.need_support,
                    r.note,
                    r.phq2,
                    r.gad2,
                    stored_reasons[-1],
                )
            )
        ids = await demo_db.insert_checkins(self.conn, rows)
        alerted = await demo_db.with_open_alerts(self.conn, list({g.id for _, _, g, _, _ in batch}))
        for (received_at, _, g, p, reasons), checkin_id, entries in zip(batch, ids, stored_reasons, strict=True):
            for reason, entry in zip(reasons, entries, strict=True):
                entry = entry | {"checkin_id": str(checkin_id)}
                await alerts_db.raise_alert(
                    self.conn, g.id, reason.kind, reason.severity, entry, checkin_id, received_at
                )
            if reasons or g.id in alerted:
                await alerts_db.note_checkin(self.conn, g.id, checkin_id, received_at)
                alerted.add(g.id)
            if p.crisis:
                await notify(
                    self.conn,
                    [g.id],
                    templates.crisis_support(risk.crisis_text()),
                    dedup_key=f"crisis:{checkin_id}",
                    urgent=True,
                    at=received_at,
                )
                # The counselor on call phones within the hour.
                call_at = received_at + dt.timedelta(minutes=40)
                self.timeline.at(call_at, self.office.crisis_call(g, call_at))
        self.tally.checkins += len(batch)


def _pair(items: list[int] | None) -> tuple[int, int] | None:
    return (items[0], items[1]) if items else None


def _welcome(conn: asyncpg.Connection, timeline: Timeline, g: Enrolled, at: dt.datetime, now: dt.datetime) -> None:
    """Their counselor's first message, in the inbox from the day they signed in."""
    if at > now:
        return
    content = templates.staff_message(
        title="Welcome to aftercare",
        body=f"Hi {g.spec.alias}, welcome. Check in when the app asks; I read every one. "
        "Your groups are under Groups. Message me any time.",
    )

    async def step() -> None:
        await notify(conn, [g.id], content, at=at)

    timeline.at(at, step)


def _sweep(conn: asyncpg.Connection, at: dt.datetime, tally: Tally) -> Step:
    async def step() -> None:
        counts = await sweep_and_nudge(conn, at)
        tally.sweeps += 1
        for name, n in counts.items():
            tally.sweep[name] = tally.sweep.get(name, 0) + n

    return step


def _read_inboxes(conn: asyncpg.Connection, readers: list[Enrolled]) -> Step:
    async def step() -> None:
        for g in readers:
            await notifications_db.mark_all_read(conn, g.id)

    return step


def _dispatch(conn: asyncpg.Connection, at: dt.datetime) -> Step:
    """The worker's dispatcher at `at`: the demo's graduates have no devices, so what was
    written by then ends as `no_device` and the live worker has only what came since."""

    async def step() -> None:
        policy, sender = Policy(), LogSender()
        while (await dispatch_once(conn, sender, at, policy)).claimed >= policy.batch_size:
            pass

    return step
