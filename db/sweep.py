"""The missed-check-in sweep: set-based statements over every graduate at once."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import asyncpg

from db.slots_sql import ended_slots

SWEEP_LOCK_KEY = 7_261_706_163_617_266

# The sweep's slots, worked out once for both statements that need them (and for everyone
# at once): every slot that ended within the lookback or the last 14 days (the adherence
# window), for each active graduate since they activated. `done` (is there a check-in
# dated inside it) is looked up only where it is read: within the lookback (to record
# misses) and for graduates whose schedule has 4 or more slots in 14 days (the only ones
# the adherence rule can flag; a weekly graduate owes 2). Looked up in person order, so
# consecutive lookups read neighbouring index pages.
SWEEP_SLOTS_TABLE = """
create temp table sweep_slots (
    id uuid not null, starts_on date not null, ends_on date not null,
    recent boolean not null,  -- ended within the lookback
    in_14d boolean not null,  -- ended within the last 14 days
    done boolean              -- null where nobody reads it
) on commit drop
"""

SWEEP_SLOTS = (
    "with "
    + ended_slots("greatest($2::int, 14)")
    + """
, ordered as (
    select s.*, s.ends_on >= s.today - $2::int as recent, s.ends_on >= s.today - 14 as in_14d
    from graduate_slots s
    order by s.id
)
insert into sweep_slots (id, starts_on, ends_on, recent, in_14d, done)
select id, starts_on, ends_on, recent, in_14d,
       case when recent or (in_14d and due_14d >= 4) then
           exists (select from checkins c where c.person_id = ordered.id
                   and c.local_date between ordered.starts_on and ordered.ends_on)
       end
