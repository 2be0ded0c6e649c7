"""Engagement state: each active graduate's slots of the last month and the next three
weeks, and where they stand, kept as things happen (db/migrations/0009_engagement.sql and
0010_sweep_skips_done_slots.sql say which event writes what).

`refresh` works chosen graduates out from their history, with the same slot SQL as before
(db/slots_sql.py), and stores the result with when the sweep must look again (`fresh_until`,
copied to `visit_at` by a visit): for a graduate not overdue, the end of their first slot
not done (a check-in filling it moves this on, by trigger), or the day the window's oldest
slot leaves it where that can make the adherence rule speak; for the overdue, the end of
their current slot, the start of the next or that day; `visit_by` at the latest. The sweep refreshes those whose time came (`visit_at`,
by index); readers refresh only those an event made stale (few); `rebuild` refreshes
everyone (`aftercare jobs rebuild-engagement`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from uuid import UUID

import asyncpg

from db.slots_sql import counted, ended_slots

# The sweep's lock (db/sweep.py): a rebuild's batches take it too, so the two take turns.
SWEEP_LOCK_KEY = 7_261_706_163_617_266
# Graduates a reader works out before it answers (see refresh_stale).
STALE_PER_READ = 2_000
# Days of ended slots kept per graduate: the longest window read (the metrics' 30 days).
KEPT_DAYS = 31

# Per schedule, the slots that end within the next three weeks (today included: every slot
# starting in the next two ends in them); per graduate, those that count for them (kept as
# the slots ahead, so a check-in can mark any of them done), the one running today (their
# current slot, if any) and when the next one starts.
_CURRENT = (
    """
, upcoming as materialized (
    select unnest(k.ids) as id, unnest(k.activated_ons) as activated_on, unnest(k.o_set_ons) as o_set_on,
           k.today, k.iop, k.o_from, up.starts, up.ends
    from schedules k
    cross join lateral (
        select array_agg(s.starts_on order by s.starts_on) as starts, array_agg(s.ends_on order by s.starts_on) as ends
        from generate_series(0, 20) as o(days)
        cross join lateral checkin_slot(k.today + o.days, k.iop, k.o_cadence, k.o_from, k.o_until) s
        where s.ends_on = k.today + o.days
    ) up
    where k.today is not null
), ahead as materialized (
    select u.id, u.today, s.starts_on, s.ends_on
    from upcoming u
    cross join lateral unnest(u.starts, u.ends) as s(starts_on, ends_on)
    where s.ends_on >= u.iop  -- as for the slots that ended (db/slots_sql.py): none before the IOP ends
      and """
    + counted("s.starts_on", "s.ends_on", "u")
    + """
), current_slot as materialized (
    select c.id, c.starts_on, c.ends_on, c.next_starts_on,
           case when c.starts_on is not null then
               exists (select from checkins x where x.person_id = c.id
                       and x.local_date between c.starts_on and c.ends_on) end as done
    from (select id, min(starts_on) filter (where starts_on <= today) as starts_on,
                 min(ends_on) filter (where starts_on <= today) as ends_on,
                 min(starts_on) filter (where starts_on > today) as next_starts_on
          from ahead group by id) c
)"""
)


# Whether a state row `e` is overdue at `{now}`: as kept, unless the current slot (as of the
# last visit) is done and over. An overdue graduate who checks in for it is not visited when
# it ends (0011_overdue_done_slot_not_visited.sql): their row keeps "overdue" until the
# next visit, and readers end it with the slot.
def overdue_at(now: str) -> str:
    zone_today = f"({now}::timestamptz at time zone e.zone)::date"
    return f"(e.overdue and not coalesce(e.slot_done and e.slot_ends_on < {zone_today}, false))"


# Into two temporary tables (one statement, one snapshot): the slots to keep, and a row per
# graduate who counts, with what the watchlist sorts by and how long it all holds.
def work_out(days: int) -> str:
    """The statement, looking `days` back for slots that ended (see `refresh`)."""
    return _WORK_OUT.replace("{ended_slots}", ended_slots(str(days), "and p.id = any($2::uuid[])"))


_WORK_OUT = (
    "with {ended_slots}"
    + _CURRENT
    + """
