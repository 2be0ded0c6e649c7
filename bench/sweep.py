"""Time the missed-check-in sweep over a seeded population.

    python -m bench.sweep [--graduates 10000 100000] [--explain]

For each size: a scratch database on DATABASE_URL's server (or the embedded one), migrated,
seeded with set-based SQL (graduates at every stage of their plan in four US zones, 30 days
of history with about 80% of check-ins made) up to a Saturday. Then the sweep, timed, as it
meets the state:
  first     everyone's state worked out from history (as after the migration, or a rebuild),
            on Saturday
  again     at once, the same "now": nobody is due
then the weekend's check-ins arrive through the API's path (the check-in trigger, about four
in five graduates a day), each graduate's next look "before the slots ahead run out" is
spread over the next ten days as it is once the program has run a while (after a first
sweep they all fall in its second week), and:
  10 min    as the worker runs it, the 10 minutes after Monday's midnight in New York: the
            graduates of that zone, whose weekly slots all ended then (the busiest interval)
  1 day     a catch-up of the day that holds every zone's Monday midnight, as after a day
            with the worker stopped: nearly everyone's slot ended in it
and the check-in reminder job at an hour past every graduate's reminder time (those whose
slot is done get none). Prints a table; --explain
adds EXPLAIN ANALYZE of the statement that works the due graduates' state out. The database
is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from zoneinfo import ZoneInfo

import asyncpg

from bench.scratch import database_server, scratch_database
from db import engagement, migrate
from db.sweep import DUE, sweep
from notifications.reminders import checkin_reminders

SEED = """
select setseed(0.7);
insert into people (id, roles, name, timezone)
select gen_random_uuid(), array['participant'], 'G' || n,
       (array['America/Chicago', 'America/New_York', 'America/Denver', 'America/Los_Angeles'])[1 + n % 4]
from generate_series(1, {n}) as n;
insert into participant_profiles (person_id, iop_completed_on, activated_at)
select id, '{today}'::date - 30 - (random() * 330)::int, '{today}'::date - interval '30 days' from people;
-- 30 days of history: about four in five days have a check-in.
insert into checkins (person_id, client_id, client_time, local_date, mood, craving, used, sleep, need_support)
select p.id, gen_random_uuid(), d + interval '19 hours', d::date, 3 + (random() * 2)::int, (random() * 6)::int,
       false, 3, 'no'
from people p cross join generate_series('{today}'::date - 30, '{today}'::date - 1, interval '1 day') as d
where random() < 0.8
-- In index order: the person-first indexes then fill page by page instead of at random
-- (a million graduates seed in minutes rather than most of an hour).
order by p.id, d;
"""

# A day's check-ins as the app sends them: one statement, so the check-in trigger runs on
# them as a set (the API stores one per transaction; the trigger does the same work).
DAY_OF_CHECKINS = """
insert into checkins (person_id, client_id, client_time, local_date, mood, craving, used, sleep, need_support)
select p.id, gen_random_uuid(), $1::date + interval '19 hours', $1::date, 3, 1, false, 3, 'no'
from people p where random() < 0.8 order by p.id
"""

# Once the program has run a while, graduates' last visits lie anywhere in the past week or
# two, so the visits "before the slots ahead run out" fall on any day: spread over the next
# ten days here (after the first sweep they would all fall in its second week).
STEADY_VISITS = """
update engagement set visit_by = $1::timestamptz + (abs(hashtext(person_id::text)) % 14400) * interval '1 minute',
                      visit_at = least(visit_at, $1::timestamptz
                                       + (abs(hashtext(person_id::text)) % 14400) * interval '1 minute')
