"""Engagement state: each active graduate's slots of the last month and where they stand,
kept as things happen (db/migrations/0009_engagement.sql says which event writes what).

`refresh` works chosen graduates out from their history, with the same slot SQL as before
(db/slots_sql.py), and stores the result with how long it holds (`fresh_until`: the end of
their current slot, or the day a slot leaves the 14-day window, whichever is first). The
sweep refreshes those whose time came (`visit_at`, by index); readers refresh only those an
event made stale (few); `rebuild` refreshes everyone (`aftercare jobs rebuild-engagement`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from uuid import UUID

import asyncpg

from db.slots_sql import counted, ended_slots

# Graduates a reader works out before it answers (see refresh_stale).
STALE_PER_READ = 2_000
# Days of ended slots kept per graduate: the longest window read (the metrics' 30 days).
KEPT_DAYS = 31

# Per schedule, the slots that end within the next three weeks (today included: every slot
# starting in the next two ends in them); per graduate, among those that count for them,
# the one running today (their current slot, if any) and when the next one starts.
_CURRENT = (
    """
, upcoming as materialized (
    select unnest(k.ids) as id, unnest(k.activated_ons) as activated_on, unnest(k.o_set_ons) as o_set_on,
           k.today, k.o_from, up.starts, up.ends
    from schedules k
    cross join lateral (
        select array_agg(s.starts_on order by s.starts_on) as starts, array_agg(s.ends_on order by s.starts_on) as ends
        from generate_series(0, 20) as o(days)
        cross join lateral checkin_slot(k.today + o.days, k.iop, k.o_cadence, k.o_from, k.o_until) s
        where s.ends_on = k.today + o.days
    ) up
    where k.today is not null
), counted_upcoming as (
    select u.id, s.starts_on, s.ends_on, s.starts_on <= u.today as running
    from upcoming u
    cross join lateral unnest(u.starts, u.ends) as s(starts_on, ends_on)
    where """
    + counted("s.starts_on", "s.ends_on", "u")
    + """
), current_slot as materialized (
    select u.id, r.starts_on, r.ends_on, min(u.starts_on) filter (where not u.running) as next_starts_on,
           case when r.starts_on is not null then
               exists (select from checkins x where x.person_id = u.id
                       and x.local_date between r.starts_on and r.ends_on) end as done
    from counted_upcoming u
    left join counted_upcoming r on r.id = u.id and r.running
    group by u.id, r.starts_on, r.ends_on
)"""
)

# Into two temporary tables (one statement, one snapshot): the slots to keep, and a row per
# graduate who counts, with what the watchlist sorts by and how long it all holds.
WORK_OUT = (
    "with "
    + ended_slots(str(KEPT_DAYS), "and p.id = any($2::uuid[])")
    + _CURRENT
    + """
, kept as (
    insert into fresh_slots (person_id, starts_on, ends_on, done, zone)
    select s.id, s.starts_on, s.ends_on, s.done, g.timezone from slots s join graduates g on g.id = s.id
    union all
    select c.id, c.starts_on, c.ends_on, c.done, g.timezone from current_slot c join graduates g on g.id = c.id
    where c.starts_on is not null
    returning *
), last_checkin as (
    select g.id, l.client_time, l.local_date
    from graduates g
    cross join lateral (select c.client_time, c.local_date from checkins c where c.person_id = g.id
                        order by c.local_date desc, c.client_time desc limit 1) l
), window_14d as (  -- the ended slots the watchlist and the adherence rule look at
    select k.person_id, k.starts_on, k.ends_on, k.done
    from kept k join graduates g on g.id = k.person_id
    where k.ends_on < g.today and k.ends_on >= g.today - 14
), standing as (
    select w.person_id,
           count(*) filter (where w.starts_on > coalesce(l.local_date, '-infinity'::date))::int as misses,
           (array_agg(not w.done order by w.ends_on desc))[1] as overdue,
           min(w.ends_on) as oldest_ends_on
    from window_14d w left join last_checkin l on l.id = w.person_id
    group by w.person_id
)
insert into fresh_people (person_id, counselor_id, zone, today, slot_starts_on, slot_ends_on, slot_done,
                          last_checkin_at, last_checkin_on, consecutive_misses, overdue, fresh_until)