, since as materialized (
    -- Slots that ended before the date a graduate's state was worked out at cannot have
    -- changed unless an event made it stale (then it is worked out whole): only the newer
    -- ones are looked up, so a visit costs the slots that ended since the last one.
    select g.id, case when e.fresh_until > '-infinity' and e.today is not null then e.today
                      else '-infinity'::date end as since
    from graduates g left join engagement e on e.person_id = g.id
), new_slots as (
    select s.id, s.starts_on, s.ends_on,
           exists (select from checkins c where c.person_id = s.id
                   and c.local_date between s.starts_on and s.ends_on) as done
    from (select gs.* from graduate_slots gs join since x on x.id = gs.id where gs.ends_on >= x.since
          order by gs.id) s
), last_checkin as (  -- kept by the check-in trigger; looked up where the state is stale
    select x.id, e.last_checkin_at as client_time, e.last_checkin_on as local_date
    from since x join engagement e on e.person_id = x.id
    where x.since > '-infinity' and e.last_checkin_on is not null
    union all
    select x.id, l.client_time, l.local_date
    from since x
    cross join lateral (select c.client_time, c.local_date from checkins c where c.person_id = x.id
                        order by c.local_date desc, c.client_time desc limit 1) l
    where x.since = '-infinity'
), kept as (
    insert into fresh_slots (person_id, starts_on, ends_on, done, zone)
    select s.id, s.starts_on, s.ends_on, s.done, g.timezone from new_slots s join graduates g on g.id = s.id
    union all
    select c.id, c.starts_on, c.ends_on, c.done, g.timezone from current_slot c join graduates g on g.id = c.id
    where c.starts_on is not null
    union all
    -- The slots ahead: done only if a check-in is dated in them (looked up only where the
    -- newest check-in is that late: an app a day ahead of the server's clock).
    select a.id, a.starts_on, a.ends_on,
           case when l.local_date >= a.starts_on then
               exists (select from checkins x where x.person_id = a.id
                       and x.local_date between a.starts_on and a.ends_on) else false end,
           g.timezone
    from ahead a join graduates g on g.id = a.id left join last_checkin l on l.id = a.id
    where a.starts_on > a.today
    returning *
), first_open as (  -- the end of the first slot from today on that has no check-in
    select k.person_id, min(k.ends_on) as ends_on
    from kept k join graduates g on g.id = k.person_id
    where k.ends_on >= g.today and not k.done
    group by k.person_id
), window_14d as (  -- the ended slots the watchlist and the adherence rule look at: new and kept
    select k.person_id, k.starts_on, k.ends_on, k.done
    from kept k join graduates g on g.id = k.person_id
    where k.ends_on < g.today and k.ends_on >= g.today - 14
    union all
    select o.person_id, o.starts_on, o.ends_on, o.done
    from since x join graduates g on g.id = x.id
    join engagement_slots o on o.person_id = x.id and o.ends_on < x.since and o.ends_on >= g.today - 14
), newest_first as (  -- with, per slot, how many slots and misses from it to the newest
    select w.*, count(*) over newest as n, count(*) filter (where not w.done) over newest as m
    from window_14d w
    window newest as (partition by w.person_id order by w.ends_on desc)
), standing as (
    select w.person_id,
           count(*) filter (where w.starts_on > coalesce(l.local_date, '-infinity'::date))::int as misses,
           (array_agg(not w.done order by w.ends_on desc))[1] as overdue,
           min(w.ends_on) as oldest_ends_on,
           -- Whether old slots leaving the window can bring the adherence rule to speak: only
           -- if some newest part of it, 4 slots or more, has more misses than check-ins.
           bool_or(w.n >= 4 and 2 * w.m > w.n) as at_risk
    from newest_first w left join last_checkin l on l.id = w.person_id
    group by w.person_id
)
insert into fresh_people (person_id, counselor_id, zone, today, since, slot_starts_on, slot_ends_on, slot_done,
                          last_checkin_at, last_checkin_on, consecutive_misses, overdue, fresh_until, visit_by)
select g.id, g.counselor_id, g.timezone, g.today, x.since, c.starts_on, c.ends_on, c.done, l.client_time,
       l.local_date,
       coalesce(s.misses, 0), coalesce(s.overdue, false),
       case when g.today is null then $1::timestamptz + interval '1 day'
            -- Overdue: local midnights after the current slot's last day (done, it clears
            -- "overdue"); when the next one starts; when the oldest slot in the 14-day
            -- window leaves it.
            when s.overdue then
                least(((c.ends_on + 1)::timestamp at time zone g.timezone),
                      (c.next_starts_on::timestamp at time zone g.timezone),
                      ((s.oldest_ends_on + 15)::timestamp at time zone g.timezone),
                      b.visit_by)
            -- Else a slot that ends done changes nothing anyone reads (no miss; adherence
            -- only rises; misses in a row stay 0): the end of the first slot not done (the
            -- check-in that fills it moves this on, by trigger), and when the oldest slot
            -- leaves the window if that can bring the adherence rule to speak.
            else least(((o.ends_on + 1)::timestamp at time zone g.timezone),
                       case when s.at_risk then (s.oldest_ends_on + 15)::timestamp at time zone g.timezone end,
                       b.visit_by)
       end,
       b.visit_by