"""

# As autovacuum would leave a table that has settled (it may be off on a test server): the
# visibility map lets index-only scans skip the table.
SETTLE = "vacuum (analyze) people, participant_profiles, checkins"
SWEPT = "engagement, engagement_slots, missed_checkins, alerts"


async def run(size: int, server: str, explain: bool) -> dict:
    # Weekly and three-a-week slots end on Sundays: Monday's local midnights are the busiest
    # of the week. The history runs up to the Saturday before.
    new_york = _next_monday_midnight(dt.datetime.now(dt.UTC) + dt.timedelta(days=1), "America/New_York")
    los_angeles = new_york + dt.timedelta(hours=3)
    now = new_york - dt.timedelta(days=2)  # Saturday 00:00 in New York
    async with scratch_database(server) as url:
        conn = await asyncpg.connect(url, command_timeout=3600)
        try:
            await migrate.upgrade(conn)
            print(f"  seeding {size:,} graduates with 30 days of history...", flush=True)
            started = time.monotonic()
            await conn.execute("set synchronous_commit = off")  # a scratch database: no need to wait for the disk
            await conn.execute(SEED.replace("{n}", str(size)).replace("{today}", str(now.date())))
            await conn.execute(SETTLE)
            seeded = time.monotonic() - started
            print(f"  seeded in {seeded:.0f} s", flush=True)
            checkins = await conn.fetchval("select count(*) from checkins")
            runs = {}
            started = time.monotonic()
            first = await sweep(conn, now)
            runs["first"] = (time.monotonic() - started, first)
            started = time.monotonic()
            second = await sweep(conn, now)
            runs["again"] = (time.monotonic() - started, second)
            started = time.monotonic()
            weekend = 0
            for day in (now.date(), now.date() + dt.timedelta(days=1)):
                weekend += int((await conn.execute(DAY_OF_CHECKINS, day)).split()[-1])
            weekend_s = time.monotonic() - started
            print(f"  the weekend's {weekend:,} check-ins through the trigger in {weekend_s:.1f} s", flush=True)
            await conn.execute(STEADY_VISITS, now)
            await conn.execute(SETTLE.replace("people, participant_profiles, checkins", SWEPT))
            # The worker writes check-in reminders every minute; at 23:00 UTC every seeded
            # zone (UTC-5..-8) is past 18:00 local, so each graduate is considered.
            evening = dt.datetime.combine(now.date(), dt.time(23), tzinfo=dt.UTC)
            started = time.monotonic()
            reminded = await checkin_reminders(conn, evening)
            remind_s = time.monotonic() - started
            started = time.monotonic()
            await checkin_reminders(conn, evening)
            remind_again_s = time.monotonic() - started
            # Each run starts from the state just before its window, swept there untimed and
            # committed, then vacuumed as autovacuum keeps a running worker's tables (left in
            # the timed transaction, the way there's dead rows made the run read 200,000 index
            # entries to find its 4,000); the timed run is rolled back after. In time order.
            windows = {
                "1 day": (los_angeles + dt.timedelta(minutes=10, days=-1), los_angeles + dt.timedelta(minutes=10)),
                "10 min": (new_york - dt.timedelta(seconds=1), new_york + dt.timedelta(minutes=10)),
            }
            for name, (before, at) in windows.items():
                await sweep(conn, before)
                await conn.execute(SETTLE.replace("people, participant_profiles, checkins", SWEPT))
                transaction = conn.transaction()
                await transaction.start()
                try:
                    if explain:
                        await _explain(conn, at)
                    started = time.monotonic()
                    counts = await sweep(conn, at)
                    runs[name] = (time.monotonic() - started, counts)
                finally:
                    await transaction.rollback()
            return {
                "graduates": size,
                "checkins": checkins,
                "seed_s": seeded,
                "weekend": weekend,
                "weekend_s": weekend_s,
                "runs": runs,
                "reminded": reminded,
                "remind_s": remind_s,
                "remind_again_s": remind_again_s,
            }
        finally:
            await conn.close()


def _next_monday_midnight(after: dt.datetime, zone: str) -> dt.datetime:
    local = after.astimezone(ZoneInfo(zone)).date()
    monday = local + dt.timedelta(days=7 - local.weekday())
    return dt.datetime.combine(monday, dt.time(), tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)


async def _explain(conn: asyncpg.Connection, at: dt.datetime) -> None:
    """EXPLAIN ANALYZE of working out the state of those due at `at` (rolled back after)."""
    due = [row["person_id"] for row in await conn.fetch(DUE, at, 10**9)]
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute("set local jit = off; set local work_mem = '64MB'")  # as the sweep runs
        await conn.execute(engagement.TEMP_TABLES)
        rows = await conn.fetch("explain (analyze, buffers) " + engagement.work_out(engagement.KEPT_DAYS), at, due)
        print("\n".join("    " + r[0] for r in rows))
    finally:
        await transaction.rollback()


async def main(sizes: list[int], explain: bool) -> int:
    server = database_server()
    results = []
    for size in sizes:
        print(f"{size} graduates:", flush=True)
        results.append(await run(size, server, explain))
    print(
        f"\n{'graduates':>10} {'check-ins':>11} {'sweep':>7} {'visited':>9} {'seconds':>8} {'missed':>8} "
        f"{'alerted':>8} {'low adh.':>8}"
    )
    for r in results:
        for name, (seconds, counts) in r["runs"].items():
            print(
                f"{r['graduates']:>10,} {r['checkins']:>11,} {name:>7} {counts['graduates_visited']:>9,} "
                f"{seconds:>8.2f} {counts['missed_recorded']:>8,} {counts['misses_alerted']:>8,} "
                f"{counts['adherence_alerts']:>8,}"
            )
    print(f"\n{'graduates':>10} {'remind s':>9} {'again s':>8} {'reminded':>9}")
    for r in results:
        print(f"{r['graduates']:>10,} {r['remind_s']:>9.2f} {r['remind_again_s']:>8.2f} {r['reminded']:>9,}")
    print(f"\n{'graduates':>10} {'weekend check-ins':>18} {'through the trigger s':>22}")
    for r in results:
        print(f"{r['graduates']:>10,} {r['weekend']:>18,} {r['weekend_s']:>22.2f}")
    ok = all(r["runs"]["again"][1]["graduates_visited"] == 0 for r in results)
    visited = "nobody" if ok else "someone (a bug)"
    print(f"\n{len(results)} sizes swept; the second run at the same moment visited {visited}.")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graduates", type=int, nargs="+", default=[10_000, 100_000], help="population sizes")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the main statement")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.graduates, args.explain)))