select g.id, g.counselor_id, g.timezone, g.today, c.starts_on, c.ends_on, c.done, l.client_time, l.local_date,
       coalesce(s.misses, 0), coalesce(s.overdue, false),
       case when g.today is null then $1::timestamptz + interval '1 day'
            -- Local midnights: after the current slot's last day; when the next one starts;
            -- the day the oldest slot in the 14-day window leaves it; in two weeks at the
            -- latest (no slot soon).
            else least(((c.ends_on + 1)::timestamp at time zone g.timezone),
                       (c.next_starts_on::timestamp at time zone g.timezone),
                       ((s.oldest_ends_on + 15)::timestamp at time zone g.timezone),
                       ((g.today + 14)::timestamp at time zone g.timezone))
       end
from graduates g
left join current_slot c on c.id = g.id
left join last_checkin l on l.id = g.id
left join standing s on s.person_id = g.id
"""
)

_TEMP_TABLES = """
drop table if exists pg_temp.fresh_slots, pg_temp.fresh_people;
create temp table fresh_slots (
    person_id uuid not null, starts_on date not null, ends_on date not null, done boolean not null, zone text not null
) on commit drop;
create temp table fresh_people (
    person_id uuid primary key, counselor_id uuid, zone text, today date, slot_starts_on date, slot_ends_on date,
    slot_done boolean, last_checkin_at timestamptz, last_checkin_on date, consecutive_misses integer not null,
    overdue boolean not null, fresh_until timestamptz not null
) on commit drop;
"""

# Who no longer counts (deactivated, never signed in): their state goes.
DROP_GONE = """
delete from engagement e where e.person_id = any($1::uuid[])
  and not exists (select from fresh_people f where f.person_id = e.person_id)
"""

# Only what changed is written, so the rollups' deltas are the real changes.
DROP_CHANGED_SLOTS = """
delete from engagement_slots s where s.person_id = any($1::uuid[])
  and not exists (select from fresh_slots f where f.person_id = s.person_id and f.starts_on = s.starts_on
                  and f.ends_on = s.ends_on and f.done = s.done and f.zone = s.zone)
