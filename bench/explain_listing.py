"""EXPLAIN ANALYZE of the group listing (GET /v1/groups) over a seeded set of groups.

    python -m bench.explain_listing [--groups 10000] [--plans]

Creates a scratch database on DATABASE_URL's server (or the embedded one), migrates it,
seeds a program with that many groups (bench/seed.py), runs each typical listing query exactly as the API
builds it (db.groups.list_groups) under EXPLAIN ANALYZE, prints a table, and drops the
database. Exit code 1 if any plan reads the whole groups table (a sequential scan).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import time

import asyncpg

from bench.scratch import scratch_database
from bench.seed import seed_program
from db import groups as groups_db
from db import migrate

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


async def main(groups: int, show_plans: bool) -> int:
    async with scratch_database() as url:
        conn = await asyncpg.connect(url, command_timeout=3600)
        try:
            started = time.monotonic()
            await migrate.upgrade(conn)
            print(f"seeding {groups} groups (and {groups // 5} graduates)...", flush=True)
            await seed_program(conn, groups // 5, groups, lambda _: None)
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=10_000, help="how many groups to seed (default 10000)")
    parser.add_argument("--plans", action="store_true", help="print each full plan")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.groups, args.plans)))
