"""Jobs that create notifications from the calendar rather than from an event: check-in
reminders, and the nudge the missed-check-in sweep sends when it raises an alert."""

from __future__ import annotations

import datetime as dt

import asyncpg

from db import reminders as reminders_db
from db import sweep as sweep_db
from notifications import templates

DEFAULT_CHECKIN_REMINDER_AT = dt.time(18, 0)


async def checkin_reminders(
    conn: asyncpg.Connection, now: dt.datetime, at: dt.time = DEFAULT_CHECKIN_REMINDER_AT
) -> int:
    """On the last day of a slot, from `at` local time, a reminder to each graduate who has
    not checked in yet (once per slot)."""
    c = templates.checkin_reminder()
    return await reminders_db.create_checkin_reminders(conn, now, at, (c.title, c.body, c.push_title, c.push_body))


async def sweep_and_nudge(conn: asyncpg.Connection, now: dt.datetime, lookback_days: int = 7) -> dict[str, int]:
    """The missed-check-in sweep, with a nudge to each graduate it raises an alert about."""
    c = templates.missed_checkin()
    return await sweep_db.sweep(conn, now, lookback_days, sweep_db.Nudge(c.title, c.body, c.push_title, c.push_body))