from graduates g
join since x on x.id = g.id
-- In the second week, well before the slots ahead (three weeks) run out, on a day and at a
-- minute that differ per graduate: after a rebuild, everyone's next look is spread over a
-- week, and a zone's graduates are never all due at its midnight.
cross join lateral (select abs(hashtext(g.id::text)) as h) r
cross join lateral (select ((g.today + 7 + r.h % 7)::timestamp + (r.h / 7 % 1440) * interval '1 minute')
                               at time zone g.timezone as visit_by) b
left join current_slot c on c.id = g.id
left join last_checkin l on l.id = g.id
left join standing s on s.person_id = g.id
left join first_open o on o.person_id = g.id
"""
)

TEMP_TABLES = """
drop table if exists pg_temp.fresh_slots, pg_temp.fresh_people;
create temp table fresh_slots (
    person_id uuid not null, starts_on date not null, ends_on date not null, done boolean not null, zone text not null
) on commit drop;
create temp table fresh_people (
    person_id uuid primary key, counselor_id uuid, zone text, today date, since date, slot_starts_on date,
    slot_ends_on date,
    slot_done boolean, last_checkin_at timestamptz, last_checkin_on date, consecutive_misses integer not null,
    overdue boolean not null, fresh_until timestamptz not null, visit_by timestamptz
) on commit drop;
"""

# Who no longer counts (deactivated, never signed in): their state goes.
DROP_GONE = """
delete from engagement e where e.person_id = any($1::uuid[])
  and not exists (select from fresh_people f where f.person_id = e.person_id)
"""

# Only what changed is written, so the rollups' deltas are the real changes: of the slots
# worked out again (since `since`), those that differ; and those older than the month kept.
# (Named by $1 too: the planner cannot count a temporary table's rows, and joined to it alone
# it chose to read every graduate's slots, 0.8 s at a million, to delete a few thousand.)
DROP_CHANGED_SLOTS = (
    """
delete from engagement_slots s using fresh_people f
where s.person_id = any($1::uuid[]) and s.person_id = f.person_id
  and (s.ends_on < f.today - """
    + str(KEPT_DAYS)
    + """ or f.today is null
       or (s.ends_on >= f.since
           and not exists (select from fresh_slots n where n.person_id = s.person_id and n.starts_on = s.starts_on
                           and n.ends_on = s.ends_on and n.done = s.done and n.zone = s.zone)))
"""
)

# The rows worked out, over those kept; the alert columns (kept by the alerts' trigger) are
# counted again only where the state was stale or is new.
STORE = """
update engagement e
set counselor_id = f.counselor_id, zone = f.zone, today = f.today, slot_starts_on = f.slot_starts_on,
    slot_ends_on = f.slot_ends_on, slot_done = f.slot_done, last_checkin_at = f.last_checkin_at,
    last_checkin_on = f.last_checkin_on, consecutive_misses = f.consecutive_misses, overdue = f.overdue,
    open_alerts = case when f.since = '-infinity' then
        (select count(*) from alerts a where a.person_id = f.person_id and a.status <> 'resolved')
        else e.open_alerts end,
    top_severity = case when f.since = '-infinity' then
        (select max(severity) from alerts a where a.person_id = f.person_id and a.status <> 'resolved')
        else e.top_severity end,
    fresh_until = f.fresh_until, visit_by = f.visit_by,
    -- A visit by the sweep: next when this stops holding. A reader's: unchanged.
    visit_at = case when $1 then f.fresh_until else e.visit_at end
from fresh_people f
where e.person_id = f.person_id
"""
STORE_NEW = """
insert into engagement (person_id, counselor_id, zone, today, slot_starts_on, slot_ends_on, slot_done,
                        last_checkin_at, last_checkin_on, consecutive_misses, overdue, open_alerts,
                        top_severity, fresh_until, visit_by, visit_at)