from ordered
"""
)

# Every slot that ended within the lookback with no check-in dated inside it: recorded once.
RECORD_MISSED = """
insert into missed_checkins (person_id, slot_starts_on, slot_ends_on, recorded_at)
select id, starts_on, ends_on, $1 from sweep_slots where recent and not done
on conflict do nothing
"""

# Misses in a row (since the last check-in) that include one nobody was alerted about yet:
# 2 or more open or update a medium alert, 4 or more make it high. Then those misses count
# as alerted, so a late check-in no longer erases them, and a second run finds nothing new.
ALERT_CONSECUTIVE = """
with candidates as materialized (
    select distinct person_id from missed_checkins where not alerted and made_up_by is null
), recent as (
    select m.person_id, m.slot_starts_on, m.alerted
    from candidates k
    join missed_checkins m on m.person_id = k.person_id
    where m.made_up_by is null and m.slot_starts_on > $1::date - 120
), last_checkin as materialized (  -- once per candidate, not once per missed row
    select k.person_id, l.local_date as last_date
    from candidates k
    cross join lateral (select c.local_date from checkins c where c.person_id = k.person_id
                        order by c.local_date desc limit 1) l
), streaks as (
    select r.person_id, l.last_date, count(*)::int as misses, array_agg(r.slot_starts_on) as slots
    from recent r left join last_checkin l on l.person_id = r.person_id
    where r.slot_starts_on > coalesce(l.last_date, '-infinity'::date)
    group by r.person_id, l.last_date
    having count(*) >= 2 and bool_or(not r.alerted)
), raised as (
    insert into alerts (person_id, kind, severity, reasons, details, opened_at, updated_at)
    select person_id, 'missed_checkins', case when misses >= 4 then 3 else 2 end,
           jsonb_build_array(jsonb_build_object(
               'code', 'missed_in_a_row', 'kind', 'missed_checkins',
               'severity', case when misses >= 4 then 'high' else 'medium' end,
               'message', misses || ' check-ins missed in a row.', 'misses', misses)),
           jsonb_build_object('consecutive_misses', misses), $2, $2
    from streaks
    on conflict (person_id, kind) where status <> 'resolved' do update
        set severity = greatest(alerts.severity, excluded.severity),
            reasons = alerts.reasons || excluded.reasons,
            details = excluded.details,
            updated_at = excluded.updated_at,
            status = case when excluded.severity > alerts.severity then 'open' else alerts.status end,
            acknowledged_at = case when excluded.severity > alerts.severity then null else alerts.acknowledged_at end,
            acknowledged_by = case when excluded.severity > alerts.severity then null else alerts.acknowledged_by end
    returning id, (xmax = 0) as opened, reasons -> -1 as reason
), logged as (
    insert into alert_events (alert_id, at, kind, details)
    select id, $2, case when opened then 'opened' else 'reason' end, reason from raised
), nudged as (
    -- A gentle note to the graduate when a streak reaches 2, and again at 4, written with
    -- the alert. The dedup key names the streak by its last check-in (stable however long
    -- it runs) and the step. Text from the caller ($3-$6).
    insert into notifications (person_id, kind, dedup_key, title, body, push_title, push_body, data, not_before)
    select person_id, 'missed_checkin',
           'missed:' || coalesce(last_date::text, 'never') || ':' || case when misses >= 4 then 'high' else 'medium' end,
           $3, $4, $5, $6, '{"kind": "missed_checkin"}'::jsonb, $2
    from streaks
    where $3::text is not null
    on conflict (person_id, dedup_key) do nothing
)
update missed_checkins m set alerted = true
from streaks s
where m.person_id = s.person_id and m.slot_starts_on = any(s.slots) and not m.alerted
"""

# Fewer than half of the last 14 days' slots checked in (with at least 4 due): a medium
# alert, unless one is open, or one was resolved in the last week.
ALERT_ADHERENCE = """
with adherence as (
    select id, count(*)::int as due, count(*) filter (where done)::int as done
    from sweep_slots where in_14d group by id
    having count(*) >= 4 and count(*) filter (where done) * 2 < count(*)
), raised as (
    insert into alerts (person_id, kind, severity, reasons, details, opened_at, updated_at)
    select a.id, 'low_adherence', 2,
           jsonb_build_array(jsonb_build_object(
               'code', 'adherence_under_half', 'kind', 'low_adherence', 'severity', 'medium',
               'message', a.done || ' of ' || a.due || ' check-ins in the last 14 days.')),
           jsonb_build_object('due', a.due, 'done', a.done), $1, $1
    from adherence a
    where not exists (select from alerts x where x.person_id = a.id and x.kind = 'low_adherence'
                      and (x.status <> 'resolved' or x.resolved_at > $1::timestamptz - interval '7 days'))
    on conflict (person_id, kind) where status <> 'resolved' do nothing
    returning id, reasons -> 0 as reason
)
insert into alert_events (alert_id, at, kind, details)
select id, $1, 'opened', reason from raised
"""


class Nudge(NamedTuple):
    """The text of the note to a graduate whose misses raised an alert."""

    title: str
    body: str
    push_title: str
    push_body: str


async def sweep(
    conn: asyncpg.Connection, now: dt.datetime, lookback_days: int = 7, nudge: Nudge | None = None
) -> dict[str, int]:
    """Record missed slots and raise alerts, for everyone, in one transaction (with a nudge
    to each graduate alerted about, when its text is given). Two sweeps at once take turns
    on an advisory lock; the second finds nothing left to do."""
    async with conn.transaction():
        await conn.execute("select pg_advisory_xact_lock($1)", SWEEP_LOCK_KEY)
        # JIT compiling these statements costs more than running them (measured: bench/sweep.py).
        # The graduates and their slots (a few rows a graduate) are sorted and grouped in
        # memory: with the default 4MB they spilled to temporary files at 100,000 graduates.
        await conn.execute("set local jit = off; set local work_mem = '64MB'")
        await conn.execute("drop table if exists pg_temp.sweep_slots")  # a sweep earlier in this transaction
        await conn.execute(SWEEP_SLOTS_TABLE)
        await conn.execute(SWEEP_SLOTS, now, lookback_days)
        missed = await conn.execute(RECORD_MISSED, now)
        consecutive = await conn.execute(ALERT_CONSECUTIVE, now.date(), now, *(nudge or (None,) * 4))
        adherence = await conn.execute(ALERT_ADHERENCE, now)
    return {
        "missed_recorded": int(missed.split()[-1]),
        "misses_alerted": int(consecutive.split()[-1]),
        "adherence_alerts": int(adherence.split()[-1]),
    }
