"""A realistic program at a chosen scale, seeded with set-based SQL into a scratch database.

Graduates at every stage of their plan with 30 days of history (about four days in five
checked in), a device and a signed-in session each; groups with weekly schedules,
facilitators, members, next week's sessions and RSVPs; an inbox of notifications; one
counselor (staff) for everybody; the sweep's misses and alerts, and open check-in alerts
for a share of graduates. `bench_logins` numbers the graduates' sessions so that the load
generator and pgbench can pick a random signed-in graduate.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from db.sweep import sweep

ZONES = "array['America/Chicago', 'America/New_York', 'America/Denver', 'America/Los_Angeles']"

GRADUATES = f"""
insert into people (id, roles, name, timezone)
select gen_random_uuid(), array['participant'], 'G' || n, ({ZONES})[1 + n % 4]
from generate_series($1::int, $2::int) as n;
"""

NEW_GRADUATES = """
create temp table new_graduates on commit drop as
select id, (substr(name, 2))::int as n from people
where name ~ '^G[0-9]+$' and (substr(name, 2))::int between $1 and $2
"""

# Statements run in order after NEW_GRADUATES, over its rows; {counselor} is the counselor's id.
GRADUATE_DETAILS = [
    """
    insert into participant_profiles (person_id, iop_completed_on, activated_at, counselor_id, sobriety_date)
    select id, current_date - 30 - (random() * 330)::int, now() - interval '30 days', '{counselor}'::uuid,
           current_date - 60 - (random() * 300)::int
    from new_graduates
    """,
    """
    insert into checkins (person_id, client_id, client_time, local_date, mood, craving, used, sleep, need_support)
    select g.id, gen_random_uuid(), d + interval '19 hours', d::date, 3 + (random() * 2)::int,
           (random() * 6)::int, false, 3, 'no'
    from new_graduates g cross join generate_series(current_date - 30, current_date - 1, interval '1 day') as d
    where random() < 0.8
    order by g.id, d  -- index order: the person-first indexes fill page by page, not at random
    """,
    """
    insert into bench_logins (n, person_id, session_id)
    select g.n, g.id, gen_random_uuid() from new_graduates g
    """,
    """
    insert into auth_sessions (id, person_id, method)
    select l.session_id, l.person_id, 'activation' from bench_logins l join new_graduates using (n)
    """,
    """
    insert into devices (person_id, session_id, token, platform)
    select l.person_id, l.session_id, 'bench-' || l.session_id, (array['ios', 'android'])[1 + l.n % 2]
    from bench_logins l join new_graduates using (n)
    """,
    # A few messages in each inbox, already pushed.
    """
    insert into notifications (person_id, kind, title, body, push_title, push_body, data, push_state, created_at)
    select g.id, 'staff_message', 'A note from your counselor', 'Thinking of you this week.',
           'New message', 'Open the app to read it.', '{"kind": "staff_message"}', 'sent',
           now() - k * interval '2 days'
    from new_graduates g cross join generate_series(1, 5) as k
    """,
    # Each graduate in one or two groups (spread evenly, no per-row lookups).
    """
    insert into group_members (group_id, person_id, status)
    select g.id, m.id, 'member'
    from new_graduates m
    join lateral (values (m.n::bigint * 7919), (m.n::bigint * 104729)) as pick (k)
      on m.n % 3 <> 0 or pick.k = m.n::bigint * 7919
    join bench_groups g on g.r = 1 + pick.k % (select count(*) from bench_groups)
    on conflict do nothing
    """,
]

GROUPS = """
insert into groups (slug, name, description, topics, format, timezone, address, latitude, longitude,
                    conference_url, capacity, is_public)
select 'bench-' || n,
       (array['Serenity', 'Hope', 'New Day', 'Recovery', 'Open Door', 'Tuesday', 'Lakeside', 'Harbor'])[1 + n % 8]
           || ' group ' || n,
       (array['relapse prevention and support', 'mindfulness and meditation', 'family and friends',
              'young adults after treatment', 'women in recovery', 'dual diagnosis peer support'])[1 + n % 6],
       string_to_array((array['relapse_prevention', 'women', 'men,dual_diagnosis', 'lgbtq',
                              'young_adults,newcomers', 'family'])[1 + n % 6], ','),
       (array['in_person', 'in_person', 'online', 'hybrid'])[1 + n % 4],
       ({zones})[1 + n % 4],
       case when n % 4 = 2 then null else n || ' Main St' end,
       case when n % 4 = 2 then null else 25 + random() * 23 end,     -- across the lower 48
       case when n % 4 = 2 then null else -124 + random() * 57 end,
       case when n % 4 in (2, 3) then 'https://meet.example/' || n end,
       null, true
