"""The missed-check-in sweep: set-based statements over the graduates whose slot ended."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import asyncpg

from db import engagement

# Taken by the sweep and by each batch of a rebuild: they take turns.
SWEEP_LOCK_KEY = engagement.SWEEP_LOCK_KEY
# Graduates worked out per statement: each statement stays well inside the statement time
# limit even when everyone is due at once (after the migration, or a long outage).
VISIT_BATCH = 50_000

# Every slot of a graduate just visited that ended within the lookback with no check-in
# dated inside it: recorded once. `today` is the graduate's date at this sweep (their state
# was just worked out).
RECORD_MISSED = """
insert into missed_checkins (person_id, slot_starts_on, slot_ends_on, recorded_at)
select s.person_id, s.starts_on, s.ends_on, $1
from engagement e join engagement_slots s on s.person_id = e.person_id
where e.person_id = any($2::uuid[]) and not s.done and s.ends_on < e.today and s.ends_on >= e.today - $3::int
order by 1, 2
on conflict do nothing
"""

# Misses in a row (since the last check-in) that include one nobody was alerted about yet:
# 2 or more open or update a medium alert, 4 or more make it high. Then those misses count
# as alerted, so a late check-in no longer erases them, and a second run finds nothing new.
# Only the graduates just visited ($7) are candidates: a streak grows only by a miss, which
# only a visit records (a check-in removed makes the graduate stale, so visited too); every
# other unalerted miss was looked at when recorded and is part of a streak under 2.
# (tests/checkins/reference_sql.py runs it over everyone with an unalerted miss.)
_ALERT_CONSECUTIVE = """
with candidates as materialized (
    select distinct person_id from missed_checkins where not alerted and made_up_by is null {among}
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
    insert into notifications (person_id, kind, dedup_key, title, body, push_title, push_body, data, not_before,
                               created_at)
    select person_id, 'missed_checkin',
           'missed:' || coalesce(last_date::text, 'never') || ':' || case when misses >= 4 then 'high' else 'medium' end,
           $3, $4, $5, $6, '{"kind": "missed_checkin"}'::jsonb, $2, $2
    from streaks
    where $3::text is not null
    on conflict (person_id, dedup_key) do nothing
)
update missed_checkins m set alerted = true
from streaks s
where m.person_id = s.person_id and m.slot_starts_on = any(s.slots) and not m.alerted
"""
ALERT_CONSECUTIVE = _ALERT_CONSECUTIVE.replace("{among}", "and person_id = any($7::uuid[])")

# Fewer than half of the last 14 days' slots checked in (with at least 4 due), among the
# graduates visited: a medium alert, unless one is open, or one was resolved in the last week.
ALERT_ADHERENCE = """
with adherence as (
    select s.person_id as id, count(*)::int as due, count(*) filter (where s.done)::int as done
    from engagement e join engagement_slots s on s.person_id = e.person_id
    where e.person_id = any($2::uuid[]) and s.ends_on < e.today and s.ends_on >= e.today - 14
    group by s.person_id
    having count(*) >= 4 and count(*) filter (where s.done) * 2 < count(*)
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
    order by a.id
    on conflict (person_id, kind) where status <> 'resolved' do nothing
    returning id, reasons -> 0 as reason
)
insert into alert_events (alert_id, at, kind, details)
select id, $1, 'opened', reason from raised
"""

# The next visit is when their state stops holding (set as it is stored), or sooner where a
# low-adherence alert resolved in the last week holds a new one back (the rule may speak
# again when that lapses); `visit_by` too, so a check-in moving the visit on keeps to it.
SOONER_VISIT = """
update engagement e set visit_at = least(e.visit_at, r.lapses), visit_by = least(e.visit_by, r.lapses)
from (select x.person_id, max(x.resolved_at) + interval '7 days' as lapses from alerts x
      where x.person_id = any($1::uuid[]) and x.kind = 'low_adherence' and x.status = 'resolved'
        and x.resolved_at > $2::timestamptz - interval '7 days'
      group by x.person_id) r
where e.person_id = r.person_id and (r.lapses < e.visit_at or r.lapses < e.visit_by)
"""

# Who the sweep looks at: those whose time came (a slot ended, the window moved, an event
# changed their plan), by index; and those with misses nobody was alerted about yet.
# At most $2 a run (a run past that many would outlast the worker's interval; the next run
# goes on where it stopped), oldest first.
DUE = "select person_id from engagement where visit_at <= $1 order by visit_at limit $2"


class Nudge(NamedTuple):
    """The text of the note to a graduate whose misses raised an alert."""

    title: str
    body: str
    push_title: str
    push_body: str


async def sweep(
    conn: asyncpg.Connection, now: dt.datetime, lookback_days: int = 7, nudge: Nudge | None = None
) -> dict[str, int]:
    """Visit the graduates whose time came: work their state out, record their missed slots
    and raise alerts (with a nudge to each graduate alerted about, when its text is given),
    in one transaction. Two sweeps at once take turns on an advisory lock; the second finds
    nothing left to do. The cost follows the slots that ended, not the number of graduates."""
    if not 0 < lookback_days <= engagement.KEPT_DAYS:
        raise ValueError(f"lookback_days must be 1-{engagement.KEPT_DAYS}: the state keeps that many days")
    async with conn.transaction():
        await conn.execute("select pg_advisory_xact_lock($1)", SWEEP_LOCK_KEY)
        # JIT compiling these statements costs more than running them (measured: bench/sweep.py).
        await conn.execute("set local jit = off; set local work_mem = '64MB'")
        due = [row["person_id"] for row in await conn.fetch(DUE, now, VISIT_BATCH * 40)]
        visited = missed = adherence = 0
        for start in range(0, len(due), VISIT_BATCH):
            batch = sorted(due[start : start + VISIT_BATCH])
            # Held first: a check-in for one of them waits, or is seen.
            await engagement.hold(conn, batch)
            visited += await engagement.refresh(conn, now, batch, visit=True)
            missed += _count(await conn.execute(RECORD_MISSED, now, batch, lookback_days))
            adherence += _count(await conn.execute(ALERT_ADHERENCE, now, batch))
            await conn.execute(SOONER_VISIT, batch, now)
        consecutive = await conn.execute(ALERT_CONSECUTIVE, now.date(), now, *(nudge or (None,) * 4), due)
        await engagement.fold_deltas(conn, now)
    return {
        "graduates_visited": visited,
        "missed_recorded": missed,
        "misses_alerted": _count(consecutive),
        "adherence_alerts": adherence,
    }


def _count(status: str) -> int:
    """Rows a statement wrote, from its status ("INSERT 0 12")."""
    return int(status.split()[-1])
