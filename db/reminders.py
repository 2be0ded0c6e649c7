"""Check-in reminders for everyone at once: one statement, whatever the number of graduates."""

from __future__ import annotations

import datetime as dt

import asyncpg

from db.slots_sql import graduates

# Graduates past the reminder time of day where they are, whose current slot ends today and
# has no check-in yet: one reminder per slot (the dedup key names it), however often this
# runs. It expires at the slot's end: deferred past that by quiet hours, it is not pushed.
CHECKIN_REMINDERS = (
    "with "
    + graduates("and ($1::timestamptz at time zone z.name)::time >= $2::time")
    + """
, due as (
    select g.id, g.timezone, s.starts_on, s.ends_on
    from graduates g
    cross join lateral checkin_slot(g.today, g.iop, g.o_cadence, g.o_from, g.o_until) s
    where s.ends_on = g.today and s.starts_on >= g.activated_on
      and not exists (select from checkins c where c.person_id = g.id
                      and c.local_date between s.starts_on and s.ends_on)
)
insert into notifications (person_id, kind, dedup_key, title, body, push_title, push_body, data, not_before, expires_at)
select id, 'checkin_reminder', 'checkin:' || starts_on, $3, $4, $5, $6,
       jsonb_build_object('kind', 'checkin_reminder', 'slot_starts_on', starts_on::text), $1,
       (ends_on + 1)::timestamp at time zone timezone
from due
on conflict (person_id, dedup_key) do nothing
"""
)


async def create_checkin_reminders(
    conn: asyncpg.Connection, now: dt.datetime, at: dt.time, text: tuple[str, str, str, str]
) -> int:
    """Write the reminders due at `now`; `text` is (title, body, push title, push body).
    Returns how many were new."""
    status = await conn.execute(CHECKIN_REMINDERS, now, at, *text)
    return int(status.split()[-1])