from generate_series(1, $1::int) as n;
""".replace("{zones}", ZONES)

GROUP_DETAILS = [
    """
    insert into group_schedule (group_id, slot, weekday, starts, ends)
    select id, 1, 1 + (abs(hashtext(id::text)) % 7), make_time(7 + abs(hashtext(slug)) % 13, 0, 0),
           make_time(8 + abs(hashtext(slug)) % 13, 0, 0)
    from groups
    """,
    """
    insert into group_schedule (group_id, slot, weekday, starts, ends)
    select id, 2, 1 + ((abs(hashtext(id::text)) + 3) % 7), time '19:00', time '20:00'
    from groups where abs(hashtext(slug)) % 2 = 0
    on conflict do nothing
    """,
    """
    insert into people (roles, name, timezone)
    select array['facilitator'], 'Facilitator ' || n, 'America/Chicago' from generate_series(1, greatest(1, $1::int / 20)) as n
    """,
    """
    insert into group_facilitators (group_id, person_id)
    select g.id, f.id
    from (select id, row_number() over (order by id) as r from groups) g
    join (select id, row_number() over (order by id) as r from people where roles = array['facilitator']) f
      on f.r = 1 + g.r % greatest(1, $1::int / 20)
    """,
    """
    create table bench_groups as select id, row_number() over (order by id) as r from groups
    """,
]

# After memberships: most groups get a capacity near their size, so "open seats" means something.
SESSIONS_AND_CAPACITY = [
    "update groups set capacity = greatest(1, member_count + abs(hashtext(slug)) % 4) where abs(hashtext(slug)) % 3 <> 0",
    """
    insert into group_sessions (id, group_id, local_date, slot, starts_at, ends_at)
    select g.id || '.' || d::date || '.' || s.slot, g.id, d::date, s.slot,
           (d::date + s.starts) at time zone g.timezone, (d::date + s.ends) at time zone g.timezone
    from groups g join group_schedule s on s.group_id = g.id
    cross join generate_series(current_date, current_date + 6, interval '1 day') as d
    where extract(isodow from d) = s.weekday and g.member_count > 0
    on conflict do nothing
    """,
    """
    insert into session_rsvps (session_id, person_id, status)
    select gs.id, m.person_id, case when random() < 0.8 then 'going' else 'not_going' end
    from group_sessions gs join group_members m on m.group_id = gs.group_id and m.status = 'member'
    where random() < 0.5
    on conflict do nothing
    """,
]


@dataclass(frozen=True)
class Program:
    graduates: int
    groups: int
    counselor_id: UUID
    counselor_session_id: UUID


Progress = Callable[[str], None]


async def _timed(progress: Progress, what: str, work) -> None:
    started = time.monotonic()
    progress(f"  {what}...")
    await work
    progress(f"  {what}: {time.monotonic() - started:.1f} s")


async def seed_program(conn: asyncpg.Connection, graduates: int, groups: int, progress: Progress) -> Program:
    """A fresh (migrated, empty) database filled with `graduates` and `groups`."""
    await conn.execute(
        "create table bench_logins (n int primary key, person_id uuid not null, session_id uuid not null)"
    )
    counselor = await conn.fetchval(
        "insert into people (roles, name, timezone, email) values ('{staff}', 'Bench Counselor', "
        "'America/Chicago', 'bench-counselor@example.org') returning id"
    )
    session = await conn.fetchval(
        "insert into auth_sessions (person_id, method) values ($1, 'password') returning id", counselor
    )
    await conn.execute("select setseed(0.7)")
    await conn.execute("set synchronous_commit = off")  # a scratch database: no need to wait for the disk

    async def make_groups() -> None:
        await conn.execute(GROUPS, groups)
        for statement in GROUP_DETAILS:
            await conn.execute(statement, groups) if "$1" in statement else await conn.execute(statement)

    await _timed(progress, f"{groups:,} groups with schedules and facilitators", make_groups())
    program = Program(0, groups, counselor, session)
    return await add_graduates(conn, program, graduates, progress)


async def add_graduates(conn: asyncpg.Connection, program: Program, count: int, progress: Progress) -> Program:
    """`count` more graduates (with everything they have), then next week's sessions, the
    sweep, and open alerts for about one in five of the new graduates."""
    first, last = program.graduates + 1, program.graduates + count

    async def make() -> None:
        async with conn.transaction():
            await conn.execute(GRADUATES, first, last)
            await conn.execute(NEW_GRADUATES, first, last)
            for statement in GRADUATE_DETAILS:
                await conn.execute(statement.replace("{counselor}", str(program.counselor_id)))

    await _timed(progress, f"{count:,} graduates with 30 days of check-ins, devices, inboxes, groups", make())

    async def sessions() -> None:
        await conn.execute("delete from session_rsvps")
        await conn.execute("delete from group_sessions")
        await conn.execute("update groups set capacity = null")
        for statement in SESSIONS_AND_CAPACITY:
            await conn.execute(statement)
        await conn.execute("analyze")

    await _timed(progress, "next week's sessions, RSVPs and capacities", sessions())
    await _timed(progress, "the sweep (misses and alerts)", sweep(conn, dt.datetime.now(dt.UTC)))

    async def alerts() -> None:
        await conn.execute(
            """
            insert into alerts (person_id, kind, severity, reasons)
            select l.person_id, 'checkin_risk', 1 + (random() * 3)::int,
                   '[{"code": "bench", "message": "Seeded for the benchmark."}]'::jsonb
            from bench_logins l where l.n between $1 and $2 and random() < 0.2
            on conflict do nothing
            """,
            first,
            last,
        )
        # As autovacuum would leave tables that have settled (it may be off on a test server):
        # index-only scans need the visibility map.
        await conn.execute("vacuum (analyze)")

    await _timed(progress, "open alerts for one in five, vacuum", alerts())
    return Program(last, program.groups, program.counselor_id, program.counselor_session_id)
