"""Time the missed-check-in sweep over a seeded population.

    python -m bench.sweep [--graduates 10000 100000] [--explain]

For each size: a scratch database on DATABASE_URL's server (or the embedded one), migrated,
seeded with set-based SQL (graduates at every stage of their plan, 30 days of history with
about 80% of check-ins made), then the sweep is run twice (the second finds nothing to do)
and timed, and so is the check-in reminder job at an hour when everyone is due one. Prints
a table; --explain adds EXPLAIN ANALYZE of the statements that work out the slots, record
misses and raise adherence alerts. The database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time

import asyncpg

from bench.scratch import database_server, scratch_database
from db import migrate
from db.sweep import ALERT_ADHERENCE, RECORD_MISSED, SWEEP_SLOTS, SWEEP_SLOTS_TABLE, sweep
from notifications.reminders import checkin_reminders

SEED = """
select setseed(0.7);
insert into people (id, roles, name, timezone)
select gen_random_uuid(), array['participant'], 'G' || n,
       (array['America/Chicago', 'America/New_York', 'America/Denver', 'America/Los_Angeles'])[1 + n % 4]
from generate_series(1, {n}) as n;
insert into participant_profiles (person_id, iop_completed_on, activated_at)
select id, current_date - 30 - (random() * 330)::int, now() - interval '30 days' from people;
-- 30 days of history: about four in five days have a check-in.
insert into checkins (person_id, client_id, client_time, local_date, mood, craving, used, sleep, need_support)
select p.id, gen_random_uuid(), d + interval '19 hours', d::date, 3 + (random() * 2)::int, (random() * 6)::int,
       false, 3, 'no'
from people p cross join generate_series(current_date - 30, current_date - 1, interval '1 day') as d
where random() < 0.8
-- In index order: the person-first indexes then fill page by page instead of at random
-- (a million graduates seed in minutes rather than most of an hour).
order by p.id, d;
"""

# As autovacuum would leave a table that has settled (it may be off on a test server): the
# visibility map lets index-only scans skip the table.
SETTLE = "vacuum (analyze) people, participant_profiles, checkins"


async def run(size: int, server: str, explain: bool) -> dict:
    async with scratch_database(server) as url:
        conn = await asyncpg.connect(url, command_timeout=3600)
        try:
            await migrate.upgrade(conn)
            print(f"  seeding {size:,} graduates with 30 days of history...", flush=True)
            started = time.monotonic()
            await conn.execute("set synchronous_commit = off")  # a scratch database: no need to wait for the disk
            await conn.execute(SEED.replace("{n}", str(size)))
            await conn.execute(SETTLE)
            seeded = time.monotonic() - started
            print(f"  seeded in {seeded:.0f} s", flush=True)
            checkins = await conn.fetchval("select count(*) from checkins")
            now = dt.datetime.now(dt.UTC)
            if explain:
                await conn.execute("begin")
                await conn.execute("set local jit = off; set local work_mem = '64MB'")  # as the sweep runs
                await conn.execute(SWEEP_SLOTS_TABLE)
                for statement, args in ((SWEEP_SLOTS, (now, 7)), (RECORD_MISSED, (now,)), (ALERT_ADHERENCE, (now,))):
                    rows = await conn.fetch("explain (analyze, buffers) " + statement, *args)
                    print("\n".join("    " + r[0] for r in rows))
                await conn.execute("rollback")
            started = time.monotonic()
            first = await sweep(conn, now)
            first_s = time.monotonic() - started
            started = time.monotonic()
            second = await sweep(conn, now)
            second_s = time.monotonic() - started
            # The worker writes check-in reminders every minute; at 23:00 UTC every seeded
            # zone (UTC-5..-8) is past 18:00 local, so each graduate is considered.
            evening = dt.datetime.combine(now.date(), dt.time(23), tzinfo=dt.UTC)
            started = time.monotonic()
            reminded = await checkin_reminders(conn, evening)
            remind_s = time.monotonic() - started
            started = time.monotonic()
            await checkin_reminders(conn, evening)
            remind_again_s = time.monotonic() - started
            return {
                "graduates": size,
                "checkins": checkins,
                "seed_s": seeded,
                "sweep_s": first_s,
                "again_s": second_s,
                **first,
                "again_missed": second["missed_recorded"],
                "reminded": reminded,
                "remind_s": remind_s,
                "remind_again_s": remind_again_s,
            }
        finally:
            await conn.close()


async def main(sizes: list[int], explain: bool) -> int:
    server = database_server()
    results = []
    for size in sizes:
        print(f"{size} graduates:", flush=True)
        results.append(await run(size, server, explain))
    print(
        f"\n{'graduates':>10} {'check-ins':>10} {'sweep s':>8} {'again s':>8} {'missed':>8} {'alerted':>8} {'low adh.':>8}"
        f" {'remind s':>9} {'again s':>8} {'reminded':>9}"
    )
    for r in results:
        print(
            f"{r['graduates']:>10} {r['checkins']:>10} {r['sweep_s']:>8.2f} {r['again_s']:>8.2f} "
            f"{r['missed_recorded']:>8} {r['misses_alerted']:>8} {r['adherence_alerts']:>8}"
            f" {r['remind_s']:>9.2f} {r['remind_again_s']:>8.2f} {r['reminded']:>9}"
        )
    ok = all(r["again_missed"] == 0 for r in results)
    print(f"\n{len(results)} sizes swept; second runs recorded {'nothing' if ok else 'something (a bug)'}.")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graduates", type=int, nargs="+", default=[10_000, 100_000], help="population sizes")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the main statement")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.graduates, args.explain)))
