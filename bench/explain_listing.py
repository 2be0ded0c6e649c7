"""EXPLAIN ANALYZE of the group listing (GET /v1/groups) over a seeded set of groups.

    python -m bench.explain_listing [--groups 10000] [--plans]

Creates a scratch database on DATABASE_URL's server (or the embedded one), migrates it,
seeds the groups with set-based SQL, runs each typical listing query exactly as the API
builds it (db.groups.list_groups) under EXPLAIN ANALYZE, prints a table, and drops the
database. Exit code 1 if any plan reads the whole groups table (a sequential scan).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from db import groups as groups_db
from db import migrate

SEED = """
select setseed(0.42);
insert into groups (slug, name, description, topics, format, timezone, address, latitude, longitude,
                    conference_url, capacity, member_count, is_public)
select 'bench-' || n,
       (array['Serenity', 'Hope', 'New Day', 'Recovery', 'Open Door', 'Tuesday', 'Lakeside', 'Harbor'])[1 + n % 8]
           || ' group ' || n,
       (array['relapse prevention and support', 'mindfulness and meditation', 'family and friends',
              'young adults after treatment', 'women in recovery', 'dual diagnosis peer support'])[1 + n % 6],
       string_to_array((array['relapse_prevention', 'women', 'men,dual_diagnosis', 'lgbtq',
                              'young_adults,newcomers', 'family'])[1 + n % 6], ','),
       (array['in_person', 'in_person', 'online', 'hybrid'])[1 + n % 4],
       (array['America/Chicago', 'America/New_York', 'America/Denver', 'America/Los_Angeles'])[1 + n % 4],
       n || ' Main St',
       25 + random() * 23, -124 + random() * 57,      -- across the lower 48
       'https://meet.example/' || n,
       case when n % 3 = 0 then null else 8 + n % 20 end,
       0, true
from generate_series(1, {n}) as n;
update groups set member_count = least(capacity, (random() * 30)::int) where capacity is not null;
update groups set member_count = (random() * 30)::int where capacity is null;
insert into group_schedule (group_id, slot, weekday, starts, ends)
select id, 1, 1 + (abs(hashtext(id::text)) % 7), make_time(7 + abs(hashtext(slug)) % 13, 0, 0),
       make_time(8 + abs(hashtext(slug)) % 13, 0, 0)
from groups;
insert into group_schedule (group_id, slot, weekday, starts, ends)
select id, 2, 1 + ((abs(hashtext(id::text)) + 3) % 7), time '19:00', time '20:00'
from groups where abs(hashtext(slug)) % 2 = 0
on conflict do nothing;
insert into people (roles, name, timezone)
select array['participant'], 'Graduate ' || n, 'America/Chicago' from generate_series(1, {n} / 5) as n;
insert into group_members (group_id, person_id, status)
select g.id, p.id, 'member'
from (select id, row_number() over (order by id) as r from groups) g
join (select id, row_number() over (order by id) as r from people) p on p.r % 50 = g.r % 50
where random() < 0.05
on conflict do nothing;
insert into group_facilitators (group_id, person_id)
select g.id, p.id from groups g
join lateral (select id from people order by id offset (abs(hashtext(g.slug)) % 100) limit 1) p on true;
analyze;
"""

SCENARIOS = {
    "first page, by name": {},
    "weekday + evening + topic": {
        "weekdays": [2, 4],
        "start_between": (dt.time(17), dt.time(23, 59)),
        "topics": ["women"],
    },
    "in person, open seats": {"formats": ["in_person"], "open_seats": True},
    "near Chicago, 50 km": {"near": (41.88, -87.63), "radius_km": 50.0},
    "near Chicago, 500 km": {"near": (41.88, -87.63), "radius_km": 500.0},
    "free text 'meditation'": {"text": "meditation"},
}
DEFAULTS = {
    "weekdays": None,
    "start_between": None,
    "formats": None,
    "topics": None,
    "near": None,
    "radius_km": None,
    "open_seats": False,
    "text": None,
    "after": None,
    "limit": 21,
}


class Explaining:
    """Stands in for a connection: runs the query it is given under EXPLAIN ANALYZE."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.plan: dict = {}
        self.text = ""

    async def fetch(self, query: str, *args):
        [row] = await self.conn.fetch("explain (analyze, buffers, format json) " + query, *args)
        self.plan = json.loads(row[0])[0]
        rows = await self.conn.fetch("explain (analyze, costs off) " + query, *args)
        self.text = "\n".join(r[0] for r in rows)
        return []


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _scratch_url(server: str, name: str) -> str:
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


async def main(groups: int, show_plans: bool) -> int:
    server = os.environ.get("DATABASE_URL")
    if not server:
        from db.embedded import start_embedded

        server = start_embedded(Path(".aftercare/bench-pgdata"))
    name = f"aftercare_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'create database "{name}"')
    try:
        conn = await asyncpg.connect(_scratch_url(server, name))
        try:
            started = time.monotonic()
            await migrate.upgrade(conn)
            print(f"seeding {groups} groups...", flush=True)
            await conn.execute(SEED.replace("{n}", str(groups)))
            count = await conn.fetchval("select count(*) from groups")
            slots = await conn.fetchval("select count(*) from group_schedule")
            members = await conn.fetchval("select count(*) from group_members")
            viewer = await conn.fetchval("select person_id from group_members limit 1")
            print(
                f"seeded {count} groups, {slots} schedule slots, {members} memberships "
                f"in {time.monotonic() - started:.1f}s\n"
            )
            explaining = Explaining(conn)
            failures = 0
            print(f"{'scenario':<30} {'ms':>8} {'rows':>5}  {'seq scan on groups':<18} top plan node")
            for label, filters in SCENARIOS.items():
                await groups_db.list_groups(explaining, viewer_id=viewer, **(DEFAULTS | filters))
                plan = explaining.plan["Plan"]
                seq = any(n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "groups" for n in _nodes(plan))
                failures += seq
                print(
                    f"{label:<30} {explaining.plan['Execution Time']:>8.2f} {plan['Actual Rows']:>5}  "
                    f"{'YES' if seq else 'no':<18} {plan['Node Type']}"
                )
                if show_plans:
                    print(explaining.text + "\n")
            print(f"\n{len(SCENARIOS)} listing queries explained; {failures} read the whole groups table.")
            return 1 if failures else 0
        finally:
            await conn.close()
    finally:
        await admin.execute(f'drop database if exists "{name}" with (force)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=10_000, help="how many groups to seed (default 10000)")
    parser.add_argument("--plans", action="store_true", help="print each full plan")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.groups, args.plans)))