select f.person_id, f.counselor_id, f.zone, f.today, f.slot_starts_on, f.slot_ends_on, f.slot_done,
       f.last_checkin_at, f.last_checkin_on, f.consecutive_misses, f.overdue, a.n, a.top,
       f.fresh_until, f.visit_by, case when $1 then f.fresh_until else '-infinity' end
from fresh_people f
cross join lateral (select count(*)::int as n, max(severity) as top from alerts a
                    where a.person_id = f.person_id and a.status <> 'resolved') a
where not exists (select from engagement e where e.person_id = f.person_id)
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


async def refresh(conn: asyncpg.Connection, now: dt.datetime, person_ids: list[UUID], visit: bool = False) -> int:
    """Work these graduates' state out at `now` (whole from history where an event made it
    stale; otherwise the slots that ended since), in the caller's transaction, which should
    hold them. `visit`: the sweep's (or a rebuild's) look, which sets when it looks next.
    Returns how many still count."""
    if not person_ids:
        return 0
    await conn.execute(TEMP_TABLES)
    await conn.execute(work_out(await _days_to_look_back(conn, now, person_ids)), now, person_ids)
    await conn.execute(DROP_GONE, person_ids)
    await conn.execute(DROP_CHANGED_SLOTS, person_ids)
    updated = await conn.execute(STORE, visit)
    inserted = await conn.execute(STORE_NEW, visit)
    await conn.execute(STORE_SLOTS)  # after the rows they belong to
    return int(updated.split()[-1]) + int(inserted.split()[-1])


async def _days_to_look_back(conn: asyncpg.Connection, now: dt.datetime, person_ids: list[UUID]) -> int:
    """The whole month kept if any of them is stale (or new); else back to the oldest date
    their state was worked out at, with a day either side for the zones' dates."""
    span: int = await conn.fetchval(
        """
        select case when count(*) < cardinality($1::uuid[]) or bool_or(fresh_until = '-infinity' or today is null)
                    then $3::int else $2::date - min(today) + 2 end
        from engagement where person_id = any($1::uuid[])
        """,
        person_ids,
        now.date(),
        KEPT_DAYS,
    )
    return max(1, min(KEPT_DAYS, span))


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
            await conn.execute("select pg_advisory_xact_lock($1)", SWEEP_LOCK_KEY)
            await conn.execute("set local jit = off; set local work_mem = '64MB'")
            await hold(conn, chunk)
            # Stale first: worked out whole from history, not from the slots kept.
            await conn.execute(
                "update engagement set fresh_until = '-infinity' where person_id = any($1::uuid[])", chunk
            )
            counted_people += await refresh(conn, now, chunk, visit=True)
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

# The deltas folded into the totals, and days no window reads any more dropped: by the
# sweep, under its lock. A fold is one statement (the rows it deletes are the rows it adds),
# so two at once, or a fold beside a reader's snapshot, count every delta once.
_FOLD = """
with moved as ({moved})
insert into engagement_totals as t (zone, day, due, done, checkins, graduates)
select zone, day, sum(due), sum(done), sum(checkins), sum(graduates) from moved group by zone, day order by zone, day
on conflict (zone, day) do update
    set due = t.due + excluded.due, done = t.done + excluded.done, checkins = t.checkins + excluded.checkins,
        graduates = t.graduates + excluded.graduates
"""
FOLD_DELTAS = _FOLD.format(moved="delete from engagement_deltas returning *")
# At most $1 of them, by a reader between two sweeps.
FOLD_SOME_DELTAS = _FOLD.format(
    moved="delete from engagement_deltas where ctid = any(array(select ctid from engagement_deltas limit $1))"
    " returning *"
)
DROP_OLD_TOTALS = "delete from engagement_totals where day < ($1::timestamptz at time zone 'UTC')::date - 60"
# What a reader folds at most per call: check-ins write a delta or two each, and in the
# evening's rush thousands arrive between two sweeps; summed on every read they would make
# the overview's cost follow them. Folded a slice at a time, no call waits long.
READER_FOLD = 20_000


async def fold_deltas(conn: asyncpg.Connection, now: dt.datetime) -> None:
    await conn.execute(FOLD_DELTAS)
    await conn.execute(DROP_OLD_TOTALS, now)


async def fold_some_deltas(conn: asyncpg.Connection, most: int = READER_FOLD) -> None:
    """Fold the deltas written since the last sweep, up to `most`, as a reader of the totals
    (the metrics) does first: the rows it then sums stay few."""
    await conn.execute(FOLD_SOME_DELTAS, most)