"""

STORE = """
with stored as (
    insert into engagement as e (person_id, counselor_id, zone, today, slot_starts_on, slot_ends_on, slot_done,
                                 last_checkin_at, last_checkin_on, consecutive_misses, overdue, open_alerts,
                                 top_severity, fresh_until, visit_at)
    select f.person_id, f.counselor_id, f.zone, f.today, f.slot_starts_on, f.slot_ends_on, f.slot_done,
           f.last_checkin_at, f.last_checkin_on, f.consecutive_misses, f.overdue, coalesce(a.n, 0), a.top,
           f.fresh_until, '-infinity'
    from fresh_people f
    left join lateral (select count(*)::int as n, max(severity) as top from alerts a
                       where a.person_id = f.person_id and a.status <> 'resolved') a on true
    on conflict (person_id) do update
        set counselor_id = excluded.counselor_id, zone = excluded.zone, today = excluded.today,
            slot_starts_on = excluded.slot_starts_on, slot_ends_on = excluded.slot_ends_on,
            slot_done = excluded.slot_done, last_checkin_at = excluded.last_checkin_at,
            last_checkin_on = excluded.last_checkin_on, consecutive_misses = excluded.consecutive_misses,
            overdue = excluded.overdue, open_alerts = excluded.open_alerts, top_severity = excluded.top_severity,
            fresh_until = excluded.fresh_until
    returning 1
)
select count(*) from stored
"""

STORE_SLOTS = """
insert into engagement_slots (person_id, starts_on, ends_on, done, zone)
select person_id, starts_on, ends_on, done, zone from fresh_slots order by person_id, starts_on
on conflict do nothing
"""


async def hold(conn: asyncpg.Connection, person_ids: list[UUID]) -> list[UUID]:
    """Lock these graduates' state rows (in one order, so two holders never deadlock): the
    check-in, the sweep, staff acting on an alert and deletion take it first, so each sees
    what the one before it wrote. Returns those that have a row."""
    rows = await conn.fetch(
        "select person_id from engagement where person_id = any($1::uuid[]) order by person_id for update",
        person_ids,
    )
    return [row["person_id"] for row in rows]


async def refresh(conn: asyncpg.Connection, now: dt.datetime, person_ids: list[UUID]) -> int:
    """Work these graduates' state out from their history at `now`, in the caller's
    transaction (which should hold them); returns how many still count."""
    if not person_ids:
        return 0
    await conn.execute(_TEMP_TABLES)
    await conn.execute(WORK_OUT, now, person_ids)
    await conn.execute(DROP_GONE, person_ids)
    await conn.execute(DROP_CHANGED_SLOTS, person_ids)
    await conn.execute(STORE_SLOTS)
    return await conn.fetchval(STORE)


async def refresh_stale(conn: asyncpg.Connection, now: dt.datetime) -> int:
    """Work out those an event made stale (a time zone, plan or activation changed), for a
    reader at `now`; rows another transaction holds are left to it. At most STALE_PER_READ:
    after an upgrade or a bulk import everyone is stale, and that catch-up is the sweep's
    (the reader then shows what the rest had before, until the sweep's next run)."""
    async with conn.transaction():
        ids = [
            row["person_id"]
            for row in await conn.fetch(
                "select person_id from engagement where fresh_until = '-infinity'"
                " order by person_id limit $1 for update skip locked",
                STALE_PER_READ,
            )
        ]
        return await refresh(conn, now, ids)


async def rebuild(
    conn: asyncpg.Connection, now: dt.datetime, batch: int = 20_000, progress: Callable[[int, int], None] | None = None
) -> int:
    """Everyone's state worked out again from history, in batches (each its own transaction),
    and the rollups summed again from it; returns the graduates who count."""
    ids = [
        row["id"]
        for row in await conn.fetch(
            """
            select p.id from people p join participant_profiles pp on pp.person_id = p.id
            where pp.activated_at is not null and p.is_active
            union select person_id from engagement
            order by 1
            """
        )
    ]
    counted_people = 0
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        async with conn.transaction():
            await conn.execute("set local jit = off; set local work_mem = '64MB'")
            await hold(conn, chunk)
            counted_people += await refresh(conn, now, chunk)
            await conn.execute("update engagement set visit_at = fresh_until where person_id = any($1::uuid[])", chunk)
        if progress:
            progress(min(start + batch, len(ids)), len(ids))
    async with conn.transaction():
        await conn.execute("lock table engagement_totals, engagement_deltas in exclusive mode")
        await conn.execute("truncate engagement_totals, engagement_deltas")
        await conn.execute(RETOTAL)
    return counted_people


# The rollups summed from what they roll up.
RETOTAL = """
insert into engagement_totals (zone, day, due, done, checkins, graduates)
select zone, day, sum(due), sum(done), sum(checkins), sum(graduates) from (
    select zone, ends_on as day, count(*) as due, count(*) filter (where done) as done, 0 as checkins, 0 as graduates
    from engagement_slots group by zone, ends_on
    union all
    select '', local_date, 0, 0, count(*), 0 from checkins group by local_date
    union all
    select '', 'infinity', 0, 0, 0, count(*) from engagement
) t group by zone, day
"""

# The deltas folded into the totals (the sweep does it, under its lock), and days no
# window reads any more dropped.
FOLD_DELTAS = """
with moved as (delete from engagement_deltas returning *)
insert into engagement_totals as t (zone, day, due, done, checkins, graduates)
select zone, day, sum(due), sum(done), sum(checkins), sum(graduates) from moved group by zone, day order by zone, day
on conflict (zone, day) do update
    set due = t.due + excluded.due, done = t.done + excluded.done, checkins = t.checkins + excluded.checkins,
        graduates = t.graduates + excluded.graduates
"""
DROP_OLD_TOTALS = "delete from engagement_totals where day < ($1::timestamptz at time zone 'UTC')::date - 60"


async def fold_deltas(conn: asyncpg.Connection, now: dt.datetime) -> None:
    await conn.execute(FOLD_DELTAS)
    await conn.execute(DROP_OLD_TOTALS, now)
